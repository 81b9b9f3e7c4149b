{#-
    keyed_hash(expr): HMAC-SHA256 of a text value, as 64 lowercase hex characters.

    HMAC(K, m) = SHA256((K xor opad) || SHA256((K xor ipad) || m)). The two 64-byte padded keys
    come from two zero-argument functions of the connection, subjectdb_hmac_ipad() and
    subjectdb_hmac_opad() (BLOB), which the dbt-duckdb plugin subjectdb.warehouse.dbt_plugin
    (profiles.yml) registers; they read the pads from dbt's environment when the query runs,
    so no key material is ever compiled into SQL, the manifest, run results or logs. DuckDB
    folds the calls to constants once per query: the hash runs vectorised inside the database.
    NULL in, NULL out. A query fails (naming the variable, never a value) when the pads are
    missing from dbt's environment: run dbt through `subjectdb build`.
    Models that call it must be tables, not views: a view could not be read without the
    functions.
-#}
{% macro keyed_hash(expr) -%}
    {{ return(adapter.dispatch('keyed_hash')(expr)) }}
{%- endmacro %}

{% macro duckdb__keyed_hash(expr) -%}
    sha256(
        subjectdb_hmac_opad()
        || unhex(sha256(subjectdb_hmac_ipad() || encode(cast({{ expr }} as varchar))))
    )
{%- endmacro %}

{#- Spark, Databricks and other engines with sha2/unhex (binary concat): the session must
    provide subjectdb_hmac_ipad() / subjectdb_hmac_opad() returning the pads as binary (e.g. a
    UDF reading a secret scope), never literals in the SQL -#}
{% macro default__keyed_hash(expr) -%}
    lower(sha2(
        concat(
            subjectdb_hmac_opad(),
            unhex(sha2(concat(subjectdb_hmac_ipad(), cast(cast({{ expr }} as string) as binary)), 256))
        ),
        256
    ))
{%- endmacro %}
