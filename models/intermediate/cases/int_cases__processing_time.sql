{#-
    One row per completed case with an acceptance time: the working days from acceptance to
    completion on the official calendar, i.e. the number of working days d with
    accepted date < d <= completed date (same-day completion = 0; public holidays off, make-up
    working days on). With the running count of working days per calendar date, that is
    index(completed date) - index(accepted date): two equality joins, no range join per case.
    Dates outside the calendar seed fail the in_calendar tests on this model (never counted as
    plain weekdays).
    Incremental (strategy replace_keys on case_id): a build computes the cases whose latest
    state changed in this run and replaces their rows; such a case that is no longer completed
    loses its row (replace_also).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='case_id',
        replace_also=[
            {'column': 'case_id', 'in': 'int_cases__latest', 'where': '__changed_in_this_run__'},
        ],
        on_schema_change='append_new_columns'
    )
}}

with calendar as (

    select
        cast(calendar_date as date) as calendar_date,
        sum(case when cast(is_workday as {{ dbt.type_boolean() }}) then 1 else 0 end) over (
            order by cast(calendar_date as date)
            rows between unbounded preceding and current row
        ) as workday_index
    from {{ ref('ref_calendar') }}

),

source as (

    select cases.case_id, cases.accepted_at, cases.completed_at
    from {{ ref('int_cases__latest') }} as cases
    inner join {{ ref('ref_case_statuses') }} as statuses
        on cases.status_code = statuses.status_code
    where cast(statuses.is_completed as {{ dbt.type_boolean() }})
        and cases.accepted_at is not null
        and cases.completed_at is not null
        {%- if is_incremental() %}
        and {{ changed_in_this_run('cases._changed_invocation_id') }}
        {%- endif %}

),

renamed as (

    select
        case_id,
        cast(accepted_at as date) as accepted_date,
        cast(completed_at as date) as completed_date
    from source

),

final as (

    select
        renamed.case_id,
        renamed.accepted_date,
        renamed.completed_date,
        cast(completed_day.workday_index - accepted_day.workday_index as {{ dbt.type_int() }})
            as working_days,
        {{ this_run_id() }} as _changed_invocation_id
    from renamed
    left join calendar as accepted_day
        on renamed.accepted_date = accepted_day.calendar_date
    left join calendar as completed_day
        on renamed.completed_date = completed_day.calendar_date

)

select * from final
