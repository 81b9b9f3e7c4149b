{#-
    Grain: one row per observed count k: the exact Poisson limits computed in Python before
    dbt runs (subjectdb.warehouse.poisson), typed.
-#}
with source as (

    select * from {{ source('computed', 'poisson_limits') }}

),

final as (

    select
        cast(observed_cases as bigint) as observed_cases,
        cast(conf_level as double) as conf_level,
        cast(mean_lower as double) as mean_lower,
        cast(mean_upper as double) as mean_upper
    from source

)

select * from final
