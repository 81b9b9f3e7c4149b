{#-
    expression_is_true: every row (optionally only rows matching `where_clause`) satisfies the
    boolean SQL `expression`; returns the rows that do not. On a column or on the model.
-#}
{% test expression_is_true(model, expression, where_clause=none, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{%- if where_clause %}
    and ({{ where_clause }})
{%- endif %}
{% endtest %}
