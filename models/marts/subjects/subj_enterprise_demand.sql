{#-
    Enterprise (legal-person) demand by submission month × registered county × industry section
    (GB/T 4754) × size class, with the enterprises active in the cell on 1 July of the year and
    the rate per 1,000 active enterprises (over the month, not annualised). Denominators for any
    roll-up come from subj_enterprise_population (summing active_enterprises here double counts).
    Incremental by month: a run replaces the months whose cases changed and the months whose
    stored active_enterprises differs from the current subj_enterprise_population.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='month',
        replace_also=changed_periods_replaced('month'),
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with case_cells as (

    select * from {{ ref('int_demand__case_cells') }}
    where applicant_type = 'enterprise'

),

enterprises as (

    select year, region_code, industry_section, size_class, active_enterprises
    from {{ ref('subj_enterprise_population') }}

),

register_years as (

    select distinct year from enterprises

),

{% if is_incremental() %}
denominator_changed_months as (

    -- stored rows whose active_enterprises is no longer the current one
    select distinct stored.month
    from {{ this }} as stored
    left join register_years
        on stored.year = register_years.year
    left join enterprises
        on stored.year = enterprises.year
        and stored.region_code = enterprises.region_code
        and stored.industry_section = enterprises.industry_section
        and stored.size_class = enterprises.size_class
    where coalesce(stored.active_enterprises, -1) <> coalesce(
            case
                when register_years.year is not null
                    then coalesce(enterprises.active_enterprises, 0)
            end,
            -1
        )

),
{% endif %}

cells as (

    select
        month,
        year,
        region_code,
        prefecture_code,
        province_code,
        industry_section,
        size_class,
        sum(cases) as cases,
        count(distinct applicant_key) as distinct_applicants
    from case_cells
    where {{ in_changed_periods('month') }}
        {%- if is_incremental() %}
        or month in (select month from denominator_changed_months)
        {%- endif %}
    group by
        month,
        year,
        region_code,
        prefecture_code,
        province_code,
        industry_section,
        size_class

),

with_denominator as (

    select
        cells.*,
        case
            -- a year the register covers: no row for the cell = 0 active enterprises
            when register_years.year is not null then coalesce(enterprises.active_enterprises, 0)
        end as active_enterprises
    from cells
    left join register_years
        on cells.year = register_years.year
    left join enterprises
        on cells.year = enterprises.year
        and cells.region_code = enterprises.region_code
        and cells.industry_section = enterprises.industry_section
        and cells.size_class = enterprises.size_class

),

final as (

    select
        cast(month as date) as month,
        cast(year as integer) as year,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        cast(industry_section as {{ dbt.type_string() }}) as industry_section,
        cast(size_class as {{ dbt.type_string() }}) as size_class,
        cast(cases as bigint) as cases,
        cast(distinct_applicants as bigint) as distinct_applicants,
        cast(active_enterprises as bigint) as active_enterprises,
        {{ subj_metric('ent_rate_per_1000') }} as rate_per_1000
    from with_denominator

)

select * from final
