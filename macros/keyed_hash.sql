{#-
    keyed_hash(expr): HMAC-SHA256 of a text value, as 64 lowercase hex characters.

    HMAC(K, m) = SHA256((K xor opad) || SHA256((K xor ipad) || m)). The two 64-byte padded keys
    are derived from the secret by `subjectdb build` and passed as hex in the vars
    hmac_ipad_hex / hmac_opad_hex (env SUBJECTDB_HMAC_IPAD / SUBJECTDB_HMAC_OPAD), so the secret
    itself never reaches the project, and the hash runs vectorised inside the database.
    NULL in, NULL out. Fails the compilation when the key vars are missing or malformed.
    Models that call it must be tables, not views: a view would store the pads in its SQL.
-#}
{% macro hmac_pads() -%}
    {#- dbt parse renders models without executing them: no key needed to parse -#}
    {%- if not execute -%}
        {{ return({'ipad': '00' * 64, 'opad': '00' * 64}) }}
    {%- endif -%}
    {%- set ipad = var('hmac_ipad_hex', '') | string | trim | lower -%}
    {%- set opad = var('hmac_opad_hex', '') | string | trim | lower -%}
    {%- for name, value in [('hmac_ipad_hex', ipad), ('hmac_opad_hex', opad)] -%}
        {%- if value | length != 128 or (modules.re.fullmatch('[0-9a-f]{128}', value) is none) -%}
            {{ exceptions.raise_compiler_error(
                "keyed_hash: var '" ~ name ~ "' must be 128 hex characters (a 64-byte HMAC pad); "
                ~ "got " ~ (value | length) ~ " characters. Run the build through `subjectdb build`, "
                ~ "which sets SUBJECTDB_HMAC_IPAD / SUBJECTDB_HMAC_OPAD from the secret key."
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'ipad': ipad, 'opad': opad}) }}
{%- endmacro %}

{% macro keyed_hash(expr) -%}
    {{ return(adapter.dispatch('keyed_hash')(expr)) }}
{%- endmacro %}

{% macro duckdb__keyed_hash(expr) -%}
    {%- set pads = hmac_pads() -%}
    sha256(
        unhex('{{ pads.opad }}')
        || unhex(sha256(unhex('{{ pads.ipad }}') || encode(cast({{ expr }} as varchar))))
    )
{%- endmacro %}

{#- Spark, Databricks and other engines with sha2/unhex (binary concat) -#}
{% macro default__keyed_hash(expr) -%}
    {%- set pads = hmac_pads() -%}
    lower(sha2(
        concat(
            unhex('{{ pads.opad }}'),
            unhex(sha2(concat(unhex('{{ pads.ipad }}'), cast(cast({{ expr }} as string) as binary)), 256))
        ),
        256
    ))
{%- endmacro %}
