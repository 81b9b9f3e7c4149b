-- Small integer ids for the values of the dashboard's demand dimensions (one id space per
-- dimension; counties, prefectures and provinces share the `region` space). The dashboard
-- filters and groups dash_applicant_demand on these ids and joins the codes back onto its
-- (small) results. Only values present in subj_applicant_demand get an id.
with demand as (
    select * from {{ ref('subj_applicant_demand') }}
),

codes as (
    select distinct 'region' as dim, region_code as code from demand
    union
    select distinct 'region' as dim, prefecture_code as code from demand
    union
    select distinct 'region' as dim, province_code as code from demand
    union
    select distinct 'urban_rural' as dim, urban_rural as code from demand
    union
    select distinct 'age_group' as dim, age_group_code as code from demand
    union
    select distinct 'category' as dim, category_code as code from demand
    union
    select distinct 'theme' as dim, theme_code as code from demand
    union
    select distinct 'applicant_type' as dim, applicant_type as code from demand
    union
    select distinct 'channel' as dim, channel_code as code from demand
    union
    select distinct 'industry' as dim, industry_section as code from demand
    union
    select distinct 'size_class' as dim, size_class as code from demand
)

select
    cast(dim as {{ dbt.type_string() }}) as dim,
    cast(code as {{ dbt.type_string() }}) as code,
    cast(row_number() over (partition by dim order by code) as smallint) as code_id
from codes
where code is not null
