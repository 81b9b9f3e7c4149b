{#-
    One row per retired GB/T 2260 region code: the code that replaces it today. Boundary
    changes can chain (A -> B, later B -> C), so successors are followed up to four steps.
-#}
with source as (

    select * from {{ ref('ref_region_code_changes') }}

),

renamed as (

    select
        cast(retired_code as {{ dbt.type_string() }}) as retired_code,
        cast(successor_code as {{ dbt.type_string() }}) as successor_code
    from source

),

final as (

    select
        step1.retired_code,
        coalesce(
            step4.successor_code,
            step3.successor_code,
            step2.successor_code,
            step1.successor_code
        ) as current_code
    from renamed as step1
    left join renamed as step2 on step1.successor_code = step2.retired_code
    left join renamed as step3 on step2.successor_code = step3.retired_code
    left join renamed as step4 on step3.successor_code = step4.retired_code

)

select * from final
