"""Cross-verification (交互核验): register mismatches of the approval data by handling
department, item, month and check (``subj_cross_verification``), and a department's feedback
list (case ids and checks only, ``int_verification__case_checks``).

The rate is mismatches per 1,000 cases of the check's applicant type, summed over the cells a
reader rolls up (:data:`MISMATCH_RATE`, defined once in :mod:`subjectdb.metrics`). Each case fails
at most one check, so across checks the cases of a cell are counted once and its mismatches
added up. The table has no region, age group or channel: those filters are reported ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from subjectdb import metrics
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.filters import Filters, Result, Where

CHECKS: dict[str, tuple[str, ...]] = {
    "person": ("person_not_registered", "person_deceased", "person_not_resident"),
    "enterprise": ("enterprise_not_registered", "enterprise_closed", "enterprise_other_region"),
}
"""The register checks of each applicant type, in the order a case is checked."""
CHECK_ORDER = tuple(c for checks in CHECKS.values() for c in checks)
XV_DIMS = {  # dimension a reader groups by → column of subj_cross_verification
    "department": "dept_name",
    "item": "item_code",
    "month": "submitted_month",
    "applicant_type": "applicant_type",
    "check": "check_code",
}
MISMATCH_RATE = metrics.get("mismatches_per_1000")
"""Mismatches per 1,000 cases, defined once in ``dbt_project.yml`` ``vars.metrics``."""
_TABLE = f"{DB}.marts.subj_cross_verification"
_CASES = f"{DB}.intermediate.int_verification__case_checks"


def _where(f: Filters, department: str | None, alias: str = "x") -> tuple[Where, tuple[str, ...]]:
    w = Where()
    w.add(f"{alias}.submitted_month BETWEEN ? AND ?", f.month_from, f.month_to)
    if department:
        w.add(f"{alias}.dept_name = ?", department)
    w.any_of(f"{alias}.applicant_type", f.applicant_types)
    if f.categories or f.themes:
        items = Where()
        items.any_of("category_code", f.categories)
        items.any_of("theme_code", f.themes)
        w.add(
            f"{alias}.item_code IN (SELECT item_code FROM {DB}.marts.dim_service_item "
            f"WHERE {items.sql()})",
            *items.params,
        )
    ignored = tuple(d for d in f.active() if d in ("region", "age_group", "channel"))
    return w, ignored


def cross_verification(
    wh: Warehouse, f: Filters, dims: Sequence[str], department: str | None = None
) -> Result:
    """Cases checked, mismatches and mismatches per 1,000 cases grouped by ``dims`` (of
    :data:`XV_DIMS`), over the period and the applicant-type, category and theme filters,
    for one handling ``department`` or all of them.

    Without ``check`` among the dimensions a row counts every check: the cases of each cell
    once (they are the same for the three checks of its applicant type) and the mismatches of
    all its checks.
    """
    for d in dims:
        if d not in XV_DIMS:
            raise ValueError(f"unknown cross-verification dimension {d!r}")
    w, ignored = _where(f, department)
    cell = ["dept_name", "item_code", "submitted_month", "applicant_type"]
    if "check" in dims:
        cell.append("check_code")
    cols = ", ".join(f"{XV_DIMS[d]} AS {d}" for d in dims)
    grp = ", ".join(str(i + 1) for i in range(len(dims))) or "()"
    order = ", ".join(str(i + 1) for i in range(len(dims))) or "1"
    sql = f"""
        WITH cells AS (
            SELECT {", ".join(cell)}, max(x.cases) AS cases, sum(x.mismatches) AS mismatches
            FROM {_TABLE} x WHERE {w.sql()} GROUP BY {", ".join(cell)}
        )
        SELECT {cols}{"," if dims else ""}
               sum(cases)::BIGINT AS cases, sum(mismatches)::BIGINT AS mismatches,
               {MISMATCH_RATE.aggregate_sql()} AS mismatches_per_1000
        FROM cells GROUP BY {grp} ORDER BY {order}
    """
    df = wh.df(sql, w.params)
    if "month" in df:
        df["month"] = pd.to_datetime(df["month"])
    return Result(df, "subj_cross_verification", ignored=ignored)


def feedback_cases(
    wh: Warehouse,
    department: str,
    month_from: date | None = None,
    month_to: date | None = None,
) -> pd.DataFrame:
    """A department's feedback list: its own cases that failed a register check, with the
    item, submission month and check only (no applicant data), in month and case order;
    ``month_from``/``month_to`` (first days of months, inclusive) bound the submission month."""
    w = Where()
    w.add("dept_name = ?", department)
    w.add("is_mismatch")
    if month_from is not None:
        w.add("submitted_month >= ?", month_from)
    if month_to is not None:
        w.add("submitted_month <= ?", month_to)
    return wh.df(
        f"SELECT case_id, item_code, submitted_month, check_code FROM {_CASES} "
        f"WHERE {w.sql()} ORDER BY submitted_month, case_id",
        w.params,
    )
