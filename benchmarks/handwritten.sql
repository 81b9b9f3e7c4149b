-- Hand-written DuckDB baseline for the dbt project (see docs/benchmarks.md).
--
-- Same inputs as dbt: the landing zone (Parquet), the raw-suite quarantine and the reference
-- seeds (CSV). Same outputs as dbt's marts.subj_service_demand and marts.subj_service_performance,
-- created here as main.subj_service_demand and main.subj_service_performance; subjectdb.bench
-- asserts both equal to dbt's tables (as multisets, every column) in the same run.
--
-- It implements the same metric definitions (docs/metrics.md) the way one would write them by
-- hand: no staging tables, no tests, only the columns the two outputs need, and distinct
-- applicants counted on the normalised ID itself. The keyed hash dbt stores is a one-to-one
-- function of that ID, so the counts are the same: pseudonymisation is work dbt does for the
-- rest of the warehouse, and its cost is part of dbt's time.
--
-- $landing, $raw_suite_quarantine and $seeds are filled in by subjectdb.bench.handwritten_sql.

-- ----------------------------------------------------------------------------- reference seeds
create or replace temp view seed_person_enums as
select enum, value_zh, value_code
from read_csv('$seeds/ref_person_enums.csv', header = true, all_varchar = true);

create or replace temp view seed_channels as
select channel_code, channel_name_zh
from read_csv('$seeds/ref_channels.csv', header = true, all_varchar = true);

create or replace temp view seed_statuses as
select status_code, status_name_zh, cast(is_completed as boolean) as is_completed
from read_csv('$seeds/ref_case_statuses.csv', header = true, all_varchar = true);

create or replace temp view seed_ratings as
select cast(rating as integer) as rating, cast(is_satisfied as boolean) as is_satisfied,
    cast(is_bad as boolean) as is_bad
from read_csv('$seeds/ref_ratings.csv', header = true, all_varchar = true);

create or replace temp view seed_items as
select item_code, category_code, theme_code, cast(promised_days as integer) as promised_days
from read_csv('$seeds/ref_service_items.csv', header = true, all_varchar = true);

create or replace temp view seed_regions as
select region_code, prefecture_code, province_code, urban_rural
from read_csv('$seeds/ref_regions.csv', header = true, all_varchar = true);

create or replace temp view seed_age_groups as
select age_group_code, cast(age_from as integer) as age_from, cast(age_to as integer) as age_to
from read_csv('$seeds/ref_age_groups.csv', header = true, all_varchar = true)
where age_group_code <> 'NA';

-- retired region code -> today's code, following chains of up to four changes
create or replace temp table region_current as
with changes as (
    select retired_code, successor_code
    from read_csv('$seeds/ref_region_code_changes.csv', header = true, all_varchar = true)
)
select s1.retired_code,
    coalesce(s4.successor_code, s3.successor_code, s2.successor_code, s1.successor_code)
        as current_code
from changes s1
left join changes s2 on s2.retired_code = s1.successor_code
left join changes s3 on s3.retired_code = s2.successor_code
left join changes s4 on s4.retired_code = s3.successor_code;

-- running count of working days: working days in (a, b] = index(b) - index(a)
create or replace temp table workday_index as
select cast(calendar_date as date) as calendar_date,
    sum(case when cast(is_workday as boolean) then 1 else 0 end)
        over (order by cast(calendar_date as date)) as idx
from read_csv('$seeds/ref_calendar.csv', header = true, all_varchar = true);

create or replace temp table quarantined as
select distinct _source_file, _source_row
from read_parquet('$raw_suite_quarantine/*/*/*.parquet', hive_partitioning = false,
    union_by_name = true);

-- ----------------------------------------------------------------------------- cases
-- the latest state of every case (latest updated_at, then later batch, then later row)
create or replace temp table case_latest as
select trim(c.case_id) as case_id, trim(c.item_code) as item_code, c.applicant_type,
    upper(trim(c.applicant_id)) as applicant_id, trim(c.residence_region) as residence_region,
    trim(c.dept_name) as dept_name, trim(c.dept_region) as dept_region, c.channel,
    c.submitted_at, c.accepted_at, c.completed_at, c.status, c.promised_days, c.visits, c.rating
from read_parquet('$landing/cases/*/*.parquet', hive_partitioning = false, union_by_name = true) c
anti join quarantined q on q._source_file = c._source_file and q._source_row = c._source_row
qualify row_number() over (
    partition by trim(c.case_id) order by c.updated_at desc, c._batch_id desc, c._source_row desc
) = 1;

