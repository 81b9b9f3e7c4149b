-- Enterprise (legal-person) demand by submission month × registered county × industry section
-- (GB/T 4754) × size class, with the enterprises active in the cell on 1 July of the year and
-- the rate per 1,000 active enterprises (over the month, not annualised). Denominators for any
-- roll-up come from subj_enterprise_population (summing active_enterprises here double counts).
with cells as (

    select
        cases.submitted_month as month,
        cases.submitted_year as year,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code,
        coalesce(cases.industry_section, 'NA') as industry_section,
        coalesce(cases.size_class, 'NA') as size_class,
        count(*) as cases,
        count(distinct cases.applicant_key) as distinct_applicants
    from {{ ref('fct_service_cases') }} as cases
    where cases.applicant_type = 'enterprise'
    group by
        cases.submitted_month,
        cases.submitted_year,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code,
        coalesce(cases.industry_section, 'NA'),
        coalesce(cases.size_class, 'NA')

),

register_years as (

    select distinct year from {{ ref('subj_enterprise_population') }}

),

with_denominator as (

    select
        cells.*,
        case
            -- a year the register covers: no row for the cell = 0 active enterprises
            when register_years.year is not null then coalesce(ent.active_enterprises, 0)
        end as active_enterprises
    from cells
    left join register_years
        on cells.year = register_years.year
    left join {{ ref('subj_enterprise_population') }} as ent
        on cells.year = ent.year
        and cells.region_code = ent.region_code
        and cells.industry_section = ent.industry_section
        and cells.size_class = ent.size_class

)

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
    {{ subj_ratio('cases', 'active_enterprises', 1000) }} as rate_per_1000
from with_denominator
