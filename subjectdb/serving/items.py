"""Service items: cases by category → theme → item with growth on the previous period.

``items_demand(wh, f, previous=True) -> Result``: one row per service item with cases in the
period (columns ``item``, ``category``, ``theme``, ``cases``, ``distinct_applicants``,
``previous_cases``, ``growth``, ``suppressed``, ``released_suppressed``), largest first. Every
row is decided on the *exact* distinct applicants behind it (``dash_service_performance``) by
the release's rule; the previous period's cases (and so the growth) are shown only when that
period's cell passes the same rule; items the served build's latest release suppresses for a
year the period touches are suppressed too (:mod:`subjectdb.serving.released`).
"""

from __future__ import annotations

import numpy as np

from subjectdb.release import disclosure
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.demand import Codes, distinct_applicants_sql
from subjectdb.serving.filters import Filters, Result
from subjectdb.serving.performance import PERF_FROM, SOURCE, dash_perf_where, perf_sizes
from subjectdb.serving.released import withhold_released_items
from subjectdb.serving.suppression import THRESHOLD, suppress


def items_demand(wh: Warehouse, f: Filters, previous: bool = True) -> Result:
    """Cases by service item (category → theme → item) with growth on the previous period."""
    w = dash_perf_where(f)
    pf = f.previous()
    pw = dash_perf_where(pf)
    sizes = perf_sizes(wh)
    distinct = distinct_applicants_sql(Codes({}, sizes["applicants"]), sizes["item"], "s")
    sql = f"""
        WITH cur AS (
            SELECT s.item_code, sum(s.cases) AS cases, {distinct} AS distinct_applicants
            {PERF_FROM} WHERE {w.sql()} GROUP BY 1
        ), prev AS (
            SELECT s.item_code, sum(s.cases) AS cases, {distinct} AS distinct_applicants
            {PERF_FROM} WHERE {pw.sql()} GROUP BY 1
        )
        SELECT cur.item_code AS item, i.category_code AS category, i.theme_code AS theme,
               cur.cases, cur.distinct_applicants,
               prev.cases AS previous_cases, prev.distinct_applicants AS previous_applicants
        FROM cur LEFT JOIN prev USING (item_code)
        LEFT JOIN {DB}.marts.dim_service_item i ON i.item_code = cur.item_code
        ORDER BY cur.cases DESC, cur.item_code
    """
    df = wh.df(sql, w.params + pw.params)
    # the previous period's cell under the same rule (and the release's item-years of it)
    prev = withhold_released_items(
        wh, pf, df[["item"]].assign(distinct_applicants=df["previous_applicants"])
    )
    prev_hidden = np.asarray(
        disclosure.cell_suppressed(
            prev["distinct_applicants"].to_numpy(dtype="float64", na_value=np.nan),
            df["previous_cases"].to_numpy(dtype="float64", na_value=np.nan),
            THRESHOLD,
        ),
        dtype=bool,
    )
    previous_cases = np.where(
        prev_hidden, np.nan, df["previous_cases"].to_numpy(dtype="float64", na_value=np.nan)
    )
    cases = df["cases"].to_numpy(dtype="float64", na_value=np.nan)
    growth = np.full(len(df), np.nan)
    np.divide(cases, previous_cases, out=growth, where=previous_cases > 0)
    growth = np.where(previous_cases > 0, growth - 1, np.nan)
    df = df.drop(columns="previous_applicants").assign(previous_cases=previous_cases, growth=growth)
    df = withhold_released_items(wh, f, df)
    df = suppress(df, ["cases", "previous_cases", "growth"], value_col="cases")
    return Result(df, SOURCE)
