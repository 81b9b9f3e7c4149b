{#- at_least_one_row: the model is not empty (an empty fact means a broken upstream). -#}
{% test at_least_one_row(model) %}
select 'empty model' as problem
from (select count(*) as n_rows from {{ model }}) as counted
where n_rows = 0
{% endtest %}
