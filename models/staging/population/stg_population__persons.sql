{#-
    One row per landed population-register row (person x change), minus rows the raw suites
    quarantined. The resident ID becomes a keyed hash (person_key); names and phones are
    dropped; enumerations become codes and retired region codes their successors.
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

{%- set batch_filter = unstaged_batches(source('population', 'persons')) %}

with source as (

    {{ accepted_landed_rows(source('population', 'persons'), batch_filter) }}

),

person_enums as (

    select enum, value_zh, value_code from {{ ref('ref_person_enums') }}

),

region_codes as (

    select retired_code, current_code from {{ ref('stg_reference__region_current_codes') }}

),

renamed as (

    select
        {{ keyed_hash('upper(trim(source.person_id))') }} as person_key,
        coalesce(
            source.birth_date,
            {{ resident_id_birth_date('upper(trim(source.person_id))') }}
        ) as birth_date,
        coalesce(sexes.value_code, id_sexes.value_code) as sex,
        coalesce(hukou_changes.current_code, trim(source.hukou_region)) as hukou_region_code,
        coalesce(residence_changes.current_code, trim(source.residence_region))
            as residence_region_code,
        statuses.value_code as status_code,
        source.status_date,
        source.updated_at,
        source._batch_id,
        source._source_file,
        source._source_row,
        source._loaded_at,
        {{ this_run_id() }} as _changed_invocation_id
    from source
    left join person_enums as sexes
        on sexes.enum = 'sex'
        and source.sex = sexes.value_zh
    left join person_enums as id_sexes
        on id_sexes.enum = 'sex'
        and id_sexes.value_zh = {{ resident_id_sex_zh('upper(trim(source.person_id))') }}
    left join person_enums as statuses
        on statuses.enum = 'status'
        and source.status = statuses.value_zh
    left join region_codes as hukou_changes
        on hukou_changes.retired_code = trim(source.hukou_region)
    left join region_codes as residence_changes
        on residence_changes.retired_code = trim(source.residence_region)

),

final as (

    select * from renamed

)

select * from final
