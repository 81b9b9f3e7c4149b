{#-
    subj_service_performance at the applicant's grain, for the dashboard's exact distinct
    counts: the performance counts of every applicant × submission month × service item ×
    handling department × applicant county (with the case's age group, sex, channel and
    industry), the applicant as its stable number (`applicant_seq`, dash_applicant_ids). Summing
    the counts over any filtered set of rows gives subj_service_performance's numbers; counting
    the distinct `applicant_seq` of the same rows gives the exact number of distinct applicants
    behind any item, department or item × department cell of any period and region, which the
    dashboard's suppression rule needs (subj_service_performance's per-row distinct counts do
    not add up). Incremental by month (strategy replace_keys) like dash_applicant_demand: a
    run replaces the changed months, and every stored month written with another numbering
    (dash_applicant_ids rebuilt from scratch since). Rows of each month are written in
    (month, region_code) order so that period filters skip whole row groups (zone maps).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='month',
        replace_also=changed_periods_replaced('month'),
        insert_order='month, region_code',
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with applicants as (

    select applicant_key, applicant_seq, _changed_invocation_id
    from {{ ref('dash_applicant_ids') }}

),

-- which numbering the rows are written with: the run that wrote applicant number 0 (a rebuild
-- from scratch of dash_applicant_ids rewrites it)
numbering as (

    select
        coalesce((
            select max(applicants._changed_invocation_id) from applicants
            where applicants.applicant_seq = 0
        ), '') as numbering_id

),

{% if is_incremental() -%}
-- stored months written with another numbering: their numbers mean nothing now
renumbered_months as (

    select distinct stored.month
    from {{ this }} as stored
    where stored._numbering_id is distinct from (select numbering.numbering_id from numbering)

),

{% endif -%}
source as (

    select *
    from {{ ref('fct_service_cases') }}
    where {{ in_changed_periods('submitted_month') }}
        {%- if is_incremental() %}
        or submitted_month in (select renumbered_months.month from renumbered_months)
        {%- endif %}

),

renamed as (

    select
        applicant_key,
        submitted_month as month,
        submitted_year as year,
        item_code,
        category_code,
        theme_code,
        dept_name,
        dept_region_code,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        channel_code,
        coalesce(sex, 'NA') as sex,
        coalesce(industry_section, 'NA') as industry_section,
        case when is_completed then 1 else 0 end as is_completed,
        case when is_completed and is_on_time then 1 else 0 end as is_on_time,
        case when is_zero_visit then 1 else 0 end as is_zero_visit,
        case when is_max_one_visit then 1 else 0 end as is_max_one_visit,
        case when is_rated then 1 else 0 end as is_rated,
        case when is_rated and is_satisfied then 1 else 0 end as is_satisfied,
        case when is_rated and is_bad_review then 1 else 0 end as is_bad_review
    from source

),

performance as (

    select
        applicant_key,
        month,
        year,
        item_code,
        category_code,
        theme_code,
        dept_name,
        dept_region_code,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        sex,
        channel_code,
        industry_section,
        count(*) as cases,
        sum(is_completed) as completed_cases,
        sum(is_on_time) as on_time_cases,
        sum(is_zero_visit) as zero_visit_cases,
        sum(is_max_one_visit) as max_one_visit_cases,
        sum(is_rated) as rated_cases,
        sum(is_satisfied) as satisfied_cases,
        sum(is_bad_review) as bad_review_cases
    from renamed
    group by
        applicant_key,
        month,
        year,
        item_code,
        category_code,
        theme_code,
        dept_name,
        dept_region_code,
        region_code,
        prefecture_code,
        province_code,
        urban_rural,
        age_group_code,
        sex,
        channel_code,
        industry_section

),

final as (

    select
        applicants.applicant_seq,
        cast(performance.month as date) as month,
        cast(performance.year as integer) as year,
        cast(performance.item_code as {{ dbt.type_string() }}) as item_code,
        cast(performance.category_code as {{ dbt.type_string() }}) as category_code,
        cast(performance.theme_code as {{ dbt.type_string() }}) as theme_code,
        cast(performance.dept_name as {{ dbt.type_string() }}) as dept_name,
        cast(performance.dept_region_code as {{ dbt.type_string() }}) as dept_region_code,
        cast(performance.region_code as {{ dbt.type_string() }}) as region_code,
        cast(performance.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
        cast(performance.province_code as {{ dbt.type_string() }}) as province_code,
        cast(performance.urban_rural as {{ dbt.type_string() }}) as urban_rural,
        cast(performance.age_group_code as {{ dbt.type_string() }}) as age_group_code,
        cast(performance.sex as {{ dbt.type_string() }}) as sex,
        cast(performance.channel_code as {{ dbt.type_string() }}) as channel_code,
        cast(performance.industry_section as {{ dbt.type_string() }}) as industry_section,
        cast(performance.cases as integer) as cases,
        cast(performance.completed_cases as integer) as completed_cases,
        cast(performance.on_time_cases as integer) as on_time_cases,
        cast(performance.zero_visit_cases as integer) as zero_visit_cases,
        cast(performance.max_one_visit_cases as integer) as max_one_visit_cases,
        cast(performance.rated_cases as integer) as rated_cases,
        cast(performance.satisfied_cases as integer) as satisfied_cases,
        cast(performance.bad_review_cases as integer) as bad_review_cases,
        cast(numbering.numbering_id as {{ dbt.type_string() }}) as _numbering_id
    from performance
    cross join numbering
    left join applicants on performance.applicant_key = applicants.applicant_key

)

select * from final
order by month, region_code
