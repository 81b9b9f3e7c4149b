{#-
    One row per person x population-register version: the register rows of a person in
    updated_at order (identical re-sent rows collapsed), each valid from its updated_at until
    the next version; the first version is also taken as valid before it (valid_from NULL),
    as int_enterprises__versions does for enterprises. deceased_date is the earliest status
    date of a row saying deceased, on every version of that person. The base of the
    cross-verification of cases and of the sharing API's resident-ID verification.
-#}
with source as (

    select * from {{ ref('stg_population__persons') }}

),

deduplicated as (

    select
        source.*,
        row_number() over (
            partition by person_key, updated_at
            order by _batch_id desc, _source_row desc
        ) as duplicate_rank
    from source
    where person_key is not null

),

versioned as (

    select
        person_key,
        residence_region_code,
        status_code,
        status_date,
        updated_at,
        row_number() over (partition by person_key order by updated_at) as version_number,
        lead(updated_at) over (partition by person_key order by updated_at) as next_updated_at,
        min(case when status_code = 'deceased' then coalesce(status_date, cast(updated_at as date)) end)
            over (partition by person_key) as deceased_date
    from deduplicated
    where duplicate_rank = 1

),

final as (

    select
        person_key,
        version_number,
        case when version_number > 1 then updated_at end as valid_from,
        next_updated_at as valid_to,
        residence_region_code,
        status_code,
        status_date,
        deceased_date,
        updated_at,
        next_updated_at is null as is_current
    from versioned

)

select * from final
