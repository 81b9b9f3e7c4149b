{#-
    One row per case: its latest state. Incremental: a build reads only rows landed since the
    previous build (or from batches it has not seen), merges them with the stored state of the same cases and keeps, per case,
    the row with the latest updated_at (ties: the later batch, then the later source row).
    The result equals a full refresh over all batches, whatever order batches arrive in.
-#}
{{
    config(
        materialized='incremental',
        unique_key='case_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

{%- set case_columns = [
    'case_id', 'item_code', 'applicant_type', 'applicant_key', 'applicant_birth_date',
    'applicant_sex', 'residence_region_code', 'dept_name', 'dept_region_code', 'channel_code',
    'submitted_at', 'accepted_at', 'completed_at', 'status_code', 'outcome_code',
    'promised_days', 'visits', 'elicence_reused', 'rating', 'updated_at',
    '_batch_id', '_source_file', '_source_row', '_loaded_at'
] %}

with source as (

    select {{ case_columns | join(', ') }}
    from {{ ref('stg_approval__cases') }}
    {% if is_incremental() %}
    -- rows landed since the last build, and any batch the stored state has never seen
    -- (a batch landed late, or one whose every row lost to later states: re-ranking such
    -- rows again is harmless)
    where _loaded_at > (select max(_loaded_at) from {{ this }})
        or _batch_id not in (select distinct _batch_id from {{ this }})
    {% endif %}

),

candidates as (

    select * from source
    {% if is_incremental() %}
    union all
    select {{ case_columns | join(', ') }}
    from {{ this }}
    where case_id in (select case_id from source)
    {% endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by case_id
            order by updated_at desc, _batch_id desc, _source_row desc
        ) as state_rank
    from candidates

),

final as (

    select {{ case_columns | join(', ') }}
    from ranked
    where state_rank = 1

)

select * from final
