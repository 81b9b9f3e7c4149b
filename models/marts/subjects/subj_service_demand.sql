-- Service demand: cases by submission month × applicant county × age group × catalog category ×
-- life-event theme × applicant type × channel, with the mid-year resident population of the
-- cell's county and age group (natural persons) and the demand rate per 1,000 residents.
-- The rate is over the month, not annualised. Population is repeated on every row of the same
-- year × county × age group: sum it from subj_population, never from this table.
with cells as (

    select
        cases.submitted_month as month,
        cases.submitted_year as year,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code,
        cases.urban_rural,
        cases.age_group_code,
        cases.category_code,
        cases.theme_code,
        cases.applicant_type,
        cases.channel_code,
        count(*) as cases,
        count(distinct cases.applicant_key) as distinct_applicants
    from {{ ref('fct_service_cases') }} as cases
    group by
        cases.submitted_month,
        cases.submitted_year,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code,
        cases.urban_rural,
        cases.age_group_code,
        cases.category_code,
        cases.theme_code,
        cases.applicant_type,
        cases.channel_code

),

population_years as (

    select distinct year from {{ ref('subj_population') }}

),

with_population as (

    select
        cells.*,
        case
            -- a year the register covers: no row for the county × age group = 0 residents
            when cells.applicant_type = 'person' and population_years.year is not null
                then coalesce(pop.population, 0)
        end as population
    from cells
    left join population_years
        on cells.year = population_years.year
    left join {{ ref('subj_population') }} as pop
        on cells.year = pop.year
        and cells.region_code = pop.region_code
        and cells.age_group_code = pop.age_group_code

)

select
    cast(month as date) as month,
    cast(year as integer) as year,
    cast(region_code as {{ dbt.type_string() }}) as region_code,
    cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(province_code as {{ dbt.type_string() }}) as province_code,
    cast(urban_rural as {{ dbt.type_string() }}) as urban_rural,
    cast(age_group_code as {{ dbt.type_string() }}) as age_group_code,
    cast(category_code as {{ dbt.type_string() }}) as category_code,
    cast(theme_code as {{ dbt.type_string() }}) as theme_code,
    cast(applicant_type as {{ dbt.type_string() }}) as applicant_type,
    cast(channel_code as {{ dbt.type_string() }}) as channel_code,
    cast(cases as bigint) as cases,
    cast(distinct_applicants as bigint) as distinct_applicants,
    cast(population as bigint) as population,
    {{ subj_ratio('cases', 'population', 1000) }} as rate_per_1000
from with_population
