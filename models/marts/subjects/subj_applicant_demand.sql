{#-
    Cases per applicant × submission month × county × age group × category × theme × applicant
    type × channel (× industry section × size class for legal persons): the base from which the
    number of distinct applicants of any filtered set of cells is exact (distinct counts do not
    add up across cells). Holds the keyed hash of the applicant ID only, plus `applicant_id_int`,
    a BIGINT taken from the hash's first 60 bits (macro applicant_id_int) that the dashboard
    counts instead of the 64-character string. The rows of each month are written in
    (month, region_code) order so the engine's per-block min/max statistics (DuckDB zone maps)
    skip blocks outside a period. Incremental by month: a run replaces the changed months only.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='month',
        replace_also=changed_periods_replaced('month'),
        insert_order='month, region_code',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with source as (

    select *
    from {{ ref('int_demand__case_cells') }}
    where {{ in_changed_periods('month') }}

),

final as (

    select
        applicant_key,
        applicant_id_int,
        month,
        year,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        category_code,
        theme_code,
        applicant_type,
        channel_code,
        industry_section,
        size_class,
        cases
    from source

)

select * from final
order by month, region_code
