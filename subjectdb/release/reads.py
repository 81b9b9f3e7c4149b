"""Warehouse reads of a release: the served warehouse, read-only, aggregated in SQL.

:func:`connect` attaches the served warehouse as ``wh``; :func:`check_tables` fails early on a
missing table or column; the ``read_*`` functions return the rows of each published table
(counts at every region level and margin, with the distinct-applicant counts the primary rule
needs), before disclosure control.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from subjectdb import metrics
from subjectdb.config import Paths, duckdb_connect
from subjectdb.release.specs import PublishError


def connect(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with the served warehouse attached read-only as ``wh``.

    Bounded like every DuckDB connection of the project (memory limit, spill folder); every
    query orders what it returns, so insertion order need not be kept.
    """
    if not paths.warehouse.exists():
        raise PublishError(f"no warehouse at {paths.warehouse}: run `subjectdb build` first")
    con = duckdb_connect(paths=paths, preserve_order=False)
    try:
        con.execute(f"ATTACH '{paths.warehouse.as_posix()}' AS wh (READ_ONLY)")
    except duckdb.Error as exc:
        con.close()
        raise PublishError(f"cannot open warehouse {paths.warehouse}: {exc}") from exc
    return con


REQUIRED_TABLES = {
    "subj_applicant_demand": {
        "applicant_key",
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "urban_rural",
        "age_group_code",
        "theme_code",
        "applicant_type",
        "channel_code",
        "industry_section",
        "cases",
    },
    "subj_demand_standardised": {
        "year",
        "region_code",
        "theme_code",
        "cases",
        "population",
        "crude_rate",
        "age_standardised_rate",
        "expected_cases",
        "standardised_ratio",
        "ratio_ci_low",
        "ratio_ci_high",
    },
    "subj_service_performance": {
        "year",
        "item_code",
        "cases",
        "completed_cases",
        "on_time_cases",
        "zero_visit_cases",
        "max_one_visit_cases",
        "rated_cases",
        "satisfied_cases",
        "bad_review_cases",
        "distinct_applicants",
    },
    "subj_processing_time": {"year", "item_code", "working_days", "completed_cases"},
    "subj_enterprise_population": {
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "industry_section",
        "active_enterprises",
    },
    "subj_population_pyramid": {
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "age_group_code",
        "sex",
        "population",
    },
    "dim_region": {"region_code", "region_name"},
    "dim_service_item": {
        "item_code",
        "item_name_zh",
        "item_name_en",
        "theme_code",
        "theme_name_zh",
        "theme_name_en",
        "applicant_type",
    },
    "dim_industry": {"industry_section", "name_zh", "name_en"},
    "dim_channel": {"channel_code", "is_online"},
}


def check_tables(con: duckdb.DuckDBPyConnection, paths: Paths) -> tuple[set[str], set[str]]:
    rows = con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = 'wh' and table_schema = 'marts'"
    ).fetchall()
    have: dict[str, set[str]] = {}
    for table, column in rows:
        have.setdefault(table, set()).add(column)
    for table, needed in REQUIRED_TABLES.items():
        if table not in have:
            raise PublishError(f"warehouse {paths.warehouse} has no table marts.{table}")
        missing = sorted(needed - have[table])
        if missing:
            raise PublishError(
                f"warehouse table marts.{table} lacks column(s) {', '.join(missing)}"
            )
    return have.get("subj_applicant_demand", set()), have.get("fct_service_cases", set())


def _levels_cte(source: str, where: str) -> str:
    """Rows of ``source`` repeated at county, prefecture and province level."""
    return f"""
        base as (select * from {source} where {where}),
        levels as (
            select 'county' as region_level, region_code as r_code,
                   coalesce(prefecture_code, province_code) as r_parent, * from base
            union all
            select 'prefecture', prefecture_code, province_code, * from base
            where prefecture_code is not null
            union all
            select 'province', province_code, null, * from base
        )"""


def applicant_id(demand_cols: set[str]) -> str:
    """The applicant column to count: the compact BIGINT id when served, else the HMAC key.

    ``applicant_id_int`` (60 bits of the key) can only merge two applicants, never split one,
    so a count over it is never above the true count: a cell it misjudges is suppressed, not
    published.
    """
    return "applicant_id_int" if "applicant_id_int" in demand_cols else "applicant_key"


