{#-
    Exact (Garwood) 95 % confidence limits of a Poisson mean for every observed count k = 0 …
    the largest natural-person count of any year × county (the 'ALL' theme of
    subj_demand_standardised bounds every theme), so subj_demand_standardised can look up the
    limits of every count. The limits come from stg_computed__poisson_limits (scipy, computed once
    per k and kept); this table holds exactly the counts the current data needs.
-#}
with limits as (

    select * from {{ ref('stg_computed__poisson_limits') }}

),

person_counts as (

    select year, region_code, sum(cases) as cases
    from {{ ref('int_demand__case_cells') }}
    where applicant_type = 'person'
    group by year, region_code

),

bound as (

    select coalesce(max(cases), 0) as max_cases from person_counts

),

final as (

    select
        cast(limits.observed_cases as bigint) as observed_cases,
        cast(limits.conf_level as double) as conf_level,
        cast(limits.mean_lower as double) as mean_lower,
        cast(limits.mean_upper as double) as mean_upper
    from limits
    inner join bound
        on limits.observed_cases <= bound.max_cases

)

select * from final
