{#-
    One row per case (its latest state): what was applied for, by whom (keyed hash only),
    where, through which channel, how it was handled. Natural persons are placed in their
    residence county with age and sex from the resident ID; legal persons in the enterprise's
    registered county (register version valid at submission), age group NA.
    Incremental (strategy replace_keys on case_id; every case has exactly one row): a build
    rewrites only the cases whose latest state changed in this run and the legal-person cases
    whose placement (int_cases__enterprise_placement) changed in this run. A change of a
    dimension or mapping seed needs `subjectdb build --full-refresh`.
-#}
{{
    config(
        materialized='incremental',
        unique_key='case_id',
        incremental_strategy='replace_keys',
        on_schema_change='fail'
    )
}}

with source as (

    select * from {{ ref('int_cases__latest') }}
    {%- if is_incremental() %}
    where {{ changed_in_this_run() }}
        or case_id in (
            select case_id from {{ ref('int_cases__enterprise_placement') }}
            where {{ changed_in_this_run() }}
        )
    {%- endif %}

),

items as (

    select item_code, category_code, theme_code, promised_days
    from {{ ref('dim_service_item') }}

),

placements as (

    select case_id, enterprise_region_code, industry_section, size_class
    from {{ ref('int_cases__enterprise_placement') }}

),

renamed as (

    select
        source.*,
        cast(source.submitted_at as date) as submitted_date,
        case
            when source.applicant_type = 'person'
                then {{ age_in_years(
                    'source.applicant_birth_date', 'cast(source.submitted_at as date)'
                ) }}
        end as age_at_submission,
        placements.enterprise_region_code,
        placements.industry_section,
        placements.size_class
    from source
    left join placements
        on source.applicant_type = 'enterprise'
        and source.case_id = placements.case_id

),

-- the planning age group of each age that occurs: a small range join over the distinct ages,
-- so the cases join it on equality (a range join per case is a nested loop)
age_groups as (

    select ages.age_at_submission, groups.age_group_code
    from (
        select distinct age_at_submission
        from renamed
        where applicant_type = 'person' and age_at_submission is not null
    ) as ages
    inner join {{ ref('dim_age_group') }} as groups
        on groups.age_group_code <> 'NA'
        and ages.age_at_submission >= groups.age_from
        and (groups.age_to is null or ages.age_at_submission <= groups.age_to)

),

final as (

    select
        renamed.case_id,
        renamed.item_code,
        items.category_code,
        items.theme_code,
        renamed.applicant_type,
        renamed.applicant_key,
        regions.region_code,
        regions.prefecture_code,
        regions.province_code,
        regions.urban_rural,
        renamed.dept_name,
        renamed.dept_region_code,
        renamed.channel_code,
        cast(channels.is_online as {{ dbt.type_boolean() }}) as is_online,
        renamed.submitted_at,
        renamed.submitted_date,
        {{ month_start('renamed.submitted_date') }} as submitted_month,
        cast(extract(year from renamed.submitted_date) as {{ dbt.type_int() }}) as submitted_year,
        renamed.accepted_at,
        renamed.completed_at,
        renamed.status_code,
        cast(statuses.is_completed as {{ dbt.type_boolean() }}) as is_completed,
        renamed.outcome_code,
        coalesce(renamed.promised_days, items.promised_days) as promised_days,
        processing.working_days,
        processing.working_days <= coalesce(renamed.promised_days, items.promised_days)
            as is_on_time,
        renamed.visits,
        renamed.visits = 0 as is_zero_visit,
        renamed.visits <= 1 as is_max_one_visit,
        renamed.elicence_reused,
        renamed.rating,
        renamed.rating is not null as is_rated,
        cast(ratings.is_satisfied as {{ dbt.type_boolean() }}) as is_satisfied,
        cast(ratings.is_bad as {{ dbt.type_boolean() }}) as is_bad_review,
        renamed.age_at_submission,
        case
            when renamed.applicant_type = 'enterprise' then 'NA'
            else age_groups.age_group_code
        end as age_group_code,
        renamed.applicant_sex as sex,
        renamed.industry_section,
        renamed.size_class,
        renamed.updated_at,
        renamed._batch_id,
        {{ this_run_id() }} as _changed_invocation_id
    from renamed
    left join items on renamed.item_code = items.item_code
    left join {{ ref('dim_region') }} as regions
        on regions.region_code = case
            when renamed.applicant_type = 'enterprise'
                then coalesce(renamed.enterprise_region_code, renamed.residence_region_code)
            else renamed.residence_region_code
        end
    left join {{ ref('dim_channel') }} as channels
        on renamed.channel_code = channels.channel_code
    left join {{ ref('ref_case_statuses') }} as statuses
        on renamed.status_code = statuses.status_code
    left join {{ ref('int_cases__processing_time') }} as processing
        on renamed.case_id = processing.case_id
    left join {{ ref('ref_ratings') }} as ratings
        on renamed.rating = ratings.rating
    left join age_groups
        on renamed.applicant_type = 'person'
        and renamed.age_at_submission = age_groups.age_at_submission

)

select * from final
