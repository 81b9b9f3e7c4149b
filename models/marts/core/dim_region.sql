{#- One row per GB/T 2260 region (province, prefecture or county): hierarchy and urban/rural. -#}
with source as (

    select * from {{ ref('ref_regions') }}

),

renamed as (

    select
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        region_name,
        level,
        cast(parent_code as {{ dbt.type_string() }}) as parent_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        urban_rural,
        longitude,
        latitude
    from source

),

final as (

    select
        renamed.region_code,
        renamed.region_name,
        renamed.level,
        renamed.parent_code,
        renamed.prefecture_code,
        prefectures.region_name as prefecture_name,
        renamed.province_code,
        provinces.region_name as province_name,
        renamed.urban_rural,
        renamed.longitude,
        renamed.latitude
    from renamed
    left join renamed as prefectures on renamed.prefecture_code = prefectures.region_code
    left join renamed as provinces on renamed.province_code = provinces.region_code

)

select * from final
