{#-
    register_sources(): the on-run-start hook that makes the landing zone readable as dbt
    sources. DuckDB reads each source through its `external_location` (read_parquet over the
    folder); there the hook is empty. On Spark every source with a `spark_location` meta (a
    folder, `{name}` standing for the table's name) becomes an external Parquet table of its
    schema over every *.parquet file below the folder (recursive, schemas merged by name, no
    partition columns from the folder names), re-created on every run so that batches landed
    since the last run are listed.
-#}
{% macro register_sources() -%}
    {{ return(adapter.dispatch('register_sources', 'subjectdb')()) }}
{%- endmacro %}

{% macro default__register_sources() -%}
{%- endmacro %}

{% macro spark__register_sources() -%}
    {%- if execute -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values() if node.package_name == 'subjectdb' -%}
            {%- set location = (node.meta or {}).get('spark_location')
                or (node.config.meta or {}).get('spark_location') -%}
            {%- if location -%}
                {%- if node.schema not in schemas -%}
                    {%- do run_query('create database if not exists ' ~ node.schema) -%}
                    {%- do schemas.append(node.schema) -%}
                {%- endif -%}
                {%- set table = node.schema ~ '.' ~ node.identifier -%}
                {%- do run_query('drop table if exists ' ~ table) -%}
                {%- do run_query(
                    'create table ' ~ table ~ ' using parquet options ('
                    ~ "path '" ~ location | replace('{name}', node.identifier) ~ "', "
                    ~ "recursiveFileLookup 'true', pathGlobFilter '*.parquet', "
                    ~ "mergeSchema 'true')"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
