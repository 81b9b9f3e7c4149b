{#-
    One row per year x enterprise active on 1 July: its latest register row with updated_at on
    or before 1 July says active (存续), it was established on or before 1 July and not closed
    by then. Counted in that row's registered county, industry section and size class.
-#}
with source as (

    select * from {{ ref('int_enterprises__versions') }}

),

midyear as (

    select year, midyear_date from {{ ref('int_calendar__midyear_dates') }}

),

ranked as (

    select
        source.*,
        midyear.year,
        midyear.midyear_date,
        row_number() over (
            partition by midyear.year, source.enterprise_key
            order by source.updated_at desc
        ) as row_rank
    from source
    inner join midyear
        on cast(source.updated_at as date) <= midyear.midyear_date

),

final as (

    select
        year,
        midyear_date,
        enterprise_key,
        region_code,
        industry_section,
        size_class,
        legal_form_code
    from ranked
    where row_rank = 1
        and status_code = 'active'
        and (established_date is null or established_date <= midyear_date)
        and (closed_date is null or closed_date > midyear_date)

)

select * from final
