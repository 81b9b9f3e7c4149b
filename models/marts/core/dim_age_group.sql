{#- One row per planning age group (00-14 ... 75+, and NA for legal persons). -#}
with source as (

    select * from {{ ref('ref_age_groups') }}

),

final as (

    select
        age_group_code,
        cast(age_from as {{ dbt.type_int() }}) as age_from,
        cast(age_to as {{ dbt.type_int() }}) as age_to,
        cast(group_order as {{ dbt.type_int() }}) as group_order,
        name_zh,
        name_en
    from source

)

select * from final
