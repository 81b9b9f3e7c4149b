{#-
    The incremental strategy 'replace_keys': delete these keys, insert the new rows.

    The one pattern of every incremental model that rewrites what changed (the contract:
    docs/architecture-incremental.md and macros/_macros.yml). The model's SELECT returns the
    new rows of every key it rebuilds; the strategy then, in one transaction,
      1. deletes every stored row whose `unique_key` (a column or a list of columns) occurs in
         the new rows, and every stored row that a `replace_also` entry selects: keys whose
         inputs changed in this run but that have no rows any more (a case no longer completed,
         a month that lost its last case), and
      2. inserts the new rows (in the model config's `insert_order`, an ORDER BY list, if set).
    `replace_also` entries are data, not SQL, so that the models they read are resolved when
    the model runs (a config value is rendered when the project is parsed):
      {'column': c, 'in': model, 'select': expr, 'where': predicate}      c in (select expr ...)
      {'column': c, 'not_in': model, 'select': expr, 'where': predicate}  c not in (select ...)
      {'exists': model, 'where': predicate}                               every stored row
    `select` defaults to `column`; in `where`, __changed_in_this_run__ stands for "written by
    this dbt invocation" (changed_in_this_run(), as in the data tests' `where`). A model names
    every model its entries read in a `-- depends_on:` comment unless its SQL refs it already.
    The SQL is dispatched (replace_keys_sql): default__ is DELETE + INSERT, which DuckDB and
    any engine with DELETE run; an engine that overwrites partitions (Spark: INSERT OVERWRITE
    of the periods) dispatches its own beside it with the same arguments.
-#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- if not unique_key -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_keys' needs a unique_key (the column(s) it replaces)") }}
    {%- endif -%}
    {%- set replace = adapter.dispatch('replace_keys_sql', 'subjectdb')(
        arg_dict['target_relation'],
        arg_dict['temp_relation'],
        [unique_key] if unique_key is string else unique_key,
        arg_dict['dest_columns'],
        replace_keys_scope(config.get('replace_also') or []),
        config.get('insert_order')
    ) -%}
    {%- set log = replaced_keys_log_sql(
        arg_dict['target_relation'], arg_dict['temp_relation'], unique_key
    ) if logs_replaced_keys(graph.nodes[model.unique_id], unique_key) else '' -%}
    {{ return(replace ~ (';\n\n' ~ log if log | trim else '')) }}
{%- endmacro %}

{% macro default__replace_keys_sql(target, source, keys, dest_columns, also, insert_order) -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    delete from {{ target }} as stored
    where
    {%- if keys | length == 1 %}
        {{ keys[0] }} in (select {{ keys[0] }} from {{ source }})
    {%- else %}
        exists (
            select 1 from {{ source }} as new_rows
            where {% for key in keys -%}
                new_rows.{{ key }} = stored.{{ key }}{{ " and " if not loop.last }}
            {%- endfor %}
        )
    {%- endif %}
    {%- for predicate in also %}
        or {{ predicate }}
    {%- endfor %};

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }}
    {%- if insert_order %}
    order by {{ insert_order }}
    {%- endif %}
{%- endmacro %}

{#- The `replace_also` entries of a model as SQL predicates on the stored table. -#}
{% macro replace_keys_scope(entries) -%}
    {%- set predicates = [] -%}
    {%- for entry in entries -%}
        {%- set kinds = ['in', 'not_in', 'exists'] | select('in', entry) | list -%}
        {%- if kinds | length != 1 -%}
            {{ exceptions.raise_compiler_error(
                "replace_also: each entry needs exactly one of 'in', 'not_in', 'exists'; got "
                ~ entry) }}
        {%- endif -%}
        {%- set kind = kinds[0] -%}
        {%- set where = entry.get('where')
            | replace('__changed_in_this_run__', changed_in_this_run())
            if entry.get('where') else none -%}
        {%- set rows -%}
            from {{ ref(entry[kind]) }}{% if where %} where {{ where }}{% endif %}
        {%- endset -%}
        {%- if kind == 'exists' -%}
            {%- do predicates.append('exists (select 1 ' ~ rows ~ ')') -%}
        {%- else -%}
            {%- if not entry.get('column') -%}
                {{ exceptions.raise_compiler_error("replace_also: '" ~ kind ~ "' needs a column") }}
            {%- endif -%}
            {%- do predicates.append(
                entry['column'] ~ (' not in' if kind == 'not_in' else ' in')
                ~ ' (select ' ~ entry.get('select', entry['column']) ~ ' ' ~ rows ~ ')'
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(predicates) }}
{%- endmacro %}
