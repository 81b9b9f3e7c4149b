{#- One row per date of the official calendar: year, month, working-day flags. -#}
with source as (

    select * from {{ ref('ref_calendar') }}

),

renamed as (

    select
        cast(calendar_date as date) as calendar_date,
        cast(is_workday as {{ dbt.type_boolean() }}) as is_workday,
        cast(is_holiday as {{ dbt.type_boolean() }}) as is_holiday,
        holiday_name,
        cast(is_makeup_workday as {{ dbt.type_boolean() }}) as is_makeup_workday
    from source

),

final as (

    select
        calendar_date,
        cast(extract(year from calendar_date) as {{ dbt.type_int() }}) as year,
        cast(extract(quarter from calendar_date) as {{ dbt.type_int() }}) as quarter,
        cast(extract(month from calendar_date) as {{ dbt.type_int() }}) as month,
        cast(extract(day from calendar_date) as {{ dbt.type_int() }}) as day_of_month,
        cast({{ dbt.date_trunc('month', 'calendar_date') }} as date) as month_start,
        is_workday,
        is_holiday,
        holiday_name,
        is_makeup_workday
    from renamed

)

select * from final
