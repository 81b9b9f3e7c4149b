{#-
    One row per year x person resident on 1 July of that year: the person's latest register row
    with updated_at on or before 1 July says resident (常住); the person counts in that row's
    residence county, with age in completed years on 1 July (5-year band and planning group).
-#}
with source as (

    select * from {{ ref('stg_population__persons') }}

),

midyear as (

    select year, midyear_date from {{ ref('int_calendar__midyear_dates') }}

),

ranked as (

    select
        midyear.year,
        midyear.midyear_date,
        source.person_key,
        source.birth_date,
        source.sex,
        source.residence_region_code,
        source.status_code,
        row_number() over (
            partition by midyear.year, source.person_key
            order by source.updated_at desc, source._batch_id desc, source._source_row desc
        ) as row_rank
    from source
    inner join midyear
        on cast(source.updated_at as date) <= midyear.midyear_date

),

renamed as (

    select
        year,
        midyear_date,
        person_key,
        residence_region_code as region_code,
        sex,
        birth_date,
        {{ age_in_years('birth_date', 'midyear_date') }} as age
    from ranked
    where row_rank = 1
        and status_code = 'resident'
        and birth_date <= midyear_date

),

final as (

    select
        renamed.year,
        renamed.midyear_date,
        renamed.person_key,
        renamed.region_code,
        renamed.sex,
        renamed.birth_date,
        renamed.age,
        bands.band_code,
        groups.age_group_code
    from renamed
    left join {{ ref('ref_age_bands') }} as bands
        on renamed.age >= bands.age_from
        and (bands.age_to is null or renamed.age <= bands.age_to)
    left join {{ ref('ref_age_groups') }} as groups
        on groups.age_group_code <> 'NA'
        and renamed.age >= groups.age_from
        and (groups.age_to is null or renamed.age <= groups.age_to)

)

select * from final
