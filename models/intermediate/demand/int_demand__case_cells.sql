{#-
    Grain: one row per applicant (keyed hash) × submission month × applicant county × age group
    × catalog category × life-event theme × applicant type × channel × industry section × size
    class. The one projection of fct_service_cases onto the demand dimensions (region with its
    roll-up codes and urban/rural class, age group, service type, channel with its online flag,
    enterprise industry and size) that subj_applicant_demand, subj_service_demand,
    subj_enterprise_demand and subj_digital_divide aggregate; distinct-applicant counts over any
    of their cells are exact from it.
    Incremental by submission month (macros/incremental/): a run rebuilds only
    the months listed in int_cases__changed_months.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='month',
        replace_also=changed_periods_replaced('month'),
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with source as (

    select *
    from {{ ref('fct_service_cases') }}
    where {{ in_changed_periods('submitted_month') }}

),

renamed as (

    select
        applicant_key,
        submitted_month as month,
        submitted_year as year,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        category_code,
        theme_code,
        applicant_type,
        channel_code,
        is_online,
        coalesce(industry_section, 'NA') as industry_section,
        coalesce(size_class, 'NA') as size_class
    from source

),

final as (

    select
        cast(applicant_key as {{ dbt.type_string() }}) as applicant_key,
        cast({{ applicant_id_int('applicant_key') }} as bigint) as applicant_id_int,
        cast(month as date) as month,
        cast(year as {{ dbt.type_int() }}) as year,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        cast(urban_rural as {{ dbt.type_string() }}) as urban_rural,
        cast(age_group_code as {{ dbt.type_string() }}) as age_group_code,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(theme_code as {{ dbt.type_string() }}) as theme_code,
        cast(applicant_type as {{ dbt.type_string() }}) as applicant_type,
        cast(channel_code as {{ dbt.type_string() }}) as channel_code,
        cast(is_online as {{ dbt.type_boolean() }}) as is_online,
        cast(industry_section as {{ dbt.type_string() }}) as industry_section,
        cast(size_class as {{ dbt.type_string() }}) as size_class,
        cast(count(*) as bigint) as cases
    from renamed
    group by
        applicant_key,
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
        is_online,
        industry_section,
        size_class

)

select * from final
