{#-
    subj_percentile_cont(expr, fraction): the exact continuous percentile of `expr` within the
    current GROUP BY (linear interpolation between the two nearest ranks, "type 7", the default of
    numpy.percentile, R quantile() and Spark percentile()). NULLs are ignored, so pass
    `case when <condition> then value end` to restrict the population.
    Dispatched: DuckDB quantile_cont, Spark percentile (exact, not percentile_approx), and the
    SQL-standard ordered-set aggregate elsewhere.
-#}
{% macro subj_percentile_cont(expr, fraction) -%}
    {{ return(adapter.dispatch('subj_percentile_cont', 'subjectdb')(expr, fraction)) }}
{%- endmacro %}

{% macro default__subj_percentile_cont(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__subj_percentile_cont(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{% macro spark__subj_percentile_cont(expr, fraction) -%}
    percentile({{ expr }}, {{ fraction }})
{%- endmacro %}
