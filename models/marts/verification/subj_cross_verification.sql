{#-
    Cross-verification of the approval data against the registers (交互核验), for each
    handling department's follow-up: one row per handling department x service item x
    submission month x check that applies to the cell's applicant type (three checks for
    natural persons, three for legal persons), with the cases of that applicant type in the
    cell, the cases failing the check (int_verification__case_checks: each case fails at most
    one check) and the rate per 1,000 cases. Checks with no mismatch are kept (0), so every
    department sees every check it was subject to.
-#}
with case_checks as (

    select * from {{ ref('int_verification__case_checks') }}

),

checks as (

    select 'person' as applicant_type, 'person_not_registered' as check_code, 1 as check_order
    union all select 'person', 'person_deceased', 2
    union all select 'person', 'person_not_resident', 3
    union all select 'enterprise', 'enterprise_not_registered', 4
    union all select 'enterprise', 'enterprise_closed', 5
    union all select 'enterprise', 'enterprise_other_region', 6

),

cells as (

    select
        dept_name,
        item_code,
        submitted_month,
        applicant_type,
        count(*) as cases
    from case_checks
    where dept_name is not null and applicant_type is not null
    group by dept_name, item_code, submitted_month, applicant_type

),

mismatches as (

    select
        dept_name,
        item_code,
        submitted_month,
        check_code,
        count(*) as mismatches
    from case_checks
    where is_mismatch and dept_name is not null
    group by dept_name, item_code, submitted_month, check_code

),

final as (

    select
        cast(cells.dept_name as {{ dbt.type_string() }}) as dept_name,
        cast(cells.item_code as {{ dbt.type_string() }}) as item_code,
        cells.submitted_month,
        cast(cells.applicant_type as {{ dbt.type_string() }}) as applicant_type,
        cast(checks.check_code as {{ dbt.type_string() }}) as check_code,
        cast(cells.cases as {{ dbt.type_bigint() }}) as cases,
        cast(coalesce(mismatches.mismatches, 0) as {{ dbt.type_bigint() }}) as mismatches,
        {{ subj_ratio('coalesce(mismatches.mismatches, 0)', 'cells.cases', 1000) }}
            as mismatches_per_1000
    from cells
    inner join checks
        on checks.applicant_type = cells.applicant_type
    left join mismatches
        on mismatches.dept_name = cells.dept_name
        and mismatches.item_code = cells.item_code
        and mismatches.submitted_month = cells.submitted_month
        and mismatches.check_code = checks.check_code

)

select * from final
