{#-
    Enterprises active on 1 July by year × county × industry section × size class (the
    denominator of the enterprise demand rate), from fct_enterprise_midyear.
-#}
select
    cast(ent.year as integer) as year,
    cast(ent.region_code as {{ dbt.type_string() }}) as region_code,
    cast(ent.prefecture_code as {{ dbt.type_string() }}) as prefecture_code,
    cast(ent.province_code as {{ dbt.type_string() }}) as province_code,
    cast(coalesce(ent.industry_section, 'NA') as {{ dbt.type_string() }}) as industry_section,
    cast(coalesce(ent.size_class, 'NA') as {{ dbt.type_string() }}) as size_class,
    cast(sum(ent.active_enterprises) as bigint) as active_enterprises
from {{ ref('fct_enterprise_midyear') }} as ent
group by
    ent.year,
    ent.region_code,
    ent.prefecture_code,
    ent.province_code,
    coalesce(ent.industry_section, 'NA'),
    coalesce(ent.size_class, 'NA')
