{#-
    Service demand: cases by submission month × applicant county × age group × catalog category ×
    life-event theme × applicant type × channel, with the mid-year resident population of the
    cell's county and age group (natural persons) and the demand rate per 1,000 residents.
    The rate is over the month, not annualised. Population is repeated on every row of the same
    year × county × age group: sum it from subj_population, never from this table.
    Incremental by month: a run replaces the months whose cases changed and the months whose
    stored population differs from the current subj_population (the register is rebuilt in
    full in every run, so any year's denominator may change).
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

),

population as (

    select year, region_code, age_group_code, population
    from {{ ref('subj_population') }}

),

population_years as (

    select distinct year from population

),

{% if is_incremental() %}
denominator_changed_months as (

    -- stored natural-person rows whose population is no longer the current one
    select distinct stored.month
    from {{ this }} as stored
    left join population_years
        on stored.year = population_years.year
    left join population
        on stored.year = population.year
        and stored.region_code = population.region_code
        and stored.age_group_code = population.age_group_code
    where stored.applicant_type = 'person'
        and coalesce(stored.population, -1) <> coalesce(
            case when population_years.year is not null then coalesce(population.population, 0) end,
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
        urban_rural,
        age_group_code,
        category_code,
        theme_code,
        applicant_type,
        channel_code,
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
        urban_rural,
        age_group_code,
        category_code,
        theme_code,
        applicant_type,
        channel_code

),

with_population as (

    select
        cells.*,
        case
            -- a year the register covers: no row for the county × age group = 0 residents
            when cells.applicant_type = 'person' and population_years.year is not null
                then coalesce(population.population, 0)
        end as population
    from cells
    left join population_years
        on cells.year = population_years.year
    left join population
        on cells.year = population.year
        and cells.region_code = population.region_code
        and cells.age_group_code = population.age_group_code

),

final as (

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
        {{ subj_metric('rate_per_1000') }} as rate_per_1000
    from with_population

)

select * from final
