{#-
    Use the custom schema name as is (reference, staging, intermediate, marts, snapshots)
    instead of dbt's default "<target schema>_<custom schema>", so every target writes to the
    same documented schemas. Nodes without a custom schema go to the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
