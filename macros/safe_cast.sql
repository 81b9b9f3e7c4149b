{#-
    dbt.safe_cast on DuckDB: dbt-duckdb falls back to dbt's default, a plain cast that raises on
    bad input. safe_cast is meant to return NULL instead, which DuckDB's try_cast does.
-#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
