{#-
    One row per enterprise: its latest register version. The source of the SCD2 snapshot
    snap_enterprises, which keeps the history across builds.
-#}
with source as (

    select * from {{ ref('int_enterprises__versions') }}

),

final as (

    select
        enterprise_key,
        legal_form_code,
        industry_section,
        size_class,
        registered_capital,
        established_date,
        closed_date,
        status_code,
        region_code,
        updated_at,
        _batch_id
    from source
    where is_current

)

select * from final
