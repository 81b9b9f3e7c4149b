{#-
    One row per enterprise x register version: the register rows of an enterprise in
    updated_at order (identical re-sent rows collapsed), each valid from its updated_at until
    the next version. The first version is also taken as valid before it (valid_from NULL), so
    a case submitted before the register's first row still finds its enterprise.
    Incremental by enterprise: a build recomputes every version of the enterprises with
    register rows landed since the previous build (or from batches it has not seen) from all
    their staged rows, and replaces their stored versions (strategy replace_keys on
    enterprise_key; every enterprise keeps at least one version, so none is left stale). Rows written by this
    run carry its id in _changed_invocation_id: the cases of those enterprises are re-placed
    in fct_service_cases.
-#}
{{
    config(
        materialized='incremental',
        unique_key='enterprise_key',
        incremental_strategy='replace_keys',
        on_schema_change='append_new_columns'
    )
}}

with staged as (

    select * from {{ ref('stg_enterprise__enterprises') }}

),

{% if is_incremental() %}
changed_enterprises as (

    select distinct enterprise_key
    from staged
    where _loaded_at > (
            select max({{ stored_column_or_null('_loaded_at', 'timestamp') }}) from {{ this }}
        )
        or _batch_id not in (select distinct _batch_id from {{ this }})
        -- a warehouse built before _loaded_at was kept here: recompute every enterprise once
        or (
            select max({{ stored_column_or_null('_loaded_at', 'timestamp') }}) from {{ this }}
        ) is null

),
{% endif %}

source as (

    select * from staged
    {% if is_incremental() %}
    where enterprise_key in (select enterprise_key from changed_enterprises)
    {% endif %}

),

deduplicated as (

    select
        source.*,
        row_number() over (
            partition by source.enterprise_key, source.updated_at
            order by source._batch_id desc, source._source_row desc
        ) as duplicate_rank
    from source

),

renamed as (

    select
        enterprise_key,
        legal_form_code,
        industry_section,
        size_class,
        registered_capital,
        established_date,
        closed_date,
        status_code,
        region_code,
        updated_at,
        _batch_id,
        _loaded_at,
        row_number() over (partition by enterprise_key order by updated_at) as version_number,
        lead(updated_at) over (partition by enterprise_key order by updated_at) as next_updated_at
    from deduplicated
    where duplicate_rank = 1

),

final as (

    select
        enterprise_key,
        version_number,
        case when version_number > 1 then updated_at end as valid_from,
        next_updated_at as valid_to,
        legal_form_code,
        industry_section,
        size_class,
        registered_capital,
        established_date,
        closed_date,
        status_code,
        region_code,
        updated_at,
        _batch_id,
        next_updated_at is null as is_current,
        _loaded_at,
        {{ this_run_id() }} as _changed_invocation_id
    from renamed

)

select * from final
