{#-
    Population pyramid: mid-year residents by year × county × 5-year census band × sex, with
    the band's order and planning age group, so the dashboard reads pyramids from a subject
    table (readers never query the facts).
-#}
select
    cast(bands.year as integer) as year,
    cast(bands.region_code as {{ dbt.type_string() }}) as region_code,
    cast(bands.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(bands.province_code as {{ dbt.type_string() }}) as province_code,
    cast(bands.urban_rural as {{ dbt.type_string() }}) as urban_rural,
    cast(bands.band_code as {{ dbt.type_string() }}) as band_code,
    cast(ref_bands.band_order as integer) as band_order,
    cast(bands.age_group_code as {{ dbt.type_string() }}) as age_group_code,
    cast(bands.sex as {{ dbt.type_string() }}) as sex,
    cast(bands.population as bigint) as population
from {{ ref('fct_population_midyear_bands') }} as bands
left join {{ ref('ref_age_bands') }} as ref_bands
    on bands.band_code = ref_bands.band_code
