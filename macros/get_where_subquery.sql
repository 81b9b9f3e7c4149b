{#-
    Data tests on the rows this run changed (the daily incremental path).

    Overrides dbt's get_where_subquery (how a data test's `where` config filters the tested
    model). A `where` holding the placeholder __changed_in_this_run__ keeps only the rows
    stamped by this invocation (`_changed_invocation_id`) when the tested model has that column;
    on a model without it the placeholder is `1 = 1` (the whole model is tested). A full build
    stamps every row, so it still tests everything; an incremental build tests the rows it
    wrote. dbt_project.yml sets the placeholder on the tests of the change-stamped folders.
    A `where` holding __replaced_in_this_run__ keeps, on a period-keyed model (replace_keys by
    month or year, no stamp: the subject, demand-cell and serving tables), the rows of the
    periods this run replaced (macros/incremental/replaced_keys.sql), and is `1 = 1` on any
    other model.
    That is sound for the stamped models because each replaces whole keys (strategy
    replace_keys on its primary key, or append of new batches): an untouched stored row was tested by the build
    that wrote it, and a key written twice in one run is still caught among this run's rows.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__changed_in_this_run__' in where -%}
        {%- set where = where | replace(
            '__changed_in_this_run__',
            changed_in_this_run() if _tested_model_is_stamped() else '1 = 1'
        ) -%}
    {%- endif -%}
    {%- if where and '__replaced_in_this_run__' in where -%}
        {%- set where = where | replace('__replaced_in_this_run__', _replaced_rows_filter()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- What __replaced_in_this_run__ stands for in the test being compiled: the periods this run
    replaced on a period-keyed model (macros/incremental/replaced_keys.sql), `1 = 1` (the whole
    model) on any other, stamped ones included (the append-only serving numberings must be
    checked whole: a new row could repeat an old key). -#}
{% macro _replaced_rows_filter() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if not attached or attached not in graph.nodes -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {{ return(replaced_in_this_run(graph.nodes[attached], _test_key_columns())) }}
{%- endmacro %}

{#- The columns a uniqueness test is about (none for a row-by-row test, which any subset of
    the rows can run on; an empty list for a test about the whole model). -#}
{% macro _test_key_columns() -%}
    {%- set meta = model.get('test_metadata') or {} -%}
    {%- set kwargs = meta.get('kwargs') or {} -%}
    {%- set name = meta.get('name') -%}
    {%- if name in ('primary_key', 'unique', 'unique_combination_of_columns') -%}
        {{ return(kwargs.get('columns') or kwargs.get('combination_of_columns')
            or [kwargs.get('column_name')]) }}
    {%- elif name == 'at_least_one_row' -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- True when the model a generic test is attached to documents a _changed_invocation_id
    column (every column is documented, see the house rules). -#}
{% macro _tested_model_is_stamped() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if not attached or attached not in graph.nodes -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return('_changed_invocation_id' in graph.nodes[attached].columns) }}
{%- endmacro %}
