{#-
    Change tracking of one dbt invocation (the daily incremental path).

    Incremental intermediate models stamp the rows they (re)write with the invocation's id in a
    `_changed_invocation_id` column; rows carried over unchanged keep the id of the build that
    last changed them. Downstream models of the same `dbt build` then select "what changed in
    this run" with changed_in_this_run(). A full build stamps every row, so "changed in this
    run" is then everything.
-#}

{#- The id stamped on rows (re)written by this invocation (a string literal). -#}
{% macro this_run_id() -%}
    '{{ invocation_id }}'
{%- endmacro %}

{#- True for rows written by this invocation: `column` is the model's stamp column. -#}
{% macro changed_in_this_run(column='_changed_invocation_id') -%}
    {{ column }} = {{ this_run_id() }}
{%- endmacro %}

{#- First day of the month of a timestamp or date, as a date (the submission month). -#}
{% macro month_start(expr) -%}
    cast({{ dbt.date_trunc('month', 'cast(' ~ expr ~ ' as date)') }} as date)
{%- endmacro %}

{#- `column` of {{ this }} when the stored table has it, else NULL of `type`: lets an
    incremental model read a change-tracking column that a warehouse built before the column
    existed lacks (on_schema_change='append_new_columns' adds it on that run). -#}
{% macro stored_column_or_null(column, type) -%}
    {%- set names = [] -%}
    {%- if this is string -%}
        {#- a unit test: `this` is its fixture, which lists every column -#}
        {%- do names.append(column | lower) -%}
    {%- elif execute -%}
        {%- for c in adapter.get_columns_in_relation(this) -%}
            {%- do names.append(c.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if column | lower in names -%}
        {{ column }}
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}
