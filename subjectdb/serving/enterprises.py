"""Enterprise demand: legal-person cases per 1,000 active enterprises by industry, size class
or region (cases from the serving tables, enterprises from ``subj_enterprise_population``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from subjectdb import metrics
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.demand import demand_agg, load_codes
from subjectdb.serving.filters import Filters, Result, Where, region_cond
from subjectdb.serving.suppression import suppress

_RATE = metrics.get("ent_rate_per_1000")

ENT_GROUPS = {  # dimension → column of subj_enterprise_population
    "industry": "industry_section",
    "size_class": "size_class",
    "county": "region_code",
    "prefecture": "prefecture_code",
}


def enterprise_demand(wh: Warehouse, f: Filters, dims: Sequence[str]) -> Result:
    """Legal-person cases per 1,000 active enterprises by industry, size class or region.

    Cases and exact distinct applicants come from ``subj_applicant_demand`` (legal persons);
    active enterprises (a 1 July stock) from ``subj_enterprise_population``, as the
    month-weighted mean over the years of the period.
    """
    for d in dims:
        if d not in ENT_GROUPS:
            raise ValueError(f"unknown enterprise dimension {d!r}")
    codes = load_codes(wh)
    num_sql, num_params = demand_agg(
        codes,
        replace(f, applicant_types=(), age_groups=()),
        dims,
        extra=[f"d.applicant_type_id = {codes.id('applicant_type', 'enterprise')}"],
    )
    sel_p = ", ".join(f"p.{ENT_GROUPS[d]} AS {d}" for d in dims)
    grp = ", ".join(str(i + 1) for i in range(len(dims))) or "()"
    pw = Where()
    region_cond(pw, f, "p")
    ignored = tuple(x for x in f.active() if x == "age_group")
    if f.applicant_types and "enterprise" not in f.applicant_types:
        ignored += ("applicant_type",)
    on = " AND ".join(f"num.{d} IS NOT DISTINCT FROM den.{d}" for d in dims) or "TRUE"
    sql = f"""
        WITH num AS (
            SELECT {"".join(d + ", " for d in dims)}cases, distinct_applicants FROM ({num_sql})
        ), my AS (
            SELECT year(m) AS year, count(*) / ?::DOUBLE AS w
            FROM range(?::TIMESTAMP, ?::TIMESTAMP + INTERVAL 1 MONTH, INTERVAL 1 MONTH) t(m)
            GROUP BY 1
        ), den AS (
            SELECT {sel_p}{"," if dims else ""} sum(p.active_enterprises * my.w)
                     AS active_enterprises
            FROM {DB}.marts.subj_enterprise_population p JOIN my ON my.year = p.year
            WHERE {pw.sql()} GROUP BY {grp}
        )
        SELECT num.*, den.active_enterprises,
               {_RATE.ratio_sql("num.cases", "den.active_enterprises")} AS rate_per_1000
        FROM num LEFT JOIN den ON {on}
        ORDER BY rate_per_1000 DESC NULLS LAST
    """
    params = [*num_params, f.months, f.month_from, f.month_to, *pw.params]
    df = suppress(wh.df(sql, params), ["cases", "rate_per_1000"])
    return Result(df, "subj_enterprise_demand", ignored=ignored)
