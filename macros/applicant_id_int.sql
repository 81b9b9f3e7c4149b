{#-
    applicant_id_int(key): a compact BIGINT applicant id derived from the keyed hash.

    `key` is the 64-hex-character HMAC-SHA256 `applicant_key`; the id is its first 15 hex
    digits (60 bits) read as a non-negative integer. Deterministic and independent of the build
    (no numbering state, the same applicant gets the same id in every build and every batch),
    and counting distinct BIGINTs is several times faster than counting distinct 64-character
    strings. Two different applicants share an id only if their HMACs agree in the first 60
    bits: among n applicants the probability of any such collision is about n² / 2^61
    (≈ 4e-5 for 10 million applicants), and a collision lowers a distinct count by one.
    NULL in, NULL out.
-#}
{% macro applicant_id_int(key) -%}
    {{ return(adapter.dispatch('applicant_id_int')(key)) }}
{%- endmacro %}

{% macro duckdb__applicant_id_int(key) -%}
    cast(('0x' || substr({{ key }}, 1, 15)) as bigint)
{%- endmacro %}

{% macro postgres__applicant_id_int(key) -%}
    (('x' || lpad(substr({{ key }}, 1, 15), 16, '0'))::bit(64)::bigint)
{%- endmacro %}

{#- Spark, Databricks, Hive and other engines with conv() -#}
{% macro default__applicant_id_int(key) -%}
    cast(conv(substr({{ key }}, 1, 15), 16, 10) as bigint)
{%- endmacro %}
