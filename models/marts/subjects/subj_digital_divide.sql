{#-
    Digital divide: cases by year × applicant county (with its urban/rural class) × age group ×
    channel, for natural persons (age groups) and legal persons (age group 'NA') alike.
    A cell is year × county × age group; channel_share = the channel's cases / all cases of the
    cell, online_share = web + mobile-app cases of the cell / all cases of the cell.
    Incremental by year: a run replaces the years of the changed months.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='year',
        replace_also=changed_periods_replaced('year'),
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with case_cells as (

    select *
    from {{ ref('int_demand__case_cells') }}
    where {{ in_changed_periods('year', 'year') }}

),

channels as (

    select
        year,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        applicant_type,
        channel_code,
        is_online,
        sum(cases) as cases,
        count(distinct applicant_key) as distinct_applicants
    from case_cells
    group by
        year,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        applicant_type,
        channel_code,
        is_online

),

cells as (

    select
        channels.*,
        sum(channels.cases) over (
            partition by channels.year, channels.region_code, channels.age_group_code
        ) as cell_cases,
        sum(case when channels.is_online then channels.cases else 0 end) over (
            partition by channels.year, channels.region_code, channels.age_group_code
        ) as cell_online_cases
    from channels

),

final as (

    select
        cast(year as integer) as year,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        cast(urban_rural as {{ dbt.type_string() }}) as urban_rural,
        cast(age_group_code as {{ dbt.type_string() }}) as age_group_code,
        cast(applicant_type as {{ dbt.type_string() }}) as applicant_type,
        cast(channel_code as {{ dbt.type_string() }}) as channel_code,
        cast(is_online as boolean) as is_online,
        cast(cases as bigint) as cases,
        cast(distinct_applicants as bigint) as distinct_applicants,
        cast(cell_cases as bigint) as cell_cases,
        cast(cell_online_cases as bigint) as cell_online_cases,
        {{ subj_metric('channel_share') }} as channel_share,
        {{ subj_metric('online_share') }} as online_share
    from cells

)

select * from final