-- enterprise register versions: each valid from its updated_at to the next one (the first
-- also before it), identical re-sent rows collapsed
create or replace temp table enterprise_versions as
with rows as (
    select upper(trim(e.credit_code)) as enterprise_id,
        coalesce(rc.current_code, trim(e.region)) as region_code, e.updated_at
    from read_parquet('$landing/enterprises/*/*.parquet', hive_partitioning = false,
        union_by_name = true) e
    anti join quarantined q on q._source_file = e._source_file and q._source_row = e._source_row
    left join region_current rc on rc.retired_code = trim(e.region)
    qualify row_number() over (
        partition by upper(trim(e.credit_code)), e.updated_at
        order by e._batch_id desc, e._source_row desc
    ) = 1
)
select enterprise_id, region_code,
    case when row_number() over w > 1 then updated_at end as valid_from,
    lead(updated_at) over w as valid_to
from rows
window w as (partition by enterprise_id order by updated_at);

create or replace temp table case_facts as
with typed as (
    select c.*,
        kinds.value_code as applicant_kind,
        case when kinds.value_code = 'person' and length(c.applicant_id) = 18 then try_cast(
            substring(c.applicant_id, 7, 4) || '-' || substring(c.applicant_id, 11, 2) || '-'
                || substring(c.applicant_id, 13, 2) as date)
        end as birth_date,
        coalesce(res.current_code, c.residence_region) as residence_region_code,
        coalesce(dep.current_code, c.dept_region) as dept_region_code,
        ch.channel_code,
        st.is_completed,
        cast(c.submitted_at as date) as submitted_date
    from case_latest c
    left join seed_person_enums kinds
        on kinds.enum = 'applicant_type' and kinds.value_zh = c.applicant_type
    left join region_current res on res.retired_code = c.residence_region
    left join region_current dep on dep.retired_code = c.dept_region
    left join seed_channels ch on ch.channel_name_zh = c.channel
    left join seed_statuses st on st.status_name_zh = c.status
),
placed as (
    select t.*,
        year(t.submitted_date) - year(t.birth_date)
            - case when month(t.submitted_date) * 100 + day(t.submitted_date)
                < month(t.birth_date) * 100 + day(t.birth_date) then 1 else 0 end as age,
        case when t.applicant_kind = 'enterprise'
            then coalesce(ev.region_code, t.residence_region_code)
            else t.residence_region_code end as placed_region
    from typed t
    left join enterprise_versions ev
        on t.applicant_kind = 'enterprise'
        and ev.enterprise_id = t.applicant_id
        and (ev.valid_from is null or t.submitted_at >= ev.valid_from)
        and (ev.valid_to is null or t.submitted_at < ev.valid_to)
)
select
    cast(date_trunc('month', p.submitted_date) as date) as month,
    cast(year(p.submitted_date) as integer) as year,
    r.region_code, r.prefecture_code, r.province_code, r.urban_rural,
    case when p.applicant_kind = 'enterprise' then 'NA' else ag.age_group_code end
        as age_group_code,
    p.item_code, i.category_code, i.theme_code, p.applicant_kind as applicant_type,
    p.channel_code, p.dept_name, p.dept_region_code, p.applicant_id,
    p.is_completed,
    case when p.is_completed and p.accepted_at is not null and p.completed_at is not null
        then cast(done.idx - acc.idx as integer) end as working_days,
    coalesce(p.promised_days, i.promised_days) as promised_days,
    p.visits, p.rating, rt.is_satisfied, rt.is_bad
from placed p
left join seed_items i on i.item_code = p.item_code
left join seed_regions r on r.region_code = p.placed_region
left join seed_age_groups ag
    on p.applicant_kind = 'person' and p.age >= ag.age_from
    and (ag.age_to is null or p.age <= ag.age_to)
left join workday_index acc on acc.calendar_date = cast(p.accepted_at as date)
left join workday_index done on done.calendar_date = cast(p.completed_at as date)
left join seed_ratings rt on rt.rating = p.rating;

