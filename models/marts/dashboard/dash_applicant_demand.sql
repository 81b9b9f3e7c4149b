-- subj_applicant_demand in the shape the dashboard counts fastest: the same rows and cases,
-- with every dimension as a small integer id (dash_codes), the channel's online flag, and the
-- applicant as a dense number 0 … n-1 (`applicant_seq`). Exact distinct-applicant counts then
-- run on integers — as a bitmap over 0 … n-1 (DuckDB bitstring_agg) where a query has few
-- groups — instead of hashing keys. Rows are stored in (month, county) order so that period
-- filters skip whole row groups (zone maps).
with demand as (
    select * from {{ ref('subj_applicant_demand') }}
),

applicants as (
    select
        keys.applicant_key,
        cast(row_number() over (order by keys.applicant_key) - 1 as integer) as applicant_seq
    from (select distinct applicant_key from demand) as keys
),

codes as (
    select * from {{ ref('dash_codes') }}
)

select
    applicants.applicant_seq,
    cast(demand.month as date) as month,
    cast(demand.year as integer) as year,
    county.code_id as county_id,
    prefecture.code_id as prefecture_id,
    province.code_id as province_id,
    urban_rural.code_id as urban_rural_id,
    age_group.code_id as age_group_id,
    category.code_id as category_id,
    theme.code_id as theme_id,
    applicant_type.code_id as applicant_type_id,
    channel.code_id as channel_id,
    industry.code_id as industry_id,
    size_class.code_id as size_class_id,
    cast(dim_channel.is_online as boolean) as is_online,
    cast(demand.cases as integer) as cases
from demand
left join applicants on applicants.applicant_key = demand.applicant_key
left join codes as county
    on county.dim = 'region' and county.code = demand.region_code
left join codes as prefecture
    on prefecture.dim = 'region' and prefecture.code = demand.prefecture_code
left join codes as province
    on province.dim = 'region' and province.code = demand.province_code
left join codes as urban_rural
    on urban_rural.dim = 'urban_rural' and urban_rural.code = demand.urban_rural
left join codes as age_group
    on age_group.dim = 'age_group' and age_group.code = demand.age_group_code
left join codes as category
    on category.dim = 'category' and category.code = demand.category_code
left join codes as theme
    on theme.dim = 'theme' and theme.code = demand.theme_code
left join codes as applicant_type
    on applicant_type.dim = 'applicant_type' and applicant_type.code = demand.applicant_type
left join codes as channel
    on channel.dim = 'channel' and channel.code = demand.channel_code
left join codes as industry
    on industry.dim = 'industry' and industry.code = demand.industry_section
left join codes as size_class
    on size_class.dim = 'size_class' and size_class.code = demand.size_class
left join {{ ref('dim_channel') }} as dim_channel
    on dim_channel.channel_code = demand.channel_code
order by month, county_id
