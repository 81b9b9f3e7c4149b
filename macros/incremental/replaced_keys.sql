{#-
    The keys a period-keyed model replaced in this run, so that its data tests check only them.

    The subject, demand-cell and serving tables are replaced by period (strategy replace_keys,
    unique_key `month` or `year`) and carry no change stamp (their contracts are what readers
    see). When such a model runs incrementally, the strategy also records, in the log table
    main.dbt_replaced_keys, one marker row for the model (key NULL) and each period it inserted
    (replaced_keys_log_sql). A data test whose `where` holds __replaced_in_this_run__ then reads
    (get_where_subquery) only the rows of those periods when the log has the model's marker for
    this invocation, and the whole model otherwise (a full build, a table materialization, a
    test run on its own). That is sound: rows of other periods were written and tested by an
    earlier build and not touched since, and a duplicate key needs two rows of one period when
    the tested columns include the period column (the macro tests the whole model when they do
    not). The log keeps only the current invocation's rows (prepare_replaced_keys_log, run
    on-run-start). DuckDB implements it; on other engines the log is not kept and every test
    checks the whole model.
-#}

{% macro replaced_keys_log() -%}
    main.dbt_replaced_keys
{%- endmacro %}

{#- on-run-start: the log exists and holds this invocation's rows only -#}
{% macro prepare_replaced_keys_log() -%}
    {{ return(adapter.dispatch('prepare_replaced_keys_log', 'subjectdb')()) }}
{%- endmacro %}

{% macro default__prepare_replaced_keys_log() -%}
    select 1 as no_replaced_keys_log
{%- endmacro %}

{% macro duckdb__prepare_replaced_keys_log() -%}
    create table if not exists {{ replaced_keys_log() }} (
        model varchar, invocation_id varchar, key_value varchar
    );
    delete from {{ replaced_keys_log() }} where invocation_id <> {{ this_run_id() }}
{%- endmacro %}

{#- SQL the strategy runs after its insert: the marker and the periods of the new rows -#}
{% macro replaced_keys_log_sql(target, source, key) -%}
    {{ return(adapter.dispatch('replaced_keys_log_sql', 'subjectdb')(target, source, key)) }}
{%- endmacro %}

{% macro default__replaced_keys_log_sql(target, source, key) -%}
{%- endmacro %}

{% macro duckdb__replaced_keys_log_sql(target, source, key) -%}
    insert into {{ replaced_keys_log() }} (model, invocation_id, key_value)
    select '{{ target.identifier }}', {{ this_run_id() }}, cast(null as varchar)
    union all
    select distinct '{{ target.identifier }}', {{ this_run_id() }}, cast({{ key }} as varchar)
    from {{ source }}
{%- endmacro %}

{#- Whether the strategy logs a model's replaced keys: one key column, and no change stamp
    (stamped models' tests select this run's rows by the stamp). -#}
{% macro logs_replaced_keys(node, unique_key) -%}
    {{ return(
        unique_key is string
        and '_changed_invocation_id' not in node.columns
    ) }}
{%- endmacro %}

{#- The data-test filter on a period-keyed model (see the header); `node` is the tested
    model's graph node, `test_columns` the columns the test is about. -#}
{% macro replaced_in_this_run(node, test_columns) -%}
    {{ return(adapter.dispatch('replaced_in_this_run', 'subjectdb')(node, test_columns)) }}
{%- endmacro %}

{% macro default__replaced_in_this_run(node, test_columns) -%}
    {{ return('1 = 1') }}
{%- endmacro %}

{% macro duckdb__replaced_in_this_run(node, test_columns) -%}
    {%- set key = node.config.get('unique_key') -%}
    {%- set scoped = node.config.get('materialized') == 'incremental'
        and node.config.get('incremental_strategy') == 'replace_keys'
        and logs_replaced_keys(node, key)
        and (test_columns is none or key in test_columns) -%}
    {%- if not scoped -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set logged -%}
        select key_value from {{ replaced_keys_log() }}
        where model = '{{ node.alias or node.name }}' and invocation_id = {{ this_run_id() }}
    {%- endset -%}
    {{ return(
        '(cast(' ~ key ~ ' as ' ~ dbt.type_string() ~ ') in (' ~ logged ~ ')'
        ~ ' or not exists (' ~ logged ~ '))'
    ) }}
{%- endmacro %}
