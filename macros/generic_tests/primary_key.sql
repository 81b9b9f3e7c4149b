{#-
    primary_key: the listed columns together identify each row: none of them is NULL and no
    combination occurs twice. Use on a model (`data_tests: - primary_key: {columns: [...]}`)
    or on a single column (`data_tests: [primary_key]`).
    Returns one row per offending key (duplicates) or per row with a NULL key part.
-#}
{% test primary_key(model, column_name=none, columns=none) %}
{%- set cols = columns if columns else [column_name] -%}
{%- if not cols or cols[0] is none -%}
    {{ exceptions.raise_compiler_error("primary_key test on " ~ model ~ " needs columns") }}
{%- endif -%}
with null_keys as (
    select {{ cols | join(', ') }}, 'null key part' as problem, 1 as n_rows
    from {{ model }}
    where {% for c in cols %}{{ c }} is null{% if not loop.last %} or {% endif %}{% endfor %}
),

duplicate_keys as (
    select {{ cols | join(', ') }}, 'duplicate key' as problem, count(*) as n_rows
    from {{ model }}
    where {% for c in cols %}{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
    group by {{ cols | join(', ') }}
    having count(*) > 1
)

select * from null_keys
union all
select * from duplicate_keys
{% endtest %}
