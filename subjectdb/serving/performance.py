"""Service performance: on-time, visit and satisfaction rates and processing time.

Counts and rates come from ``marts.dash_service_performance`` (subj_service_performance at the
applicant's grain): summed over the filtered rows they are subj_service_performance's numbers,
the rates are the metrics of :mod:`subjectdb.metrics` over the summed numerators and
denominators, and the distinct ``applicant_seq`` of the same rows is the *exact* number of
distinct applicants behind every row shown — item, department, item × department, month,
county, prefecture — so the release's rule decides each row (:mod:`subjectdb.serving.
suppression`): fewer than 10 applicants suppressed, a rate on fewer than 100 completed / rated /
all cases withheld. Processing-time quantiles come from the exact histogram
``subj_processing_time``.

Functions (``wh``: :class:`~subjectdb.serving.connection.Warehouse`, ``f``:
:class:`~subjectdb.serving.filters.Filters`), each returning a
:class:`~subjectdb.serving.filters.Result`:

- ``performance_summary(wh, f)`` — one row: :data:`PERF_MEASURES`, ``distinct_applicants``,
  ``suppressed``, ``<rate>_withheld``;
- ``performance_by(wh, f, by)`` — one row per ``by`` in :data:`PERF_GROUPS` (``item``,
  ``department``, ``item_department`` — columns ``item`` and ``department`` —, ``month``,
  ``county``, ``prefecture``, ``sex``, ``age_group``, ``urban_rural``), same columns, ordered by
  cases (largest first); item rows the served build's latest release suppresses are suppressed
  too (:mod:`subjectdb.serving.released`);
- ``processing_time(wh, f)`` — completed cases by working days minus promised days;
- ``processing_quantiles(wh, f)`` — exact median and 90th percentile of working days.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from subjectdb import metrics
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.demand import Codes, distinct_applicants_sql
from subjectdb.serving.filters import Filters, Result, Where, region_cond
from subjectdb.serving.released import withhold_released_items
from subjectdb.serving.suppression import suppress, withhold_rates

PERF_TABLE = f"{DB}.marts.dash_service_performance"
"""Performance counts per applicant × month × item × department × county (+ age group, sex,
channel, industry): exact distinct applicants for any cell."""
PERF_FROM = f"""
    FROM {PERF_TABLE} s
