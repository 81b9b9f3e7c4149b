{#- One row per service channel (web, app, window, kiosk, post). -#}
with source as (

    select * from {{ ref('ref_channels') }}

),

final as (

    select
        channel_code,
        channel_name_zh,
        channel_name_en,
        cast(is_online as {{ dbt.type_boolean() }}) as is_online
    from source

)

select * from final
