{#-
    One row per case (its latest state) checked against the registers (交互核验). A natural-
    person case fails at most one check, the first that applies of: person_not_registered (the
    applicant's keyed ID is in no population-register row), person_deceased (the register
    records the person deceased on a date before the submission date), person_not_resident (the
    register version valid at submission does not say resident in the case's residence
    county). A legal-person case likewise of: enterprise_not_registered,
    enterprise_closed (the register version valid at submission is not active, or its closed
    date is on or before the submission date), enterprise_other_region (that version's
    registered county differs from the case's county). check_code is NULL for a case that
    passes. A register version is valid from its updated_at (the first one also before it) to
    the next version's.
-#}
with cases as (

    select
        latest.case_id,
        latest.item_code,
        latest.applicant_type,
        latest.applicant_key,
        latest.residence_region_code,
        latest.dept_name,
        latest.dept_region_code,
        latest.submitted_at,
        cast(latest.submitted_at as date) as submitted_date
    from {{ ref('int_cases__latest') }} as latest

),

persons as (

    select * from {{ ref('int_verification__person_versions') }}

),

enterprises as (

    select * from {{ ref('int_enterprises__versions') }}

),

registered_persons as (

    select distinct persons.person_key from persons

),

registered_enterprises as (

    select distinct enterprises.enterprise_key from enterprises

),

-- person_cases and enterprise_cases are read by checked, which sqlfluff cannot parse
person_cases as (  -- noqa: ST03

    select
        cases.case_id,
        at_submission.status_code,
        at_submission.residence_region_code as register_region_code,
        at_submission.deceased_date,
        registered_persons.person_key is not null as is_registered
    from cases
    left join registered_persons
        on cases.applicant_key = registered_persons.person_key
    left join persons as at_submission
        on cases.applicant_key = at_submission.person_key
        and (at_submission.valid_from is null or cases.submitted_at >= at_submission.valid_from)
        and (at_submission.valid_to is null or cases.submitted_at < at_submission.valid_to)
    where cases.applicant_type = 'person'

),

enterprise_cases as (  -- noqa: ST03

    select
        cases.case_id,
        at_submission.status_code,
        at_submission.closed_date,
        at_submission.region_code as register_region_code,
        registered_enterprises.enterprise_key is not null as is_registered
    from cases
    left join registered_enterprises
        on cases.applicant_key = registered_enterprises.enterprise_key
    left join enterprises as at_submission
        on cases.applicant_key = at_submission.enterprise_key
        and (at_submission.valid_from is null or cases.submitted_at >= at_submission.valid_from)
        and (at_submission.valid_to is null or cases.submitted_at < at_submission.valid_to)
    where cases.applicant_type = 'enterprise'

),

-- noqa: disable=PRS,LT02
-- (sqlfluff's duckdb dialect does not parse `is distinct from`, and then takes the string
-- after it for a quoted identifier: RF06 below)
checked as (

    select
        cases.*,
        coalesce(person_cases.register_region_code, enterprise_cases.register_region_code)
            as register_region_code,
        case
            when cases.applicant_type = 'person' then
                case
                    when not person_cases.is_registered then 'person_not_registered'
                    when person_cases.deceased_date < cases.submitted_date then 'person_deceased'
                    when person_cases.status_code is distinct from 'resident'  -- noqa: RF06
                        or person_cases.register_region_code
                            is distinct from cases.residence_region_code
                        then 'person_not_resident'
                end
            when cases.applicant_type = 'enterprise' then
                case
                    when not enterprise_cases.is_registered then 'enterprise_not_registered'
                    when enterprise_cases.status_code is distinct from 'active'
                        or enterprise_cases.closed_date <= cases.submitted_date
                        then 'enterprise_closed'
                    when enterprise_cases.register_region_code
                            is distinct from cases.residence_region_code
                        then 'enterprise_other_region'
                end
        end as check_code
    from cases
    left join person_cases on cases.case_id = person_cases.case_id
    left join enterprise_cases on cases.case_id = enterprise_cases.case_id

),

-- noqa: enable=PRS,LT02
final as (

    select
        checked.case_id,
        checked.item_code,
        checked.applicant_type,
        checked.dept_name,
        checked.dept_region_code,
        checked.residence_region_code,
        checked.register_region_code,
        checked.submitted_at,
        {{ month_start('checked.submitted_date') }} as submitted_month,
        checked.check_code,
        checked.check_code is not null as is_mismatch
    from checked

)

select * from final
