{#-
    subj_ratio(numerator, denominator, scale=1): numerator / denominator × scale as a double,
    NULL when the denominator is 0 or NULL (a rate with no denominator is undefined, never 0).
-#}
{% macro subj_ratio(numerator, denominator, scale=1) -%}
    case
        when ({{ denominator }}) > 0
            then cast({{ numerator }} as double)
                * {{ scale }} / ({{ denominator }})
    end
{%- endmacro %}
