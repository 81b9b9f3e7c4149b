{#-
    subj_ratio(numerator, denominator, scale=1): numerator / denominator × scale as a double,
    NULL when the denominator is 0 or NULL (a rate with no denominator is undefined, never 0).
    The one ratio form of the project: the metrics of dbt_project.yml vars.metrics reach it
    through subj_metric (macros/metrics.sql), and subjectdb.metrics.Metric.ratio_sql writes the
    same expression for the Python readers.
-#}
{% macro subj_ratio(numerator, denominator, scale=1) -%}
    case
        when ({{ denominator }}) > 0
            then cast({{ numerator }} as double)
                * {{ scale }} / ({{ denominator }})
    end
{%- endmacro %}
