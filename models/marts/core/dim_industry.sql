{#- One row per GB/T 4754-2017 industry section (A-T). -#}
with source as (

    select * from {{ ref('ref_industries') }}

),

final as (

    select
        industry_section,
        name_zh,
        name_en
    from source

)

select * from final
