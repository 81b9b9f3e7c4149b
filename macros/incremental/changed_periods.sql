{#-
    The periods a run rebuilds: the case-driven models' side of the incremental contract
    (docs/architecture-incremental.md). int_cases__changed_months lists, in every run that
    builds the case chain, the submission months whose cases changed in this run (every month
    on a full build; both the old and the new month of a case whose month changed; the months
    of legal persons whose placement changed). A period-keyed model is
        config(materialized='incremental', incremental_strategy='replace_keys',
               unique_key='month' | 'year', replace_also=changed_periods_replaced('month' | 'year'))
        -- depends_on: {{ ref('int_cases__changed_months') }}
        ... where {{ in_changed_periods('<month expression>', 'month' | 'year') }}
    so a run selects the cases of the changed periods and replaces those periods as a whole
    (also one with no rows left). That equals a full rebuild because a period's rows depend only
    on the cases of that period (and, for tables with denominators, on the denominator of its
    year: those models add the periods whose stored denominator differs from the current one).
-#}

{#- SQL listing the changed periods: months (DATE) or years (INTEGER) -#}
{% macro changed_periods(grain='month') -%}
    select {{ _changed_period_expression(grain) }} from {{ ref('int_cases__changed_months') }}
{%- endmacro %}

{#- A predicate: true for every row on a full build, for rows of changed periods otherwise -#}
{% macro in_changed_periods(period_expression, grain='month') -%}
    {%- if is_incremental() -%}
        {{ period_expression }} in ({{ changed_periods(grain) }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The replace_also entries of a period-keyed model (strategy replace_keys): the changed
    periods, and every stored period when the case chain was rebuilt in full in this run (a
    month that no longer has any case goes too). -#}
{% macro changed_periods_replaced(grain='month') -%}
    {{ return([
        {'column': grain, 'in': 'int_cases__changed_months',
         'select': _changed_period_expression(grain)},
        {'exists': 'int_cases__changed_months', 'where': 'is_full_rebuild'},
    ]) }}
{%- endmacro %}

{% macro _changed_period_expression(grain) -%}
    {%- if grain == 'month' -%}
        submitted_month
    {%- elif grain == 'year' -%}
        distinct cast(extract(year from submitted_month) as {{ dbt.type_int() }})
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "changed periods: grain must be 'month' or 'year', got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}
