{#-
    One row per year x person resident on 1 July of that year: the person's latest register row
    with updated_at on or before 1 July says resident (常住); the person counts in that row's
    residence county, with age in completed years on 1 July (5-year band and planning group).
    Incremental (the daily path, strategy replace_keys on person × year): a run computes the
    rows of the persons with register rows staged in this run (their staging stamp, so it does
    not depend on this table) for every year, and every person's rows for years the table does
    not hold yet; it replaces those persons' rows (every year: a person who is no longer
    resident so loses their rows, as in a full build) and drops the years no longer in the
    data.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key=['person_key', 'year'],
        replace_also=[
            {'column': 'person_key', 'in': 'stg_population__persons',
             'where': '__changed_in_this_run__'},
            {'column': 'year', 'not_in': 'int_calendar__midyear_dates'},
        ],
        on_schema_change='fail'
    )
}}

with midyear as (

    select year, midyear_date from {{ ref('int_calendar__midyear_dates') }}

),

{% if is_incremental() %}
changed_persons as (

    select distinct person_key
    from {{ ref('stg_population__persons') }}
    where {{ changed_in_this_run() }}

),

new_years as (

    select year from midyear
    where year not in (select distinct year from {{ this }})

),
{% endif %}

source as (

    select * from {{ ref('stg_population__persons') }}
    {%- if is_incremental() %}
    where person_key in (select person_key from changed_persons)
        or exists (select 1 from new_years)
    {%- endif %}

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
    -- sqlfluff measures the incremental branch one level too shallow
    -- noqa: disable=LT02
    where row_rank = 1
        and status_code = 'resident'
        and birth_date <= midyear_date
        {%- if is_incremental() %}
        and (
            person_key in (select person_key from changed_persons)
            or year in (select year from new_years)
        )
        {%- endif %}
    -- noqa: enable=LT02

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
        groups.age_group_code,
        {{ this_run_id() }} as _changed_invocation_id
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
