{#-
    One row per year of the data: the years from the first to the last case submission in the
    warehouse, each with its mid-year reference date (1 July, vars midyear_month/midyear_day)
    taken from the official calendar. Years are never hard-coded.
-#}
with source as (

    select calendar_date from {{ ref('ref_calendar') }}

),

case_years as (

    select
        min(extract(year from submitted_at)) as first_year,
        max(extract(year from submitted_at)) as last_year
    from {{ ref('int_cases__latest') }}

),

renamed as (

    select
        cast(extract(year from cast(calendar_date as date)) as {{ dbt.type_int() }}) as year,
        cast(calendar_date as date) as midyear_date
    from source
    where extract(month from cast(calendar_date as date)) = {{ var('midyear_month') }}
        and extract(day from cast(calendar_date as date)) = {{ var('midyear_day') }}

),

final as (

    select renamed.year, renamed.midyear_date
    from renamed
    inner join case_years
        on renamed.year between case_years.first_year and case_years.last_year

)

select * from final
