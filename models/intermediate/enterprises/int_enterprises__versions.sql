{#-
    One row per enterprise x register version: the register rows of an enterprise in
    updated_at order (identical re-sent rows collapsed), each valid from its updated_at until
    the next version. The first version is also taken as valid before it (valid_from NULL), so
    a case submitted before the register's first row still finds its enterprise.
-#}
with source as (

    select * from {{ ref('stg_enterprise__enterprises') }}

),

deduplicated as (

    select
        source.*,
        row_number() over (
            partition by enterprise_key, updated_at
            order by _batch_id desc, _source_row desc
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
        next_updated_at is null as is_current
    from renamed

)

select * from final