def _distinct_floor(threshold: int) -> str:
    """SQL aggregate: a lower bound on ``count(distinct applicant)`` in constant memory.

    The number of different ids among the group's ``3 × threshold`` smallest ids (a bounded
    heap per group, where an exact count would keep every id of the group): never above the
    true count, exact for groups with that few rows, and short of the threshold for a large
    group only when its smallest ids repeat (few applicants with many rows each). Groups under
    the threshold by this bound get their exact count.
    """
    return f"list_unique(min(applicant, {3 * int(threshold)}))::bigint"


def demand_groups(con: duckdb.DuckDBPyConnection, threshold: int, applicant: str) -> None:
    """Temp tables for every distinct-applicant count of the demand tables, in two scans.

    ``demand_g``: one row per applicant type × year × county × age group × theme × online ×
    industry, with its cases and a lower bound on its distinct applicants
    (:func:`_distinct_floor`; one grouped scan of ``subj_applicant_demand``). Every published
    person or enterprise cell is a union of these groups, so the largest group bound is a lower
    bound on the cell's count; a cell is decided by that bound unless it is below the
    threshold, and then every one of its groups is below the threshold by its bound too.
    ``demand_small`` holds the rows of those groups only (groups of few applicants, so few
    rows however many cases there are), from which such cells get their exact counts. The views
    ``person_g``/``person_small`` and ``enterprise_g``/``enterprise_small`` split them by type.
    """
    base = f"""
        select d.applicant_type as kind, d.year, d.region_code, d.prefecture_code,
            d.province_code, d.urban_rural,
            coalesce(d.age_group_code, 'NA') as age, coalesce(d.theme_code, 'NA') as theme,
            coalesce(c.is_online, false) as online, coalesce(d.industry_section, 'NA') as ind,
            d.{applicant} as applicant, d.cases
        from wh.marts.subj_applicant_demand as d
        left join wh.marts.dim_channel as c on c.channel_code = d.channel_code
        where d.applicant_type in ('person', 'enterprise')"""
    keys = "kind, year, region_code, age, theme, online, ind"
    con.execute(f"""
        create or replace temp table demand_g as
        select kind, year, region_code, prefecture_code, province_code, urban_rural, age,
            theme, online, ind, sum(cases)::bigint as cases, {_distinct_floor(threshold)} as da
        from ({base}) group by all""")
    missing = con.execute(
        "select kind, count(*), sum(cases), any_value(year) from demand_g "
        "where region_code is null group by kind order by kind"
    ).fetchall()
    if missing:
        kind, groups, cases, year = missing[0]
        raise PublishError(
            f"warehouse table marts.subj_applicant_demand has {cases} {kind} case(s) with no "
            f"region_code (column region_code is NULL, e.g. in year {year}; {groups} group(s)): "
            "the regional tables cannot place them; fix the build (every applicant needs a "
            "county) and publish again"
        )
    con.execute(f"""
        create or replace temp table demand_small as
        select b.* from ({base}) as b
        semi join (select distinct {keys} from demand_g where da < {int(threshold)}) as s
            using ({keys})""")
    for kind in ("person", "enterprise"):
        for table in ("g", "small"):
            con.execute(
                f"create or replace temp view {kind}_{table} as "
                f"select * from demand_{table} where kind = '{kind}'"
            )


