{#-
    The 5-year band table and the planning-group table count the same residents:
    per year x county x sex x age group, the bands sum to the group's population.
-#}
with groups as (

    select year, region_code, sex, age_group_code, sum(population) as population
    from {{ ref('fct_population_midyear') }}
    group by year, region_code, sex, age_group_code

),

bands as (

    select year, region_code, sex, age_group_code, sum(population) as population
    from {{ ref('fct_population_midyear_bands') }}
    group by year, region_code, sex, age_group_code

)

select
    groups.population as group_population,
    bands.population as band_population,
    coalesce(groups.year, bands.year) as year,
    coalesce(groups.region_code, bands.region_code) as region_code,
    coalesce(groups.sex, bands.sex) as sex,
    coalesce(groups.age_group_code, bands.age_group_code) as age_group_code
from groups
full outer join bands
    on groups.year = bands.year
    and groups.region_code = bands.region_code
    and groups.sex = bands.sex
    and groups.age_group_code = bands.age_group_code
where groups.population is null
    or bands.population is null
    or groups.population <> bands.population
