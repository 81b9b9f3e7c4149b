{#-
    Service performance by submission month × service item × handling department × applicant
    county. Demand-side shares (visits) are over all cases; processing time and on-time over
    completed cases; satisfaction over rated cases. The *_cases counts beside each rate let any
    roll-up recompute the rate exactly; medians over a roll-up come from subj_processing_time.
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

with cases as (

    select *
    from {{ ref('fct_service_cases') }}
    where {{ in_changed_periods('submitted_month') }}

),

performance as (

    select
        cases.submitted_month as month,
        cases.submitted_year as year,
        cases.item_code,
        cases.category_code,
        cases.theme_code,
        cases.dept_name,
        cases.dept_region_code,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code,
        count(*) as cases,
        sum(case when cases.is_completed then 1 else 0 end) as completed_cases,
        {{ subj_percentile_cont('case when cases.is_completed then cases.working_days end', 0.5) }}
            as median_working_days,
        {{ subj_percentile_cont('case when cases.is_completed then cases.working_days end', 0.9) }}
            as p90_working_days,
        sum(case when cases.is_completed and cases.is_on_time then 1 else 0 end)
            as on_time_cases,
        sum(case when cases.is_zero_visit then 1 else 0 end) as zero_visit_cases,
        sum(case when cases.is_max_one_visit then 1 else 0 end) as max_one_visit_cases,
        sum(case when cases.is_rated then 1 else 0 end) as rated_cases,
        sum(case when cases.is_rated and cases.is_satisfied then 1 else 0 end)
            as satisfied_cases,
        sum(case when cases.is_rated and cases.is_bad_review then 1 else 0 end)
            as bad_review_cases,
        count(distinct cases.applicant_key) as distinct_applicants
    from cases
    group by
        cases.submitted_month,
        cases.submitted_year,
        cases.item_code,
        cases.category_code,
        cases.theme_code,
        cases.dept_name,
        cases.dept_region_code,
        cases.region_code,
        cases.prefecture_code,
        cases.province_code

),

final as (

    select
        cast(month as date) as month,
        cast(year as integer) as year,
        cast(item_code as {{ dbt.type_string() }}) as item_code,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(theme_code as {{ dbt.type_string() }}) as theme_code,
        cast(dept_name as {{ dbt.type_string() }}) as dept_name,
        cast(dept_region_code as {{ dbt.type_string() }}) as dept_region_code,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(province_code as {{ dbt.type_string() }}) as province_code,
        cast(cases as bigint) as cases,
        cast(completed_cases as bigint) as completed_cases,
        cast(median_working_days as double) as median_working_days,
        cast(p90_working_days as double) as p90_working_days,
        cast(on_time_cases as bigint) as on_time_cases,
        {{ subj_metric('on_time_rate') }} as on_time_rate,
        cast(zero_visit_cases as bigint) as zero_visit_cases,
        {{ subj_metric('zero_visit_rate') }} as zero_visit_rate,
        cast(max_one_visit_cases as bigint) as max_one_visit_cases,
        {{ subj_metric('max_one_visit_rate') }} as max_one_visit_rate,
        cast(rated_cases as bigint) as rated_cases,
        cast(satisfied_cases as bigint) as satisfied_cases,
        {{ subj_metric('satisfaction_rate') }} as satisfaction_rate,
        cast(bad_review_cases as bigint) as bad_review_cases,
        {{ subj_metric('bad_review_rate') }} as bad_review_rate,
        cast(distinct_applicants as bigint) as distinct_applicants
    from performance

)

select * from final
