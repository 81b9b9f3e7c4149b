{#- One row per service item of the catalog, with its category and life-event theme. -#}
with source as (

    select * from {{ ref('ref_service_items') }}

),

renamed as (

    select
        cast(item_code as {{ dbt.type_string() }}) as item_code,
        item_name_zh,
        item_name_en,
        category_code,
        theme_code,
        department,
        applicant_type,
        cast(promised_days as {{ dbt.type_int() }}) as promised_days,
        cast(statutory_days as {{ dbt.type_int() }}) as statutory_days,
        cast(online_capable as {{ dbt.type_boolean() }}) as online_capable
    from source

),

final as (

    select
        renamed.*,
        categories.category_name_zh,
        categories.category_name_en,
        themes.theme_name_zh,
        themes.theme_name_en
    from renamed
    left join {{ ref('ref_service_categories') }} as categories
        on renamed.category_code = categories.category_code
    left join {{ ref('ref_life_event_themes') }} as themes
        on renamed.theme_code = themes.theme_code

)

select * from final
