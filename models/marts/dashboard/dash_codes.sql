{#-
    Small integer ids for the values of the dashboard's demand dimensions (one id space per
    dimension; counties, prefectures and provinces share the `region` space). The dashboard
    filters and groups dash_applicant_demand on these ids and joins the codes back onto its
    (small) results. A full build gives the codes present in subj_applicant_demand ids 1 … n in
    code order; an incremental run reads the changed months only and appends the codes not yet
    listed with the next ids of their dimension (in code order among themselves). Append-only:
    an id never changes its meaning while the table lives. Rows carry the run that listed
    them, so that dash_applicant_demand sees a renumbering (a `--full-refresh` of this model).
    on_schema_change='append_new_columns': a warehouse built when this was a plain table gains
    the stamp column (NULL on its rows, whose ids keep their meaning) instead of failing.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_cases__changed_months') }}

with source as (

    select *
    from {{ ref('subj_applicant_demand') }}
    where {{ in_changed_periods('month') }}

),

renamed as (

    {%- for d in dash_dimensions() %}
    select distinct '{{ d.dim }}' as dim, {{ d.column }} as code from source
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}

),

new_codes as (

    select renamed.dim, renamed.code
    from renamed
    -- sqlfluff's duckdb dialect reads `anti` as an alias: its layout check misreads the join
    {%- if is_incremental() %}
    anti join {{ this }} as stored  -- noqa: LT02
        on renamed.dim = stored.dim and renamed.code = stored.code  -- noqa: LT02
    {%- endif %}
    where renamed.code is not null

),

last_ids as (

    {%- if is_incremental() %}
    select dim, max(code_id) as last_id
    from {{ this }}
    group by dim
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as dim, cast(null as smallint) as last_id
    where false
    {%- endif %}

),

final as (

    select
        cast(new_codes.dim as {{ dbt.type_string() }}) as dim,
        cast(new_codes.code as {{ dbt.type_string() }}) as code,
        cast(
            coalesce(last_ids.last_id, 0)
            + row_number() over (partition by new_codes.dim order by new_codes.code)
            as smallint
        ) as code_id,
        cast({{ this_run_id() }} as {{ dbt.type_string() }}) as _changed_invocation_id
    from new_codes
    left join last_ids on new_codes.dim = last_ids.dim

)

select * from final
