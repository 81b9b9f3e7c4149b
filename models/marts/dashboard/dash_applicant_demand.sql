{#-
    subj_applicant_demand in the shape the dashboard counts fastest: the same rows and cases,
    with every dimension as a small integer id (dash_codes), the channel's online flag, and the
    applicant as a stable number (`applicant_seq`, dash_applicant_ids). Exact distinct-applicant
    counts then run on integers — as a bitmap over 0 … max(applicant_seq) (DuckDB
    bitstring_agg) where a query has few groups — instead of hashing keys. Incremental by month
    like subj_applicant_demand (strategy replace_keys by month): a run replaces the changed
    months only; ids and numbers never change meaning, so the stored months stay valid (all
    stored months are rewritten when their `_numbering_id` says they were written with
    another numbering: dash_applicant_ids or dash_codes was rebuilt from scratch since, e.g. by
    a `--full-refresh` selecting that model alone, or the table predates the column). Rows
    of each month are written in (month, county) order so that period filters skip whole row
    groups (zone maps).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_keys',
        unique_key='month',
        replace_also=changed_periods_replaced('month'),
        insert_order='month, county_id',
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with applicants as (

    select applicant_key, applicant_seq, _changed_invocation_id
    from {{ ref('dash_applicant_ids') }}

),

codes as (

    select dim, code, code_id, _changed_invocation_id from {{ ref('dash_codes') }}

),

-- which numbering the rows are written with: the runs that wrote applicant number 0 and the
-- code ids 1 (a rebuild from scratch of dash_applicant_ids or dash_codes rewrites them)
numbering as (

    select
        coalesce((
            select max(applicants._changed_invocation_id) from applicants
            where applicants.applicant_seq = 0
        ), '')
        || '/'
        || coalesce((
            select min(codes._changed_invocation_id) from codes
            where codes.code_id = 1
        ), '')
        || '/'
        || coalesce((
            select max(codes._changed_invocation_id) from codes
            where codes.code_id = 1
        ), '')
            as numbering_id

),

{% if is_incremental() -%}
-- stored months written with another numbering (dash_applicant_ids or dash_codes rebuilt from
-- scratch since, e.g. by a `--full-refresh` selecting it alone): their numbers mean nothing now
renumbered_months as (

    select distinct stored.month
    from {{ this }} as stored
    -- NULL on rows stored before the column existed (rewritten on that run)
    where {{ stored_column_or_null('_numbering_id', dbt.type_string()) }}
        is distinct from (select numbering.numbering_id from numbering)

),

{% endif -%}
source as (

    select *
    from {{ ref('subj_applicant_demand') }}
    where {{ in_changed_periods('month') }}
        {%- if is_incremental() %}
        or month in (select renumbered_months.month from renumbered_months)
        {%- endif %}

),

channels as (

    select channel_code, is_online from {{ ref('dim_channel') }}

),

renamed as (

    select
        applicants.applicant_seq,
        cast(source.month as date) as month,
        cast(source.year as integer) as year,
        {%- for d in dash_dimensions() %}
        {{ d.alias }}.code_id as {{ d.alias }}_id,
        {%- endfor %}
        cast(channels.is_online as boolean) as is_online,
        cast(source.cases as integer) as cases,
        cast(numbering.numbering_id as {{ dbt.type_string() }}) as _numbering_id
    from source
    cross join numbering
    left join applicants on source.applicant_key = applicants.applicant_key
    {%- for d in dash_dimensions() %}
    left join codes as {{ d.alias }}
        on {{ d.alias }}.dim = '{{ d.dim }}' and {{ d.alias }}.code = source.{{ d.column }}
    {%- endfor %}
    left join channels on channels.channel_code = source.channel_code

),

final as (

    select
        applicant_seq,
        month,
        year,
        county_id,
        prefecture_id,
        province_id,
        urban_rural_id,
        age_group_id,
        category_id,
        theme_id,
        applicant_type_id,
        channel_id,
        industry_id,
        size_class_id,
        is_online,
        cases,
        _numbering_id
    from renamed

)

select * from final
order by month, county_id
