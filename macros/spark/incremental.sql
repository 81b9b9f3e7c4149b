{#-
    The incremental strategy replace_keys on Spark without Delta, Iceberg or Hudi (no DELETE,
    no MERGE on plain Parquet tables). dbt-spark accepts only its own strategy names, so the
    two macros its incremental materialization calls are extended here to know replace_keys;
    every other strategy goes to dbt-spark's own macros unchanged.

    The new rows (dbt-spark's temporary view of the model's SELECT) are first written to a
    table `<model>__dbt_new`, so the model's SELECT, which may read the stored table, runs
    exactly once. Then, with the same rows to replace as default__replace_keys_sql (stored
    rows whose key occurs in the new rows, or that a replace_also predicate selects):
      * a period-keyed model (unique_key month or year) is partitioned by its key
        (spark__partition_cols): every stored partition holding a row to replace is dropped,
        including the periods that lost all their rows, and the new rows are inserted into
        their partitions (INSERT OVERWRITE of the touched partitions, in effect);
      * any other model (keys are cases, persons, enterprises: row-level deletes) is rewritten
        copy-on-write: the stored rows to keep plus the new rows go to `<model>__dbt_cow`,
        which replaces the table (the computation stays incremental, the write is whole).
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'replace_keys' -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {#- dbt-spark's own rules (a root-project macro replaces the adapter's of the same name) -#}
    {%- if raw_strategy not in ['append', 'merge', 'insert_overwrite', 'microbatch'] -%}
        {%- do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ raw_strategy ~ ". Expected one of: "
            ~ "'append', 'merge', 'insert_overwrite', 'microbatch', 'replace_keys'") -%}
    {%- endif -%}
    {%- if raw_strategy == 'merge' and file_format not in ['delta', 'iceberg', 'hudi'] -%}
        {%- do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: merge. You can only choose this strategy "
            ~ "when file_format is set to 'delta' or 'iceberg' or 'hudi'") -%}
    {%- endif -%}
    {%- if raw_strategy in ['insert_overwrite', 'microbatch'] and target.endpoint -%}
        {%- do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ raw_strategy
            ~ ". You cannot use this strategy when connecting via endpoint") -%}
    {%- endif -%}
    {{ return(raw_strategy) }}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(
    strategy, source, target, existing, unique_key, incremental_predicates
) %}
    {%- if strategy == 'replace_keys' -%}
        {%- if not unique_key -%}
            {{ exceptions.raise_compiler_error(
                "incremental_strategy 'replace_keys' needs a unique_key (the column(s) it replaces)") }}
        {%- endif -%}
        {{ return(spark__replace_keys_sql(
            target, source,
            [unique_key] if unique_key is string else unique_key,
            adapter.get_columns_in_relation(target),
            replace_keys_scope(config.get('replace_also') or []),
            config.get('insert_order')
        )) }}
    {%- endif -%}
    {#- dbt-spark's own strategies, as its macro of the same name writes them -#}
    {%- if strategy == 'append' -%}
        {{ return(get_insert_into_sql(source, target)) }}
    {%- elif strategy in ('insert_overwrite', 'microbatch') -%}
        {{ return(get_insert_overwrite_sql(source, target, existing)) }}
    {%- elif strategy == 'merge' -%}
        {{ return(get_merge_sql(target, source, unique_key, dest_columns=none,
            incremental_predicates=incremental_predicates)) }}
    {%- endif -%}
    {%- do exceptions.raise_compiler_error(
        'No known SQL for the incremental strategy provided: ' ~ strategy) -%}
{% endmacro %}

{#- The period column a replace_keys model is partitioned by on Spark (none: not by period). -#}
{% macro spark_period_partition() -%}
    {%- set key = config.get('unique_key') -%}
    {%- if config.get('materialized') == 'incremental'
        and config.get('incremental_strategy') == 'replace_keys'
        and key in ('month', 'year') -%}
        {{ return(key) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- dbt-spark's partition clause, with the period-keyed replace_keys models partitioned by
    their period when they set no partition_by themselves. -#}
{% macro spark__partition_cols(label, required=false) -%}
    {%- set cols = config.get('partition_by', validator=validation.any[list, basestring])
        or spark_period_partition() -%}
    {%- if cols -%}
        {%- if cols is string -%}
            {%- set cols = [cols] -%}
        {%- endif -%}
        {{ label }} ({{ cols | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{% macro spark__replace_keys_sql(target, source, keys, dest_columns, also, insert_order) -%}
    {%- set new_rows = target.incorporate(path={'identifier': target.identifier ~ '__dbt_new'}) -%}
    {%- set cols = dest_columns | map(attribute='name') | map('lower') | list -%}
    {%- set cols_csv = cols | join(', ') -%}
    {%- do run_query('drop table if exists ' ~ new_rows) -%}
    {%- do run_query('create table ' ~ new_rows ~ ' using parquet as select * from ' ~ source) -%}
    {%- set predicates = [] -%}
    {%- if keys | length == 1 -%}
        {%- do predicates.append(
            'stored.' ~ keys[0] ~ ' in (select ' ~ keys[0] ~ ' from ' ~ new_rows ~ ')') -%}
    {%- else -%}
        {%- set matches = [] -%}
        {%- for key in keys -%}
            {%- do matches.append('new_rows.' ~ key ~ ' = stored.' ~ key) -%}
        {%- endfor -%}
        {%- do predicates.append('exists (select 1 from ' ~ new_rows ~ ' as new_rows where '
            ~ matches | join(' and ') ~ ')') -%}
    {%- endif -%}
    {%- set replaced = (predicates + also) | join('\n or ') -%}
    {%- set period = spark_period_partition() -%}
    {%- if period -%}
        {%- set stale -%}
            select distinct cast({{ period }} as string) from {{ target }} as stored
            where {{ replaced }}
        {%- endset -%}
        {%- set periods = run_query(stale).columns[0].values() -%}
        {%- if periods | length > 0 -%}
            {%- set specs = [] -%}
            {%- for value in periods -%}
                {%- do specs.append('partition (' ~ period ~ " = '" ~ value ~ "')") -%}
            {%- endfor -%}
            {%- do run_query('alter table ' ~ target ~ ' drop if exists ' ~ specs | join(', ')) -%}
        {%- endif -%}
        {%- do run_query('insert into table ' ~ target ~ ' select ' ~ cols_csv ~ ' from ' ~ new_rows) -%}
    {%- else -%}
        {%- set cow = target.incorporate(path={'identifier': target.identifier ~ '__dbt_cow'}) -%}
        {%- do run_query('drop table if exists ' ~ cow) -%}
        {%- set rewrite -%}
            create table {{ cow }} using parquet as
            select {{ cols_csv }} from {{ target }} as stored
            where not ({{ replaced }})
            union all
            select {{ cols_csv }} from {{ new_rows }}
        {%- endset -%}
        {%- do run_query(rewrite) -%}
        {%- do run_query('drop table ' ~ target) -%}
        {%- do run_query('alter table ' ~ cow ~ ' rename to ' ~ target) -%}
    {%- endif -%}
    {%- do spark_check_constraints(target, model) -%}
    drop table if exists {{ new_rows }}
{%- endmacro %}
