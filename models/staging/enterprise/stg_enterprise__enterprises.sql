{#-
    One row per landed enterprise-register row (enterprise x change), minus rows the raw suites
    quarantined. The credit code becomes a keyed hash (enterprise_key, equal to the cases'
    applicant_key): individual businesses (个体工商户) can identify a person, so no credit
    code or name is kept. Enumerations become codes, retired region codes their successors.
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

{%- set batch_filter = unstaged_batches(source('enterprise', 'enterprises')) %}

with source as (

    {{ accepted_landed_rows(source('enterprise', 'enterprises'), batch_filter) }}

),

enterprise_enums as (

    select enum, value_zh, value_code from {{ ref('ref_enterprise_enums') }}

),

region_codes as (

    select retired_code, current_code from {{ ref('stg_reference__region_current_codes') }}

),

renamed as (

    select
        {{ keyed_hash('upper(trim(source.credit_code))') }} as enterprise_key,
        legal_forms.value_code as legal_form_code,
        upper(trim(source.industry)) as industry_section,
        sizes.value_code as size_class,
        source.registered_capital,
        source.established_date,
        source.closed_date,
        statuses.value_code as status_code,
        coalesce(region_changes.current_code, trim(source.region)) as region_code,
        source.updated_at,
        source._batch_id,
        source._source_file,
        source._source_row,
        source._loaded_at,
        {{ this_run_id() }} as _changed_invocation_id
    from source
    left join enterprise_enums as legal_forms
        on legal_forms.enum = 'legal_form'
        and source.legal_form = legal_forms.value_zh
    left join enterprise_enums as sizes
        on sizes.enum = 'size_class'
        and source.size_class = sizes.value_zh
    left join enterprise_enums as statuses
        on statuses.enum = 'status'
        and source.status = statuses.value_zh
    left join region_codes as region_changes
        on region_changes.retired_code = trim(source.region)

),

final as (

    select * from renamed

)

select * from final
