{#-
    One row per legal-person case: the enterprise register version valid at submission
    (registered county, industry section, size class; NULL when the enterprise is not in the
    register). Incremental (the daily path): a build places again the legal-person cases whose
    latest state changed in this run and every case of the enterprises whose register versions
    changed in this run; a case is stamped as changed in this run (_changed_invocation_id) only
    when its state changed or its placement did, so a new register row that only ends the
    validity of the previous version does not mark the enterprise's older cases. Strategy
    replace_keys on case_id, also replacing every case whose state changed in this run (a case
    is never left behind by a change of applicant type).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='case_id',
        replace_also=[
            {'column': 'case_id', 'in': 'int_cases__latest', 'where': '__changed_in_this_run__'},
        ],
        on_schema_change='fail'
    )
}}

with cases as (

    select case_id, applicant_key, submitted_at, _changed_invocation_id
    from {{ ref('int_cases__latest') }}
    -- sqlfluff measures the incremental branch one level too shallow
    -- noqa: disable=LT02
    where applicant_type = 'enterprise'
        {%- if is_incremental() %}
        and (
            {{ changed_in_this_run() }}
            or applicant_key in (
                select enterprise_key from {{ ref('int_enterprises__versions') }}
                where {{ changed_in_this_run() }}
            )
        )
        {%- endif %}
    -- noqa: enable=LT02

),

enterprise_versions as (

    select
        enterprise_key,
        valid_from,
        valid_to,
        region_code,
        industry_section,
        size_class
    from {{ ref('int_enterprises__versions') }}

),

-- noqa: disable=ST03
-- (read by final, which sqlfluff cannot parse)
placed as (

    select
        cases.case_id,
        cases._changed_invocation_id as case_changed_invocation_id,
        enterprise_versions.region_code as enterprise_region_code,
        enterprise_versions.industry_section,
        enterprise_versions.size_class
    from cases
    left join enterprise_versions
        on cases.applicant_key = enterprise_versions.enterprise_key
        and (
            enterprise_versions.valid_from is null
            or cases.submitted_at >= enterprise_versions.valid_from
        )
        and (
            enterprise_versions.valid_to is null
            or cases.submitted_at < enterprise_versions.valid_to
        )

),

-- noqa: disable=PRS,LT02
-- (sqlfluff's duckdb dialect does not parse `is distinct from`)
final as (

    select
        placed.case_id,
        placed.enterprise_region_code,
        placed.industry_section,
        placed.size_class,
        {%- if is_incremental() %}
        case
            when {{ changed_in_this_run('placed.case_changed_invocation_id') }}
                or stored.case_id is null
                or placed.enterprise_region_code is distinct from stored.enterprise_region_code
                or placed.industry_section is distinct from stored.industry_section
                or placed.size_class is distinct from stored.size_class
                then {{ this_run_id() }}
            else stored._changed_invocation_id
        end as _changed_invocation_id
        {%- else %}
        {{ this_run_id() }} as _changed_invocation_id
        {%- endif %}
    from placed
    {%- if is_incremental() %}
    left join {{ this }} as stored
        on placed.case_id = stored.case_id
    {%- endif %}

)

-- noqa: enable=PRS,LT02,ST03
select * from final
