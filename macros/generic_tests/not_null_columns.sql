{#-
    not_null_columns: none of the listed columns is NULL, checked in one scan of the model
    (one dbt node per model instead of one not_null node per column: every data test is a
    dbt node with its own fixed cost). Returns one row per column that has NULLs, with the
    number of NULL rows. Use on a model:
    `data_tests: - not_null_columns: {arguments: {columns: [a, b]}}`.
-#}
{% test not_null_columns(model, columns) %}
{%- if not columns -%}
    {{ exceptions.raise_compiler_error("not_null_columns test on " ~ model ~ " needs columns") }}
{%- endif -%}
with null_counts as (
    select
        {%- for c in columns %}
        sum(case when {{ c }} is null then 1 else 0 end) as null_rows_{{ loop.index }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
)

{% for c in columns -%}
select '{{ c }}' as column_name, null_rows_{{ loop.index }} as null_rows
from null_counts
where null_rows_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif -%}
{%- endfor %}
{% endtest %}
