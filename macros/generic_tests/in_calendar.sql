{#-
    in_calendar: every non-NULL date in the column is a date of the official calendar seed
    (ref_calendar). Working days are counted on that calendar only; a date outside it must fail
    the build (never fall back to counting weekdays). Returns the offending dates.
-#}
{% test in_calendar(model, column_name) %}
with dates as (
    select distinct cast({{ column_name }} as date) as outside_calendar_date
    from {{ model }}
    where {{ column_name }} is not null
)

select dates.outside_calendar_date
from dates
left join {{ ref('ref_calendar') }} as calendar
    on dates.outside_calendar_date = calendar.calendar_date
where calendar.calendar_date is null
{% endtest %}
