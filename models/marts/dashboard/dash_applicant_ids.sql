{#-
    A stable number for every applicant the dashboard has ever seen: applicant_seq is kept for
    as long as the table lives, so dash_applicant_demand can be rebuilt month by month and the
    stored months keep meaning the same applicants. A full build numbers the applicants
    0 … n-1 in key order; an incremental run reads the changed months of subj_applicant_demand
    only (a new applicant always has a case in a changed month) and gives the keys not yet
    numbered max + 1, max + 2, … in key order. Append-only: a key whose cases all went away
    keeps its number (the numbers stay dense over every key ever seen, so the dashboard's
    bitmaps over 0 … max stay small). Rows carry the run that numbered them, so that
    dash_applicant_demand sees a renumbering (a `--full-refresh` of this model alone).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with source as (

    select distinct applicant_key
    from {{ ref('subj_applicant_demand') }}
    where {{ in_changed_periods('month') }}

),

renamed as (

    select source.applicant_key
    from source
    -- sqlfluff's duckdb dialect reads `anti` as an alias: its layout check misreads the join
    {%- if is_incremental() %}
    anti join {{ this }} as stored  -- noqa: LT02
        on source.applicant_key = stored.applicant_key  -- noqa: LT02
    {%- endif %}

),

numbered_before as (

    {%- if is_incremental() %}
    select coalesce(max(applicant_seq) + 1, 0) as next_seq from {{ this }}
    {%- else %}
    select 0 as next_seq
    {%- endif %}

),

final as (

    select
        cast(renamed.applicant_key as {{ dbt.type_string() }}) as applicant_key,
        cast(
            numbered_before.next_seq - 1
            + row_number() over (order by renamed.applicant_key)
            as integer
        ) as applicant_seq,
        cast({{ this_run_id() }} as {{ dbt.type_string() }}) as _changed_invocation_id
    from renamed
    cross join numbered_before

)

select * from final
order by applicant_seq
