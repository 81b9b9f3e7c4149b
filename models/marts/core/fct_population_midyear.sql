{#-
    One row per year x county x planning age group x sex: residents on 1 July (the demand-rate
    denominator). Only non-empty cells are stored.
-#}
with source as (

    select * from {{ ref('int_persons__midyear_residents') }}

),

counted as (

    select
        year,
        region_code,
        age_group_code,
        sex,
        count(*) as population
    from source
    group by year, region_code, age_group_code, sex

),

final as (

    select
        counted.year,
        counted.region_code,
        regions.prefecture_code,
        regions.province_code,
        regions.urban_rural,
        counted.age_group_code,
        counted.sex,
        counted.population
    from counted
    left join {{ ref('dim_region') }} as regions
        on counted.region_code = regions.region_code

)

select * from final
