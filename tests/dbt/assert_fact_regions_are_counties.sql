{#-
    Cases, residents and enterprises are placed in counties (current GB/T 2260 codes), never in
    a prefecture or province: returns every fact row whose region is not a county.
-#}
with placed as (

    select 'fct_service_cases' as fact, region_code, count(*) as n_rows
    from {{ ref('fct_service_cases') }}
    group by region_code

    union all

    select 'fct_population_midyear' as fact, region_code, count(*) as n_rows
    from {{ ref('fct_population_midyear') }}
    group by region_code

    union all

    select 'fct_enterprise_midyear' as fact, region_code, count(*) as n_rows
    from {{ ref('fct_enterprise_midyear') }}
    group by region_code

)

select placed.fact, placed.region_code, regions.level, placed.n_rows
from placed
left join {{ ref('dim_region') }} as regions
    on placed.region_code = regions.region_code
where regions.level is null or regions.level <> 'county'
