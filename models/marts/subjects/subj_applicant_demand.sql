-- Cases per applicant × submission month × county × age group × category × theme × applicant
-- type × channel (× industry section × size class for legal persons): the base from which the
-- number of distinct applicants of any filtered set of cells is exact (distinct counts do not
-- add up across cells). Holds the keyed hash of the applicant ID only, plus `applicant_id_int`,
-- a BIGINT taken from the hash's first 60 bits (macro applicant_id_int) that the dashboard
-- counts instead of the 64-character string. Rows are written in (month, region_code) order so
-- the engine's per-block min/max statistics (DuckDB zone maps) skip blocks outside a period.
select
    cast(cases.applicant_key as {{ dbt.type_string() }}) as applicant_key,
    cast({{ applicant_id_int('cases.applicant_key') }} as bigint) as applicant_id_int,
    cast(cases.submitted_month as date) as month,
    cast(cases.submitted_year as integer) as year,
    cast(cases.region_code as {{ dbt.type_string() }}) as region_code,
    cast(cases.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(cases.province_code as {{ dbt.type_string() }}) as province_code,
    cast(cases.urban_rural as {{ dbt.type_string() }}) as urban_rural,
    cast(cases.age_group_code as {{ dbt.type_string() }}) as age_group_code,
    cast(cases.category_code as {{ dbt.type_string() }}) as category_code,
    cast(cases.theme_code as {{ dbt.type_string() }}) as theme_code,
    cast(cases.applicant_type as {{ dbt.type_string() }}) as applicant_type,
    cast(cases.channel_code as {{ dbt.type_string() }}) as channel_code,
    cast(coalesce(cases.industry_section, 'NA') as {{ dbt.type_string() }}) as industry_section,
    cast(coalesce(cases.size_class, 'NA') as {{ dbt.type_string() }}) as size_class,
    cast(count(*) as bigint) as cases
from {{ ref('fct_service_cases') }} as cases
group by
    cases.applicant_key,
    cases.submitted_month,
    cases.submitted_year,
    cases.region_code,
    cases.prefecture_code,
    cases.province_code,
    cases.urban_rural,
    cases.age_group_code,
    cases.category_code,
    cases.theme_code,
    cases.applicant_type,
    cases.channel_code,
    coalesce(cases.industry_section, 'NA'),
    coalesce(cases.size_class, 'NA')
order by month, region_code, applicant_key
