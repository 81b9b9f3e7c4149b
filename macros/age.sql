{#-
    Ages and resident-ID derivations, written with portable SQL (extract, substring, case) and
    dbt's cross-database macros so they run on DuckDB and Spark alike.
-#}

{#- Age in completed years on ref_date (a person born on 29 Feb turns a year older on 1 Mar), as
    BIGINT on every engine (Spark's extract gives INT, DuckDB's BIGINT). -#}
{% macro age_in_years(birth_date, ref_date) -%}
    cast(
        extract(year from {{ ref_date }}) - extract(year from {{ birth_date }})
        - case
            when extract(month from {{ ref_date }}) * 100 + extract(day from {{ ref_date }})
                < extract(month from {{ birth_date }}) * 100 + extract(day from {{ birth_date }})
            then 1
            else 0
        end
    as bigint)
{%- endmacro %}

{#- Birth date encoded in an 18-character resident ID (GB 11643: characters 7-14, YYYYMMDD);
    NULL when the ID is not 18 characters or the digits are not a valid date. -#}
{% macro resident_id_birth_date(id_col) -%}
    case
        when length({{ id_col }}) = 18 then
            {{ dbt.safe_cast(
                dbt.concat([
                    "substring(" ~ id_col ~ ", 7, 4)", "'-'",
                    "substring(" ~ id_col ~ ", 11, 2)", "'-'",
                    "substring(" ~ id_col ~ ", 13, 2)"
                ]),
                api.Column.translate_type('date')
            ) }}
    end
{%- endmacro %}

{#- Raw sex value (男/女, as in ref_person_enums) encoded in a resident ID: the 17th character
    is odd for men and even for women. NULL when it is not a digit (e.g. a credit code). -#}
{% macro resident_id_sex_zh(id_col) -%}
    case
        when length({{ id_col }}) <> 18 then null
        when substring({{ id_col }}, 17, 1) in ('1', '3', '5', '7', '9') then '男'
        when substring({{ id_col }}, 17, 1) in ('0', '2', '4', '6', '8') then '女'
    end
{%- endmacro %}
