{#-
    Contract constraints on Spark's plain Parquet tables. dbt-spark persists constraints with
    ALTER TABLE only on Delta (its check defaults the file format to delta, so on Parquet it
    fails: "does not support ALTER COLUMN ... SET NOT NULL"). Parquet tables cannot hold
    constraints, so here they are checked by a query after each write instead (as DuckDB
    enforces them on write): NOT NULL columns, the primary key (no NULL part, no duplicate)
    and CHECK expressions of the model's contract; a violation fails the model.
-#}
{% macro spark__persist_constraints(relation, model) -%}
    {%- if config.get('file_format', 'parquet') in ('delta', 'iceberg') -%}
        {%- do alter_table_add_constraints(relation, model.constraints) -%}
        {%- do alter_column_set_constraints(relation, model.columns) -%}
    {%- else -%}
        {%- do spark_check_constraints(relation, model) -%}
    {%- endif -%}
{%- endmacro %}

{#- Fail when a row of `relation` violates a constraint of `model`'s enforced contract. -#}
{% macro spark_check_constraints(relation, model) -%}
    {%- set contract = config.get('contract') -%}
    {%- if not contract or not contract.enforced -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set checks = [] -%}
    {%- for name, column in model.columns.items() -%}
        {%- for constraint in column.get('constraints', []) -%}
            {%- if constraint.type in ('not_null', 'primary_key') -%}
                {%- do checks.append(['NULL in ' ~ name, 'select count(*) from '
                    ~ relation ~ ' where ' ~ name ~ ' is null']) -%}
            {%- elif constraint.type == 'check' -%}
                {%- do checks.append(['check on ' ~ name, 'select count(*) from '
                    ~ relation ~ ' where not (' ~ constraint.expression ~ ')']) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for constraint in model.get('constraints', []) -%}
        {%- if constraint.type == 'primary_key' -%}
            {%- set cols = constraint.columns | join(', ') -%}
            {%- do checks.append(['primary key (' ~ cols ~ ')', 'select count(*) from (select '
                ~ cols ~ ' from ' ~ relation ~ ' group by ' ~ cols
                ~ ' having count(*) > 1) as duplicates']) -%}
            {%- for col in constraint.columns -%}
                {%- do checks.append(['NULL in ' ~ col, 'select count(*) from '
                    ~ relation ~ ' where ' ~ col ~ ' is null']) -%}
            {%- endfor -%}
        {%- elif constraint.type == 'check' -%}
            {%- do checks.append(['check ' ~ constraint.expression, 'select count(*) from '
                ~ relation ~ ' where not (' ~ constraint.expression ~ ')']) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if checks -%}
        {%- set parts = [] -%}
        {%- for check in checks -%}
            {%- do parts.append('(' ~ check[1] ~ ') as c' ~ loop.index0) -%}
        {%- endfor -%}
        {%- set counts = run_query('select ' ~ parts | join(', ')).rows[0] -%}
        {%- for check in checks -%}
            {%- if counts[loop.index0] > 0 -%}
                {{ exceptions.raise_compiler_error(
                    'contract of ' ~ relation ~ ' violated: ' ~ check[0] ~ ' ('
                    ~ counts[loop.index0] ~ ' rows)') }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