-- ----------------------------------------------------------------------------- population
-- residents on 1 July of every year with cases: the latest register row on or before that
-- day says resident; counted in that row's residence county by age group on 1 July
create or replace temp table population as
with midyear as (
    select year(w.calendar_date) as year, w.calendar_date as midyear_date
    from workday_index w,
        (select min(year(submitted_at)) as a, max(year(submitted_at)) as b from case_latest) span
    where month(w.calendar_date) = 7 and day(w.calendar_date) = 1
        and year(w.calendar_date) between span.a and span.b
),
persons as (
    select upper(trim(p.person_id)) as person_id,
        coalesce(p.birth_date, case when length(upper(trim(p.person_id))) = 18 then try_cast(
            substring(upper(trim(p.person_id)), 7, 4) || '-'
                || substring(upper(trim(p.person_id)), 11, 2) || '-'
                || substring(upper(trim(p.person_id)), 13, 2) as date) end) as birth_date,
        coalesce(rc.current_code, trim(p.residence_region)) as region_code,
        st.value_code as status_code, p.updated_at, p._batch_id, p._source_row
    from read_parquet('$landing/persons/*/*.parquet', hive_partitioning = false,
        union_by_name = true) p
    anti join quarantined q on q._source_file = p._source_file and q._source_row = p._source_row
    left join region_current rc on rc.retired_code = trim(p.residence_region)
    left join seed_person_enums st on st.enum = 'status' and st.value_zh = p.status
),
latest as (
    select m.year, m.midyear_date, p.*
    from persons p
    join midyear m on cast(p.updated_at as date) <= m.midyear_date
    qualify row_number() over (
        partition by m.year, p.person_id
        order by p.updated_at desc, p._batch_id desc, p._source_row desc
    ) = 1
),
residents as (
    select year, region_code,
        year(midyear_date) - year(birth_date)
            - case when month(midyear_date) * 100 + day(midyear_date)
                < month(birth_date) * 100 + day(birth_date) then 1 else 0 end as age
    from latest
    where status_code = 'resident' and birth_date <= midyear_date
)
select r.year, r.region_code, ag.age_group_code, count(*) as population
from residents r
left join seed_age_groups ag on r.age >= ag.age_from and (ag.age_to is null or r.age <= ag.age_to)
group by all;

-- ----------------------------------------------------------------------------- outputs
create or replace table main.subj_service_demand as
with cells as (
    select month, year, region_code, prefecture_code, province_code, urban_rural,
        age_group_code, category_code, theme_code, applicant_type, channel_code,
        count(*) as cases, count(distinct applicant_id) as distinct_applicants
    from case_facts
    group by all
),
population_years as (
    select distinct year from population
)
select
    c.month, c.year,
    c.region_code, c.prefecture_code, c.province_code, c.urban_rural, c.age_group_code,
    c.category_code, c.theme_code, c.applicant_type, c.channel_code,
    cast(c.cases as bigint) as cases,
    cast(c.distinct_applicants as bigint) as distinct_applicants,
    cast(case when c.applicant_type = 'person' and y.year is not null
        then coalesce(p.population, 0) end as bigint) as population,
    case when population > 0 then cast(c.cases as double) * 1000 / population end
        as rate_per_1000
from cells c
left join population_years y on y.year = c.year
left join population p
    on p.year = c.year and p.region_code = c.region_code
    and p.age_group_code = c.age_group_code;

create or replace table main.subj_service_performance as
with cells as (
    select month, year, item_code, category_code, theme_code, dept_name, dept_region_code,
        region_code, prefecture_code, province_code,
        count(*) as cases,
        count(*) filter (where is_completed) as completed_cases,
        quantile_cont(case when is_completed then working_days end, 0.5) as median_working_days,
        quantile_cont(case when is_completed then working_days end, 0.9) as p90_working_days,
        count(*) filter (where is_completed and working_days <= promised_days) as on_time_cases,
        count(*) filter (where visits = 0) as zero_visit_cases,
        count(*) filter (where visits <= 1) as max_one_visit_cases,
        count(rating) as rated_cases,
        count(*) filter (where rating is not null and is_satisfied) as satisfied_cases,
        count(*) filter (where rating is not null and is_bad) as bad_review_cases,
        count(distinct applicant_id) as distinct_applicants
    from case_facts
    group by all
)
select
    month, year, item_code, category_code, theme_code, dept_name, dept_region_code,
    region_code, prefecture_code, province_code,
    cast(cases as bigint) as cases,
    cast(completed_cases as bigint) as completed_cases,
    cast(median_working_days as double) as median_working_days,
    cast(p90_working_days as double) as p90_working_days,
    cast(on_time_cases as bigint) as on_time_cases,
    case when completed_cases > 0 then cast(on_time_cases as double) / completed_cases end
        as on_time_rate,
    cast(zero_visit_cases as bigint) as zero_visit_cases,
    case when cases > 0 then cast(zero_visit_cases as double) / cases end as zero_visit_rate,
    cast(max_one_visit_cases as bigint) as max_one_visit_cases,
    case when cases > 0 then cast(max_one_visit_cases as double) / cases end
        as max_one_visit_rate,
    cast(rated_cases as bigint) as rated_cases,
    cast(satisfied_cases as bigint) as satisfied_cases,
    case when rated_cases > 0 then cast(satisfied_cases as double) / rated_cases end
        as satisfaction_rate,
    cast(bad_review_cases as bigint) as bad_review_cases,
    case when rated_cases > 0 then cast(bad_review_cases as double) / rated_cases end
        as bad_review_rate,
    cast(distinct_applicants as bigint) as distinct_applicants
from cells;
