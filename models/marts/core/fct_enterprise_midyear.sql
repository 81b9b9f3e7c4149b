{#-
    One row per year x county x industry section x size class: enterprises active on 1 July
    (the enterprise demand-rate denominator). Only non-empty cells are stored.
-#}
with source as (

    select * from {{ ref('int_enterprises__midyear_active') }}

),

counted as (

    select
        year,
        region_code,
        industry_section,
        size_class,
        count(*) as active_enterprises
    from source
    group by year, region_code, industry_section, size_class

),

final as (

    select
        counted.year,
        counted.region_code,
        regions.prefecture_code,
        regions.province_code,
        counted.industry_section,
        counted.size_class,
        counted.active_enterprises
    from counted
    left join {{ ref('dim_region') }} as regions
        on counted.region_code = regions.region_code

)

select * from final