"""
SOURCE = "subj_service_performance"
"""The subject table whose definitions the numbers follow (dash_service_performance holds the
same counts per applicant)."""

PERF_COUNTS = (
    "cases",
    "completed_cases",
    "on_time_cases",
    "zero_visit_cases",
    "max_one_visit_cases",
    "rated_cases",
    "satisfied_cases",
    "bad_review_cases",
)
"""The additive counts of dash_service_performance (the metrics' numerators and denominators)."""
PERF_RATES = (
    "on_time_rate",
    "zero_visit_rate",
    "max_one_visit_rate",
    "satisfaction_rate",
    "bad_review_rate",
)
PERF_MEASURES = (
    "cases",
    "completed_cases",
    "on_time_rate",
    "zero_visit_rate",
    "max_one_visit_rate",
    "rated_cases",
    "satisfaction_rate",
    "bad_review_rate",
    "late_cases",
    "bad_review_cases",
)
"""The measures of a performance result: counts summed (``late_cases``: completed cases over
their promised working days), rates the metrics of :mod:`subjectdb.metrics` over the summed
numerators and denominators."""
RATE_DENOMINATORS = {name: metrics.get(name).denominator for name in PERF_RATES}
"""Each rate's denominator column (from its metric definition): the rate is withheld when it
is under 100."""
SIDE_COUNTS = ("completed_cases", "rated_cases", "late_cases", "bad_review_cases")
"""Counts shown beside a row's cases: withheld when positive and under 10 (as in the release)."""


def perf_where(f: Filters, alias: str = "s") -> tuple[Where, tuple[str, ...]]:
    """Conditions of ``f`` on ``subj_processing_time`` (alias ``alias``) and the active filters
    it cannot apply (it has no age group, channel, sex or industry)."""
    w = Where()
    w.add(f"{alias}.month BETWEEN ? AND ?", f.month_from, f.month_to)
    region_cond(w, f, alias)
    w.any_of(f"{alias}.category_code", f.categories)
    w.any_of(f"{alias}.theme_code", f.themes)
    _applicant_type_cond(w, f, alias)
    ignored = tuple(
        x for x in f.active() if x in ("age_group", "channel", "sex", "industry", "urban_rural")
    )
    return w, ignored


def _applicant_type_cond(w: Where, f: Filters, alias: str) -> None:
    if f.applicant_types:
        # a semi-join on the (small) item catalog: no join at all when the filter is off (the
        # item codes are tested against the catalog in staging)
        w.add(
            f"{alias}.item_code IN (SELECT item_code FROM {DB}.marts.dim_service_item "
            "WHERE list_contains(?, applicant_type))",
            list(f.applicant_types),
        )


def dash_perf_where(f: Filters, alias: str = "s") -> Where:
    """Every filter of ``f`` on ``dash_service_performance`` (alias ``alias``)."""
    w = Where()
    w.add(f"{alias}.month BETWEEN ? AND ?", f.month_from, f.month_to)
    region_cond(w, f, alias)
    w.any_of(f"{alias}.category_code", f.categories)
    w.any_of(f"{alias}.theme_code", f.themes)
    w.any_of(f"{alias}.age_group_code", f.age_groups)
    w.any_of(f"{alias}.channel_code", f.channels)
    w.any_of(f"{alias}.sex", f.sexes)
    w.any_of(f"{alias}.urban_rural", f.urban_rural)
    w.any_of(f"{alias}.industry_section", f.industries)
    _applicant_type_cond(w, f, alias)
    return w


def _read_sizes(wh: Warehouse) -> dict[str, int]:
    df = wh.df(f"""
        SELECT coalesce(max(applicant_seq) + 1, 0) AS applicants,
               count(DISTINCT item_code) AS item,
               count(DISTINCT (dept_name, dept_region_code)) AS department,
               count(DISTINCT (item_code, dept_name, dept_region_code)) AS item_department,
               count(DISTINCT region_code) AS county,
               count(DISTINCT prefecture_code) AS prefecture
        {PERF_FROM}
    """)
    return {k: int(v) for k, v in df.iloc[0].items()}


def perf_sizes(wh: Warehouse) -> dict[str, int]:
    """Bitmap size (max applicant number + 1) and group counts, once per served build."""
    return wh.memo("dash_service_performance_sizes", _read_sizes)  # type: ignore[no-any-return]


def _measure_sql(name: str) -> str:
    if name == "late_cases":
        return "sum(s.completed_cases - s.on_time_cases) AS late_cases"
    m = metrics.metrics().get(name)
    if m is not None and m.model == SOURCE:
        return f"{m.aggregate_sql('s')} AS {name}"
    return f"sum(s.{name}) AS {name}"


_PERF_SELECT = ",\n    ".join(_measure_sql(name) for name in PERF_MEASURES)


def _disclose(df: pd.DataFrame) -> pd.DataFrame:
    """The release's rule on every row: the cell on its exact applicants and cases, then the
    side counts under 10 and the rates on fewer than 100 of their denominator."""
    df = suppress(df, PERF_MEASURES, value_col="cases")
    return withhold_rates(df, RATE_DENOMINATORS, SIDE_COUNTS)


PERF_GROUPS: dict[str, tuple[str, ...]] = {
    "item": ("s.item_code",),
    "department": ("s.dept_name", "s.dept_region_code"),
    "item_department": ("s.item_code", "s.dept_name", "s.dept_region_code"),
    "month": ("s.month",),
    "county": ("s.region_code",),
    "prefecture": ("s.prefecture_code",),
    "sex": ("s.sex",),
    "age_group": ("s.age_group_code",),
    "urban_rural": ("s.urban_rural",),
}
"""Groupings of :func:`performance_by`: the key columns of each."""
_GROUP_NAMES = {
    "item": ("item",),
    "department": ("department", "department_region"),
    "item_department": ("item", "department", "department_region"),
}


def _groups_bound(wh: Warehouse, f: Filters, by: str | None) -> int:
    if by is None:
        return 1
    if by == "month":
        return f.months
    return max(1, perf_sizes(wh).get(by, 16))


def _query(wh: Warehouse, f: Filters, by: str | None) -> pd.DataFrame:
    w = dash_perf_where(f)
    sizes = perf_sizes(wh)
    distinct = distinct_applicants_sql(
        Codes({}, sizes["applicants"]), _groups_bound(wh, f, by), "s"
    )
    if by is None:
        sql = f"""
            SELECT {_PERF_SELECT}, {distinct} AS distinct_applicants
            {PERF_FROM} WHERE {w.sql()}
        """
        return wh.df(sql, w.params)
    cols = PERF_GROUPS[by]
    names = _GROUP_NAMES.get(by, (by,))
    sel = ", ".join(f"{c} AS {n}" for c, n in zip(cols, names, strict=True))
    group = ", ".join(str(i + 1) for i in range(len(cols)))
    sql = f"""
        SELECT {sel}, {_PERF_SELECT}, {distinct} AS distinct_applicants
        {PERF_FROM} WHERE {w.sql()} GROUP BY {group} ORDER BY cases DESC, {group}
    """
    return wh.df(sql, w.params)


def performance_summary(wh: Warehouse, f: Filters, applicants: Any = None) -> Result:
    """On-time, visit and satisfaction rates over the filtered cases, with their exact
    distinct applicants (``applicants`` is accepted for older callers and ignored: the count
    is exact from dash_service_performance)."""
    df = _query(wh, f, None)
    return Result(_disclose(df), SOURCE)


def performance_by(wh: Warehouse, f: Filters, by: str) -> Result:
    """Performance measures by ``by`` (a key of :data:`PERF_GROUPS`), every row decided on its
    exact distinct applicants; item rows the served build's latest release suppresses (for a
    year the period touches) are suppressed as well."""
    if by not in PERF_GROUPS:
        raise ValueError(f"unknown performance grouping {by!r} (one of {', '.join(PERF_GROUPS)})")
    df = _query(wh, f, by)
    if by in ("item", "item_department"):
        df = withhold_released_items(wh, f, df)
    return Result(_disclose(df), SOURCE)


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
    """Exact median and 90th percentile of working days, from the histogram (withheld on
    fewer than 100 completed cases, as in the release)."""
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
    df = withhold_rates(
        df, {"median_working_days": "completed_cases", "p90_working_days": "completed_cases"}
    )
    return Result(
        df.drop(columns="distinct_applicants_min"), "subj_processing_time", ignored=ignored
    )
