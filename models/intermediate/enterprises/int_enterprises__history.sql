{#-
    Spark only: the SCD2 history of the enterprise register as the table the DuckDB build's
    dbt snapshot keeps (snapshots.snap_enterprises, same columns), derived from every landed
    register version instead of from the versions seen build after build: a dbt snapshot
    needs MERGE, which Spark's plain Parquet tables lack (no Delta, Iceberg or Hudi here).
    One row per enterprise x register version (int_enterprises__versions: identical re-sent
    rows collapsed), valid from its updated_at until the next version's (NULL: current).
    It holds every delivered version, so it can have more rows than a DuckDB snapshot that
    did not see every batch as a separate build.
-#}
{{
    config(
        enabled=target.type == 'spark',
        materialized='table',
        schema='snapshots',
        alias='snap_enterprises'
    )
}}

with source as (

    select * from {{ ref('int_enterprises__versions') }}

),

final as (

    select
        enterprise_key,
        legal_form_code,
        industry_section,
        size_class,
        registered_capital,
        established_date,
        closed_date,
        status_code,
        region_code,
        updated_at,
        _batch_id,
        updated_at as dbt_updated_at,
        updated_at as dbt_valid_from,
        valid_to as dbt_valid_to,
        md5(concat(enterprise_key, '|', cast(updated_at as string))) as dbt_scd_id
    from source

)

select * from final
