{#-
    subj_metric(name, relation=none, aggregate=false): the SQL of metric `name`, defined once in
    dbt_project.yml (vars.metrics: numerator, denominator, scale) and read by the same rule in
    Python by subjectdb.metrics (the dashboard and the release).

    Row level (default): numerator × scale / denominator of the row, through subj_ratio (NULL
    when the denominator is 0 or NULL). aggregate=true: Σ numerator × scale / Σ denominator, the
    rate of a roll-up (never an average of rates). `relation`: the alias the columns belong to.
-#}
{% macro subj_metric(name, relation=none, aggregate=false) -%}
    {%- set metrics = var('metrics') -%}
    {%- if metrics is mapping and name not in metrics -%}
        {{ exceptions.raise_compiler_error(
            "subj_metric: no metric '" ~ name ~ "' in dbt_project.yml vars.metrics") }}
    {%- endif -%}
    {%- set m = metrics[name] -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {%- set num = prefix ~ m['numerator'] -%}
    {%- set den = prefix ~ m['denominator'] -%}
    {%- if aggregate -%}
        {%- set num = 'sum(' ~ num ~ ')' -%}
        {%- set den = 'sum(' ~ den ~ ')' -%}
    {%- endif -%}
    {{ subj_ratio(num, den, m['scale']) }}
{%- endmacro %}
