{#-
    unique_combination_of_columns: no combination of the listed columns occurs twice
    (NULLs allowed; see primary_key for the strict form).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
