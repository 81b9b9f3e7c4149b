{#-
    One row per landed case state change (case x batch row), minus rows the raw suites
    quarantined. Raw enumerations become codes, retired region codes their successors, the
    applicant ID a keyed hash (birth date and sex derived first); names and phones are dropped.
    A table, not a view: the keyed hash must not leave its key material in a view definition.
    Incremental by batch: landed batches are immutable, so a build stages only the batches
    not staged yet (macro unstaged_batches) and appends them, stamped with the run's id.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns'
    )
}}

{%- set batch_filter = unstaged_batches(source('approval', 'cases')) %}

with source as (

    {{ accepted_landed_rows(source('approval', 'cases'), batch_filter) }}

),

person_enums as (

    select enum, value_zh, value_code from {{ ref('ref_person_enums') }}

),

region_codes as (

    select retired_code, current_code from {{ ref('stg_reference__region_current_codes') }}

),

renamed as (

    select
        trim(source.case_id) as case_id,
        trim(source.item_code) as item_code,
        applicant_types.value_code as applicant_type,
        {{ keyed_hash('upper(trim(source.applicant_id))') }} as applicant_key,
        case
            when applicant_types.value_code = 'person'
                then {{ resident_id_birth_date('upper(trim(source.applicant_id))') }}
        end as applicant_birth_date,
        sexes.value_code as applicant_sex,
        coalesce(residence_changes.current_code, trim(source.residence_region))
            as residence_region_code,
        trim(source.dept_name) as dept_name,
        coalesce(dept_changes.current_code, trim(source.dept_region)) as dept_region_code,
        channels.channel_code,
        source.submitted_at,
        source.accepted_at,
        source.completed_at,
        statuses.status_code,
        outcomes.value_code as outcome_code,
        source.promised_days,
        source.visits,
        case elicence.value_code when 'true' then true when 'false' then false end
            as elicence_reused,
        source.rating,
        source.updated_at,
        source._batch_id,
        source._source_file,
        source._source_row,
        source._loaded_at,
        {{ this_run_id() }} as _changed_invocation_id
    from source
    left join person_enums as applicant_types
        on applicant_types.enum = 'applicant_type'
        and source.applicant_type = applicant_types.value_zh
    left join person_enums as sexes
        on sexes.enum = 'sex'
        and applicant_types.value_code = 'person'
        and sexes.value_zh = {{ resident_id_sex_zh('upper(trim(source.applicant_id))') }}
    left join person_enums as outcomes
        on outcomes.enum = 'outcome'
        and source.outcome = outcomes.value_zh
    left join person_enums as elicence
        on elicence.enum = 'elicence_reused'
        and source.elicence_reused = elicence.value_zh
    left join {{ ref('ref_channels') }} as channels
        on source.channel = channels.channel_name_zh
    left join {{ ref('ref_case_statuses') }} as statuses
        on source.status = statuses.status_name_zh
    left join region_codes as residence_changes
        on residence_changes.retired_code = trim(source.residence_region)
    left join region_codes as dept_changes
        on dept_changes.retired_code = trim(source.dept_region)

),

final as (

    select * from renamed

)

select * from final
