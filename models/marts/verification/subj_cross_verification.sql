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

    -- the checks of each applicant type, in int_verification__case_checks's order
    select checks.applicant_type, checks.check_code
    from (
        values
        ('person', 'person_not_registered'),
        ('person', 'person_deceased'),
        ('person', 'person_not_resident'),
        ('enterprise', 'enterprise_not_registered'),
        ('enterprise', 'enterprise_closed'),
        ('enterprise', 'enterprise_other_region')
    ) as checks (applicant_type, check_code)

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
        on cells.applicant_type = checks.applicant_type
    left join mismatches
        on cells.dept_name = mismatches.dept_name
        and cells.item_code = mismatches.item_code
        and cells.submitted_month = mismatches.submitted_month
        and checks.check_code = mismatches.check_code

)

select * from final
