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
            partition by source.person_key, source.updated_at
            order by source._batch_id desc, source._source_row desc
        ) as duplicate_rank
    from source
    where source.person_key is not null

),

versioned as (

    select
        deduplicated.person_key,
        deduplicated.residence_region_code,
        deduplicated.status_code,
        deduplicated.status_date,
        deduplicated.updated_at,
        row_number() over (
            partition by deduplicated.person_key order by deduplicated.updated_at
        ) as version_number,
        lead(deduplicated.updated_at) over (
            partition by deduplicated.person_key order by deduplicated.updated_at
        ) as next_updated_at,
        min(
            case
                when deduplicated.status_code = 'deceased'
                    then coalesce(deduplicated.status_date, cast(deduplicated.updated_at as date))
            end
        ) over (partition by deduplicated.person_key) as deceased_date
    from deduplicated
    where deduplicated.duplicate_rank = 1

),

renamed as (

    select
        versioned.person_key,
        versioned.version_number,
        versioned.next_updated_at as valid_to,
        versioned.residence_region_code,
        versioned.status_code,
        versioned.status_date,
        versioned.deceased_date,
        versioned.updated_at,
        case when versioned.version_number > 1 then versioned.updated_at end as valid_from,
        versioned.next_updated_at is null as is_current
    from versioned

),

final as (

    select
        renamed.person_key,
        renamed.version_number,
        renamed.valid_from,
        renamed.valid_to,
        renamed.residence_region_code,
        renamed.status_code,
        renamed.status_date,
        renamed.deceased_date,
        renamed.updated_at,
        renamed.is_current
    from renamed

)

select * from final