def read_demand(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Natural persons' cases by region level × region × age group × theme (and margins).

    Needs the temp tables of :func:`demand_groups`. ``distinct_applicants`` is exact below the
    primary threshold and a lower bound at or above it (all the primary rule needs).
    """
    sets = """grouping sets (
        (year, region_level, r_code, age, theme), (year, region_level, r_code, age),
        (year, region_level, r_code, theme), (year, region_level, r_code))"""
    keys = """year, region_level, r_code as region_code,
        case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(theme) = 1 then 'ALL' else theme end as theme_code"""
    sql = f"""
    with {_levels_cte("person_g", "true")},
    cells as (
        select {keys}, any_value(r_parent) as parent_code,
            case when region_level = 'county' then any_value(urban_rural) end as urban_rural,
            sum(cases)::bigint as cases, max(da)::bigint as floor_applicants
        from levels group by {sets}
    ),
    exact as (
        select * from (
            with {_levels_cte("person_small", "true")}
            select {keys}, count(distinct applicant)::bigint as exact_applicants
            from levels group by {sets})
    )
    select year, region_level, region_code, parent_code, urban_rural, age_group_code,
        theme_code, cases,
        greatest(floor_applicants, coalesce(exact_applicants, 0))::bigint as distinct_applicants
    from cells left join exact
        using (year, region_level, region_code, age_group_code, theme_code)
    order by year, region_level, region_code, age_group_code, theme_code
    """
    return con.execute(sql).df()


def read_enterprise(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # needs the temp tables of demand_groups
    sets = "grouping sets ((year, region_level, r_code, ind), (year, region_level, r_code))"
    keys = """year, region_level, r_code as region_code,
        case when grouping(ind) = 1 then 'ALL' else ind end as industry_section"""
    cases_sql = f"""
    with {_levels_cte("enterprise_g", "true")},
    cells as (
        select {keys}, any_value(r_parent) as parent_code, sum(cases)::bigint as cases,
            max(da)::bigint as floor_applicants
        from levels group by {sets}
    ),
    exact as (
        select * from (
            with {_levels_cte("enterprise_small", "true")}
            select {keys}, count(distinct applicant)::bigint as exact_applicants
            from levels group by {sets})
    )
    select year, region_level, region_code, parent_code, industry_section, cases,
        greatest(floor_applicants, coalesce(exact_applicants, 0))::bigint as distinct_applicants
    from cells left join exact using (year, region_level, region_code, industry_section)
    order by year, region_level, region_code, industry_section
    """
    active_sql = f"""
    with {_levels_cte("wh.marts.subj_enterprise_population", "true")}
    select year, region_level, r_code as region_code, any_value(r_parent) as parent_code,
        case when grouping(ind) = 1 then 'ALL' else ind end as industry_section,
        sum(active_enterprises)::bigint as active_enterprises
    from (select *, coalesce(industry_section, 'NA') as ind from levels)
    group by grouping sets ((year, region_level, r_code, ind), (year, region_level, r_code))
    order by year, region_level, region_code, industry_section
    """
    cases = con.execute(cases_sql).df()
    active = con.execute(active_sql).df()
    keys_ = ["year", "region_level", "region_code", "industry_section"]
    out = cases.merge(active, on=keys_, how="outer", suffixes=("", "_a"))
    out["parent_code"] = out["parent_code"].fillna(out.pop("parent_code_a"))
    # only years with cases: the enterprise register alone is not a demand table
    out = out[out["year"].isin(cases["year"].unique())]
    out["cases"] = out["cases"].fillna(0).astype("int64")
    out["distinct_applicants"] = out["distinct_applicants"].fillna(0).astype("int64")
    return out.sort_values(keys_, kind="stable").reset_index(drop=True)


def read_population(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    sql = f"""
    with {_levels_cte("wh.marts.subj_population_pyramid", "population > 0")}
    select year, region_level, r_code as region_code, any_value(r_parent) as parent_code,
        case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(sx) = 1 then 'ALL' else sx end as sex,
        sum(population)::bigint as population
    from (select *, coalesce(age_group_code, 'NA') as age,
                 coalesce(cast(sex as varchar), 'NA') as sx from levels)
    group by grouping sets (
        (year, region_level, r_code, age, sx), (year, region_level, r_code, age),
        (year, region_level, r_code, sx), (year, region_level, r_code))
    order by year, region_level, region_code, age_group_code, sex
    """
    return con.execute(sql).df()


def read_divide(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Online/offline use by age group × urban/rural; needs :func:`demand_groups`' tables."""
    sets = "grouping sets ((year, age, ur), (year, age), (year, ur), (year))"
    keys = """year, case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(ur) = 1 then 'ALL' else ur end as urban_rural"""
    sql = f"""
    with cells as (
        select {keys},
            sum(cases)::bigint as cases, max(da) as floor_all,
            coalesce(sum(cases) filter (where online), 0)::bigint as online_cases,
            coalesce(max(da) filter (where online), 0) as floor_online,
            coalesce(sum(cases) filter (where not online), 0)::bigint as offline_cases,
            coalesce(max(da) filter (where not online), 0) as floor_offline
        from (select *, coalesce(urban_rural, 'NA') as ur from person_g)
        group by {sets}
    ),
    exact as (
        select {keys},
            count(distinct applicant) as exact_all,
            count(distinct applicant) filter (where online) as exact_online,
            count(distinct applicant) filter (where not online) as exact_offline
        from (select *, coalesce(urban_rural, 'NA') as ur from person_small)
        group by {sets}
    )
    select year, age_group_code, urban_rural, cases,
        greatest(floor_all, coalesce(exact_all, 0))::bigint as distinct_applicants,
        online_cases,
        greatest(floor_online, coalesce(exact_online, 0))::bigint as online_applicants,
        offline_cases,
        greatest(floor_offline, coalesce(exact_offline, 0))::bigint as offline_applicants
    from cells left join exact using (year, age_group_code, urban_rural)
    order by year, age_group_code, urban_rural
    """
    return con.execute(sql).df()


def _perf_rate(name: str) -> str:
    """A performance rate of the summed ``perf`` columns, by its one definition."""
    m = metrics.get(name)
    return f"{m.ratio_sql(f'perf.{m.numerator}', f'perf.{m.denominator}')} as {name}"


def read_performance(
    con: duckdb.DuckDBPyConnection,
    threshold: int,
    demand_cols: set[str],
    fact_cols: set[str],
) -> pd.DataFrame:
    # per item and year, the largest distinct count of any month × department × county row
    # is a lower bound on the item-year count; items under the threshold by that bound get a
    # second bound from the finest source served (its rows of those items only), and items
    # still under it their exact count (from the few rows of those items)
    con.execute("""
        create or replace temp table item_floor as
        select year, item_code, max(distinct_applicants)::bigint as da
        from wh.marts.subj_service_performance group by year, item_code""")
    t = int(threshold)
    if "item_code" in demand_cols:
        rows = f"""
            select year, item_code, {applicant_id(demand_cols)} as applicant
            from wh.marts.subj_applicant_demand"""
    elif {"item_code", "applicant_key", "submitted_year"} <= fact_cols:
        rows = """
            select submitted_year as year, item_code, applicant_key as applicant
            from wh.marts.fct_service_cases"""
    else:
        rows = ""  # no finer source: the lower bound alone (conservative: suppresses more)
    exact = "select year, item_code, 0::bigint as da from item_floor where false"
    if rows:
        # the second bound counts distinct 64-bit hashes of the ids (a collision merges two
        # applicants, never splits one), in the constant memory of _distinct_floor
        con.execute(f"""
            create or replace temp table item_bound as
            select year, item_code, list_unique(min(hash(applicant), {3 * t}))::bigint as da
            from ({rows})
            semi join (select year, item_code from item_floor where da < {t})
                using (year, item_code)
            group by year, item_code""")
        exact = f"""
            select year, item_code, greatest(any_value(b.da), count(distinct r.applicant)) as da
            from item_bound as b
            left join (select * from ({rows})
                       semi join (select year, item_code from item_bound where da < {t})
                           using (year, item_code)) as r
                using (year, item_code)
            group by year, item_code"""
    applicants = f"""
        select year, item_code, greatest(f.da, coalesce(e.da, 0)) as distinct_applicants
        from item_floor as f left join ({exact}) as e using (year, item_code)"""
    sql = f"""
    with perf as (
        select year, item_code,
            any_value(category_code) as category_code, any_value(theme_code) as theme_code,
            sum(cases)::bigint as cases, sum(completed_cases)::bigint as completed_cases,
            sum(on_time_cases) as on_time_cases, sum(zero_visit_cases) as zero_visit_cases,
            sum(max_one_visit_cases) as max_one_visit_cases,
            sum(rated_cases)::bigint as rated_cases, sum(satisfied_cases) as satisfied_cases,
            sum(bad_review_cases) as bad_review_cases
        from wh.marts.subj_service_performance group by year, item_code
    ),
    -- median and p90 of working days over the completed cases, i.e. quantile_cont over each
    -- day value repeated completed_cases times, from cumulative weights (no row per case):
    -- the k-th smallest value (from 0) is the first whose running count exceeds k, and
    -- quantile q interpolates between ranks floor(h) and ceil(h), h = (n - 1) * q
    days as (
        select year, item_code, working_days, sum(completed_cases)::bigint as w
        from wh.marts.subj_processing_time
        where completed_cases > 0 and working_days is not null
        group by year, item_code, working_days
    ),
    ranked as (
        select year, item_code, working_days,
            sum(w) over (partition by year, item_code order by working_days
                         rows between unbounded preceding and current row) as upto,
            (sum(w) over (partition by year, item_code) - 1)::double as last_rank
        from days
    ),
    times_q as (
        select year, item_code, q, any_value(last_rank * q) as h,
            min(working_days) filter (where upto > floor(last_rank * q))::double as lo,
            min(working_days) filter (where upto > ceil(last_rank * q))::double as hi
        from ranked, (select unnest([0.5::double, 0.9::double]) as q)
        group by year, item_code, q
    ),
    times as (
        select year, item_code,
            any_value(lo + (hi - lo) * (h - floor(h))) filter (where q = 0.5)
                as median_working_days,
            any_value(lo + (hi - lo) * (h - floor(h))) filter (where q = 0.9)
                as p90_working_days
        from times_q group by year, item_code
    ),
    applicants as ({applicants})
    select perf.year, perf.item_code, items.item_name_zh, items.item_name_en,
        perf.category_code, perf.theme_code, items.applicant_type,
        perf.cases, perf.completed_cases,
        times.median_working_days, times.p90_working_days,
        {_perf_rate("on_time_rate")},
        {_perf_rate("zero_visit_rate")},
        {_perf_rate("max_one_visit_rate")},
        perf.rated_cases,
        {_perf_rate("satisfaction_rate")},
        {_perf_rate("bad_review_rate")},
        coalesce(applicants.distinct_applicants, 0)::bigint as distinct_applicants
    from perf
    left join times using (year, item_code)
    left join applicants using (year, item_code)
    left join wh.marts.dim_service_item as items using (item_code)
    where perf.cases > 0
    order by perf.year, perf.item_code
    """
    return con.execute(sql).df()


def read_standardised(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """select year, region_code, prefecture_code, urban_rural, theme_code, cases,
                  population, crude_rate, expected_cases, standardised_ratio, ratio_ci_low,
                  ratio_ci_high, age_standardised_rate
           from wh.marts.subj_demand_standardised order by year, region_code, theme_code"""
    ).df()


def read_labels(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {
        "region": con.execute(
            "select region_code, any_value(region_name) as region_name "
            "from wh.marts.dim_region group by region_code"
        ).df(),
        "theme": con.execute(
            "select theme_code, any_value(theme_name_zh) as theme_name_zh, "
            "any_value(theme_name_en) as theme_name_en from wh.marts.dim_service_item "
            "where theme_code is not null group by theme_code"
        ).df(),
        "industry": con.execute(
            "select industry_section, any_value(name_zh) as industry_name_zh, "
            "any_value(name_en) as industry_name_en from wh.marts.dim_industry "
            "group by industry_section"
        ).df(),
    }


def read_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    months = con.execute(
        "select min(month), max(month) from wh.marts.subj_applicant_demand"
    ).fetchone()
    provinces = con.execute(
        """select d.province_code, any_value(r.region_name), count(distinct d.region_code)
           from wh.marts.subj_applicant_demand d
           left join wh.marts.dim_region r on r.region_code = d.province_code
           group by d.province_code order by 1"""
    ).fetchall()
    start = months[0] if months else None
    end = months[1] if months else None
    if end is not None:
        end = (pd.Timestamp(end) + pd.offsets.MonthEnd(0)).date()
    return {
        "temporal": {"start": str(start) if start else None, "end": str(end) if end else None},
        "spatial": [
            {"province_code": code, "name": name, "counties_with_cases": int(n)}
            for code, name, n in provinces
        ],
    }
