{#-
    Age-standardised natural-person demand by year × county × life-event theme ('ALL' = every
    theme), for finding under-served areas. One row for every county the warehouse knows in the
    year (resident population or cases) × every person theme, zero cases included.
      crude_rate            = cases / population × 1,000
      age_standardised_rate = Σ_a w_a · cases(r,a) / pop(r,a) × 1,000, w_a = pop(all,a) / pop(all)
                              (direct method; NULL when an age group with w_a > 0 has no residents
                              in the county, whose rate is then undefined)
      expected_cases        = Σ_a cases(all,a) / pop(all,a) · pop(r,a)   (indirect method)
      standardised_ratio    = cases / expected_cases, with the exact (Garwood) Poisson 95 % limits
                              of the observed count divided by expected_cases
    "all" = every county of the warehouse in the same year (and theme). Rates per 1,000 per year.
    Cases come from int_demand__case_cells (natural persons), the shared demand projection.
-#}
with person_cases as (

    select
        cells.year,
        cells.region_code,
        cells.prefecture_code,
        cells.province_code,
        cells.urban_rural,
        cells.theme_code,
        cells.age_group_code,
        cells.cases
    from {{ ref('int_demand__case_cells') }} as cells
    where cells.applicant_type = 'person'

),

case_counts as (

    select year, region_code, theme_code, age_group_code, sum(cases) as cases
    from person_cases
    group by year, region_code, theme_code, age_group_code

    union all

    select year, region_code, 'ALL' as theme_code, age_group_code, sum(cases) as cases
    from person_cases
    group by year, region_code, age_group_code

),

region_rows as (

    select year, region_code, prefecture_code, province_code, urban_rural
    from {{ ref('subj_population') }}

    union all

    select year, region_code, prefecture_code, province_code, urban_rural
    from person_cases

),

regions as (

    -- one row per year × county known to the warehouse (residents or cases)
    select
        year,
        region_code,
        max(prefecture_code) as prefecture_code,
        max(province_code) as province_code,
        max(urban_rural) as urban_rural
    from region_rows
    group by year, region_code

),

themes as (

    select theme_code
    from {{ ref('ref_life_event_themes') }}
    where applicant_type = 'person'

    union

    select theme_code from person_cases

    union

    select 'ALL' as theme_code

),

age_groups as (

    select age_group_code from {{ ref('subj_population') }}

    union

    select age_group_code from person_cases

),

strata as (

    -- one row per year × county × theme × age group, zero-filled
    select
        regions.year,
        regions.region_code,
        themes.theme_code,
        age_groups.age_group_code,
        coalesce(case_counts.cases, 0) as cases,
        coalesce(pop.population, 0) as population
    from regions
    cross join themes
    cross join age_groups
    left join case_counts
        on regions.year = case_counts.year
        and regions.region_code = case_counts.region_code
        and themes.theme_code = case_counts.theme_code
        and age_groups.age_group_code = case_counts.age_group_code
    left join {{ ref('subj_population') }} as pop
        on regions.year = pop.year
        and regions.region_code = pop.region_code
        and age_groups.age_group_code = pop.age_group_code

),

all_regions as (

    -- the warehouse as a whole: standard rates (per theme) and the standard population
    select
        year,
        theme_code,
        age_group_code,
        sum(cases) as cases_all,
        sum(population) as population_all
    from strata
    group by year, theme_code, age_group_code

),

weighted as (

    select
        strata.*,
        all_regions.cases_all,
        all_regions.population_all,
        sum(all_regions.population_all) over (
            partition by strata.year, strata.region_code, strata.theme_code
        ) as population_all_ages
    from strata
    inner join all_regions
        on strata.year = all_regions.year
        and strata.theme_code = all_regions.theme_code
        and strata.age_group_code = all_regions.age_group_code

),

standardised as (

    select
        year,
        region_code,
        theme_code,
        sum(cases) as cases,
        sum(population) as population,
        max(population_all_ages) as population_all_ages,
        -- age groups carrying standard weight but no residents here: rate undefined
        sum(case when population_all > 0 and population = 0 then 1 else 0 end)
            as undefined_strata,
        sum(
            case
                when population_all > 0 and population > 0
                    then cast(population_all as double) * cases / population
                else 0
            end
        ) as weighted_rate_numerator,
        sum(
            case
                when population_all > 0
                    then cast(cases_all as double) * population / population_all
                else 0
            end
        ) as expected_cases
    from weighted
    group by year, region_code, theme_code

)

select
    cast(standardised.year as integer) as year,
    cast(standardised.region_code as {{ dbt.type_string() }}) as region_code,
    cast(regions.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(regions.province_code as {{ dbt.type_string() }}) as province_code,
    cast(regions.urban_rural as {{ dbt.type_string() }}) as urban_rural,
    cast(standardised.theme_code as {{ dbt.type_string() }}) as theme_code,
    cast(standardised.cases as bigint) as cases,
    cast(standardised.population as bigint) as population,
    {{ subj_metric('crude_rate', 'standardised') }} as crude_rate,
    case
        when standardised.undefined_strata = 0 and standardised.population_all_ages > 0
            then standardised.weighted_rate_numerator * 1000 / standardised.population_all_ages
    end as age_standardised_rate,
    cast(standardised.expected_cases as double) as expected_cases,
    {{ subj_metric('standardised_ratio', 'standardised') }} as standardised_ratio,
    {{ subj_ratio('ci.mean_lower', 'standardised.expected_cases') }} as ratio_ci_low,
    {{ subj_ratio('ci.mean_upper', 'standardised.expected_cases') }} as ratio_ci_high
from standardised
inner join regions
    on standardised.year = regions.year
    and standardised.region_code = regions.region_code
left join {{ ref('subj_poisson_exact_ci') }} as ci
    on standardised.cases = ci.observed_cases
