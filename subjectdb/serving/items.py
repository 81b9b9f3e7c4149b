"""Service items: cases by category → theme → item with growth on the previous period."""

from __future__ import annotations

from subjectdb.serving.connection import Warehouse
from subjectdb.serving.filters import Filters, Result
from subjectdb.serving.performance import PERF_FROM, PERF_ITEM_FROM, perf_where
from subjectdb.serving.suppression import THRESHOLD, suppress


def items_demand(wh: Warehouse, f: Filters, previous: bool = True) -> Result:
    """Cases by service item (category → theme → item) with growth on the previous period."""
    w, ignored = perf_where(f)
    pf = f.previous()
    pw, _ = perf_where(pf)
    sql = f"""
        WITH cur AS (
            SELECT s.item_code, i.category_code, i.theme_code, sum(s.cases) AS cases,
                   max(s.distinct_applicants) AS distinct_applicants_min
            {PERF_ITEM_FROM} WHERE {w.sql()} GROUP BY 1, 2, 3
        ), prev AS (
            SELECT s.item_code, sum(s.cases) AS cases,
                   max(s.distinct_applicants) AS distinct_applicants_min
            {PERF_FROM} WHERE {pw.sql()} GROUP BY 1
        )
        SELECT cur.item_code AS item, cur.category_code AS category, cur.theme_code AS theme,
               cur.cases, cur.distinct_applicants_min,
               CASE WHEN prev.distinct_applicants_min >= {THRESHOLD} THEN prev.cases END
                 AS previous_cases,
               CASE WHEN prev.distinct_applicants_min >= {THRESHOLD} AND prev.cases > 0
                    THEN cur.cases / prev.cases::DOUBLE - 1 END AS growth
        FROM cur LEFT JOIN prev USING (item_code)
        ORDER BY cur.cases DESC
    """
    df = wh.df(sql, w.params + pw.params)
    df = suppress(df, ["cases", "previous_cases", "growth"], count_col="distinct_applicants_min")
    return Result(df, "subj_service_performance", ignored=ignored)
