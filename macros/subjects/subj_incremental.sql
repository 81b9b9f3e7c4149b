{#-
    Incremental subject tables: rebuild only the submission periods whose cases changed.

    The contract (docs/architecture.md, "H3/H4 incremental contract"): int_cases__changed_months
    lists, in every run that builds the case chain, the submission months whose cases changed
    in this run (every month on a full build, both the old and the new month of a case whose
    month changed, and the months of legal persons whose register versions changed).

    A period-keyed subject model is
        config(materialized='incremental', incremental_strategy='subj_replace_periods',
               unique_key='month' | 'year', on_schema_change='fail')
        -- depends_on: {{ ref('int_cases__changed_months') }}
        ... where {{ subj_in_changed_periods('<month expression>', '<month|year>') }}
    and the strategy below deletes from the table every period that changed (even one that has
    no rows left) and every period present in the new rows, then inserts the new rows. The
    result equals a full rebuild because a period's rows depend only on the cases of that period
    (and, for tables with denominators, on the denominator of its year: those models add the
    periods whose stored denominator differs from the current one to their new rows).
-#}

{#- SQL listing the changed periods: months (DATE) or years (INTEGER) -#}
{% macro subj_changed_periods(grain='month') -%}
    {%- if grain == 'month' -%}
        select changed.submitted_month from {{ ref('int_cases__changed_months') }} as changed
    {%- elif grain == 'year' -%}
        select distinct cast(extract(year from changed.submitted_month) as {{ dbt.type_int() }})
        from {{ ref('int_cases__changed_months') }} as changed
    {%- else -%}
        {{ exceptions.raise_compiler_error("subj_changed_periods: grain must be 'month' or 'year', got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{#- A predicate: true for every row on a full build, for rows of changed periods otherwise -#}
{% macro subj_in_changed_periods(period_expression, grain='month') -%}
    {%- if is_incremental() -%}
        {{ period_expression }} in ({{ subj_changed_periods(grain) }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#-
    The incremental strategy 'subj_replace_periods' (dbt looks up get_incremental_<name>_sql):
    unique_key is the period column ('month' or 'year'). Delete the changed periods and the
    periods of the new rows (every period when the case chain was rebuilt in full), insert the
    new rows: a period is replaced as a whole. The model
    config `subj_insert_order` (an ORDER BY list) keeps the rows of a period in that order.
-#}
{% macro get_incremental_subj_replace_periods_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- if key not in ('month', 'year') -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'subj_replace_periods' needs unique_key 'month' or 'year', got "
            ~ key) }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set insert_order = config.get('subj_insert_order') -%}
    delete from {{ target }}
    where {{ key }} in ({{ subj_changed_periods(key) }})
        or {{ key }} in (select distinct {{ key }} from {{ source }})
        -- the case chain was rebuilt in full: a month that no longer has any case goes too
        or exists (
            select 1 from {{ ref('int_cases__changed_months') }} as rebuilt
            where rebuilt.is_full_rebuild
        );

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }}
    {%- if insert_order %}
    order by {{ insert_order }}
    {%- endif %}
{%- endmacro %}
