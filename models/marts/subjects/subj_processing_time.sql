-- Processing-time histogram: completed cases by submission month × service item × applicant
-- county × working days. Any median or percentile over any filter of months, items and
-- counties is exact from these counts (expand the histogram, or walk its cumulative counts).
select
    cast(cases.submitted_month as date) as month,
    cast(cases.submitted_year as integer) as year,
    cast(cases.item_code as {{ dbt.type_string() }}) as item_code,
    cast(cases.category_code as {{ dbt.type_string() }}) as category_code,
    cast(cases.theme_code as {{ dbt.type_string() }}) as theme_code,
    cast(cases.region_code as {{ dbt.type_string() }}) as region_code,
    cast(cases.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(cases.province_code as {{ dbt.type_string() }}) as province_code,
    cast(cases.working_days as integer) as working_days,
    cast(count(*) as bigint) as completed_cases,
    cast(sum(case when cases.is_on_time then 1 else 0 end) as bigint) as on_time_cases
from {{ ref('fct_service_cases') }} as cases
where cases.is_completed
group by
    cases.submitted_month,
    cases.submitted_year,
    cases.item_code,
    cases.category_code,
    cases.theme_code,
    cases.region_code,
    cases.prefecture_code,
    cases.province_code,
    cases.working_days
