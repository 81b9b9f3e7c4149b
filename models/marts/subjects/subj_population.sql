{#-
    Mid-year resident population by year × county × age group (the denominator of every
    natural-person demand rate), summed over sex from fct_population_midyear.
-#}
select
    cast(pop.year as integer) as year,
    cast(pop.region_code as {{ dbt.type_string() }}) as region_code,
    cast(pop.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(pop.province_code as {{ dbt.type_string() }}) as province_code,
    cast(pop.urban_rural as {{ dbt.type_string() }}) as urban_rural,
    cast(pop.age_group_code as {{ dbt.type_string() }}) as age_group_code,
    cast(sum(pop.population) as bigint) as population
from {{ ref('fct_population_midyear') }} as pop
group by
    pop.year,
    pop.region_code,
    pop.prefecture_code,
    pop.province_code,
    pop.urban_rural,
    pop.age_group_code
