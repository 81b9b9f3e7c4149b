{#-
    One row per submission month whose cases changed in this run: the contract by which the
    subject tables rebuild only those months (docs/architecture.md, "H3/H4 incremental
    contract"). On a full build every month with a case; on an incremental run the new and the
    superseded submission months of the cases whose latest state changed in this run, and the
    months of the legal-person cases whose placement (registered county, industry, size class
    at submission: int_cases__enterprise_placement) changed in this run. is_full_rebuild is true (on every row) when
    the case chain was rebuilt in full in this run.
-#}
with cases as (

    select
        case_id,
        submitted_at,
        _changed_invocation_id,
        _superseded_submitted_month
    from {{ ref('int_cases__latest') }}

),

replaced_placements as (

    select case_id
    from {{ ref('int_cases__enterprise_placement') }}
    where {{ changed_in_this_run() }}

),

changed_cases as (

    select submitted_at, _superseded_submitted_month
    from cases
    where {{ changed_in_this_run() }}

),

months as (

    select {{ month_start('submitted_at') }} as submitted_month
    from changed_cases
    union
    select _superseded_submitted_month
    from changed_cases
    where _superseded_submitted_month is not null
    union
    select {{ month_start('cases.submitted_at') }}
    from cases
    inner join replaced_placements
        on cases.case_id = replaced_placements.case_id

),

-- a full rebuild stamps every case: one case with another stamp ends the scan early (any one:
-- no order needed)
kept_cases as (

    select 1 as kept
    from cases
    where _changed_invocation_id is null or not {{ changed_in_this_run() }}
    limit 1  -- noqa: AM09

),

run as (

    select
        (select count(*) from cases) > 0
        and (select count(*) from kept_cases) = 0
            as is_full_rebuild

),

final as (

    select months.submitted_month, run.is_full_rebuild
    from months
    cross join run
    where months.submitted_month is not null

)

select * from final
