{#-
    Processing-time histogram: completed cases by submission month × service item × applicant
    county × working days. Any median or percentile over any filter of months, items and
    counties is exact from these counts (expand the histogram, or walk its cumulative counts).
    Incremental by month: a run replaces the changed months only.
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
    where is_completed
        and {{ in_changed_periods('submitted_month') }}

),

final as (

    select
        cast(submitted_month as date) as month,
        cast(submitted_year as integer) as year,
        cast(item_code as {{ dbt.type_string() }}) as item_code,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(theme_code as {{ dbt.type_string() }}) as theme_code,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        cast(working_days as integer) as working_days,
        cast(count(*) as bigint) as completed_cases,
        cast(sum(case when is_on_time then 1 else 0 end) as bigint) as on_time_cases
    from source
    group by
        submitted_month,
        submitted_year,
        item_code,
        category_code,
        theme_code,
        region_code,
        prefecture_code,
        province_code,
        working_days

)

select * from final
