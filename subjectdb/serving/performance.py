"""Service performance: on-time, visit and satisfaction rates (the metrics of
:mod:`subjectdb.metrics` over ``subj_service_performance``) and processing time from the exact
histogram ``subj_processing_time``."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from subjectdb import metrics
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.demand import demand
from subjectdb.serving.filters import Filters, Result, Where, region_cond
from subjectdb.serving.suppression import suppress


def perf_where(f: Filters, alias: str = "s") -> tuple[Where, tuple[str, ...]]:
    """Conditions of ``f`` on a performance table (alias ``alias``) and the active filters
    it cannot apply (performance has no age group or channel)."""
    w = Where()
    w.add(f"{alias}.month BETWEEN ? AND ?", f.month_from, f.month_to)
    region_cond(w, f, alias)
    w.any_of(f"{alias}.category_code", f.categories)
    w.any_of(f"{alias}.theme_code", f.themes)
    if f.applicant_types:
        # a semi-join on the (small) item catalog: no join at all when the filter is off (the
        # item codes are tested against the catalog in staging)
        w.add(
            f"{alias}.item_code IN (SELECT item_code FROM {DB}.marts.dim_service_item "
            "WHERE list_contains(?, applicant_type))",
            list(f.applicant_types),
        )
    ignored = tuple(x for x in f.active() if x in ("age_group", "channel"))
    return w, ignored


PERF_FROM = f"""
    FROM {DB}.marts.subj_service_performance s
"""
PERF_ITEM_FROM = f"""
    FROM {DB}.marts.subj_service_performance s
    JOIN {DB}.marts.dim_service_item i ON i.item_code = s.item_code
"""

PERF_MEASURES = (
    "cases",
    "completed_cases",
    "on_time_rate",
    "zero_visit_rate",
    "max_one_visit_rate",
    "rated_cases",
    "satisfaction_rate",
    "bad_review_rate",
)
"""The measures of a performance result, in order: counts summed, rates the metrics of
:mod:`subjectdb.metrics` over the summed numerators and denominators."""


def _measure_sql(name: str) -> str:
    m = metrics.metrics().get(name)
    if m is not None and m.model == "subj_service_performance":
        return f"{m.aggregate_sql('s')} AS {name}"
    return f"sum(s.{name}) AS {name}"


_PERF_SELECT = ",\n    ".join(
    [
        *(_measure_sql(name) for name in PERF_MEASURES),
        "max(s.distinct_applicants) AS distinct_applicants_min",
    ]
)


def _perf_suppress(df: pd.DataFrame) -> pd.DataFrame:
    # Exact distinct applicants per item or department cannot be recovered from the subject
    # tables (subj_applicant_demand has no item); the largest per-row count is a lower bound,
    # so a cell is shown only when that lower bound reaches the threshold (conservative).
    return suppress(df, PERF_MEASURES, count_col="distinct_applicants_min")


def performance_summary(wh: Warehouse, f: Filters, applicants: int | None = None) -> Result:
    """On-time, visit and satisfaction rates over the filtered cases (exact from counts).

    ``applicants``: the exact distinct applicants of the same set when the caller already
    counted them (suppression); otherwise they are counted here.
    """
    w, ignored = perf_where(f)
    df = wh.df(f"SELECT {_PERF_SELECT} {PERF_FROM} WHERE {w.sql()}", w.params)
    if applicants is None:
        n = demand(wh, replace(f, age_groups=(), channels=())).data
        applicants = int(n["distinct_applicants"].fillna(0).iloc[0]) if len(n) else 0
    df["distinct_applicants_min"] = applicants
    return Result(_perf_suppress(df), "subj_service_performance", ignored=ignored)


PERF_GROUPS = {
    "item": "s.item_code",
    "department": "s.dept_name",
    "month": "s.month",
    "county": "s.region_code",
    "prefecture": "s.prefecture_code",
}


def performance_by(wh: Warehouse, f: Filters, by: str) -> Result:
    """Performance measures by item, department, month, county or prefecture."""
    col = PERF_GROUPS[by]
    w, ignored = perf_where(f)
    sql = f"""
        SELECT {col} AS {by}, {_PERF_SELECT}
        {PERF_FROM} WHERE {w.sql()} GROUP BY 1 ORDER BY cases DESC
    """
    return Result(_perf_suppress(wh.df(sql, w.params)), "subj_service_performance", ignored=ignored)


_PT_FROM = f"""
    FROM {DB}.marts.subj_processing_time t
    JOIN {DB}.marts.dim_service_item i ON i.item_code = t.item_code
"""


def processing_time(wh: Warehouse, f: Filters) -> Result:
    """Completed cases by working days taken minus the item's promised working days."""
    w, ignored = perf_where(f, "t")
    sql = f"""
        SELECT t.working_days - i.promised_days AS days_vs_promise,
               sum(t.completed_cases) AS completed_cases
        {_PT_FROM} WHERE {w.sql()} GROUP BY 1 ORDER BY 1
    """
    df = wh.df(sql, w.params)
    # A bar is a count of completed cases: a bar of fewer than THRESHOLD cases cannot hold
    # THRESHOLD applicants, so it is suppressed.
    df["distinct_applicants_min"] = df["completed_cases"]
    df = suppress(df, ["completed_cases"], count_col="distinct_applicants_min")
    return Result(
        df.drop(columns="distinct_applicants_min"), "subj_processing_time", ignored=ignored
    )


def processing_quantiles(wh: Warehouse, f: Filters) -> Result:
    """Exact median and 90th percentile of working days, from the histogram."""
    w, ignored = perf_where(f, "t")
    sql = f"""
        WITH h AS (
            SELECT t.working_days, sum(t.completed_cases) AS n
            FROM {DB}.marts.subj_processing_time t
            WHERE {w.sql()} GROUP BY 1
        ), c AS (
            SELECT working_days, n, sum(n) OVER (ORDER BY working_days) AS cum,
                   sum(n) OVER () AS total FROM h
        )
        SELECT min(working_days) FILTER (WHERE cum >= 0.5 * total) AS median_working_days,
               min(working_days) FILTER (WHERE cum >= 0.9 * total) AS p90_working_days,
               coalesce(max(total), 0) AS completed_cases
        FROM c
    """
    df = wh.df(sql, w.params)
    df["distinct_applicants_min"] = df["completed_cases"]
    df = suppress(
        df, ["median_working_days", "p90_working_days"], count_col="distinct_applicants_min"
    )
    return Result(
        df.drop(columns="distinct_applicants_min"), "subj_processing_time", ignored=ignored
    )
