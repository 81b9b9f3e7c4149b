"""The overview's KPI cards: demand and performance headline figures for the period and for
the previous period of equal length."""

from __future__ import annotations

from typing import Any

import pandas as pd

from subjectdb.serving.connection import Warehouse
from subjectdb.serving.demand import demand
from subjectdb.serving.filters import Filters, Result
from subjectdb.serving.performance import performance_summary

KPI_NAMES = (
    "cases",
    "distinct_applicants",
    "rate_per_1000",
    "online_share",
    "on_time_rate",
    "satisfaction_rate",
)


def kpis(wh: Warehouse, f: Filters) -> Result:
    """The overview cards for the period and for the previous period of equal length."""
    rows = []
    ignored: tuple[str, ...] = ()
    for label, ff in (("current", f), ("previous", f.previous())):
        d = demand(wh, ff).data
        pr = performance_summary(wh, ff)
        p = pr.data
        ignored = ignored or pr.ignored
        rec: dict[str, Any] = {
            "period": label,
            "month_from": ff.month_from,
            "month_to": ff.month_to,
        }
        for k in ("cases", "distinct_applicants", "rate_per_1000", "online_share"):
            rec[k] = d[k].iloc[0] if len(d) else None
        for k in ("on_time_rate", "satisfaction_rate"):
            rec[k] = p[k].iloc[0] if len(p) else None
        rec["suppressed"] = bool(d["suppressed"].iloc[0]) if len(d) else True
        rows.append(rec)
    return Result(pd.DataFrame(rows), "subj_applicant_demand", ignored=ignored)
