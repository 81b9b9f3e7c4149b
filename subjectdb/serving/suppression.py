"""Disclosure control of the dashboard: small cells come back with their measures NULL.

The rule is the open-data release's, called from :mod:`subjectdb.release.disclosure` (one
implementation for publish and the dashboard):

* :func:`suppress` — a cell with fewer than :data:`THRESHOLD` *exact* distinct applicants behind
  it, or a count under 10, comes back with its measures NULL and ``suppressed = TRUE``
  (:func:`~subjectdb.release.disclosure.cell_suppressed`). Every query counts the distinct
  applicants of exactly the set of cases a row shows (demand: ``dash_applicant_demand``;
  items, departments and item × department: ``dash_service_performance``).
* :func:`withhold_rates` — a rate (share, quantile) on fewer than 100 of its denominator
  (residents, enterprises, cases, completed or rated cases) comes back NULL with
  ``<rate>_withheld = TRUE`` (:func:`~subjectdb.release.disclosure.rate_withheld`); a count
  beside a cell (completed, rated cases) positive but under 10 is NULL with
  ``<count>_withheld = TRUE`` (:func:`~subjectdb.release.disclosure.small_count`).

A caller tells the three apart: ``suppressed`` (the whole cell, show "<10"), ``<col>_withheld``
(too few behind that one value), NaN otherwise (nothing to compute, e.g. no completed case).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from subjectdb.release import disclosure

THRESHOLD = disclosure.DEFAULT_THRESHOLD
"""Minimum number of distinct applicants behind a shown cell (the open-data rule)."""


def _floats(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def suppress(
    df: pd.DataFrame,
    measures: Iterable[str],
    count_col: str = "distinct_applicants",
    threshold: int = THRESHOLD,
    value_col: str | None = None,
) -> pd.DataFrame:
    """Null the measures (and the count) of cells the release's primary rule suppresses.

    ``count_col`` holds the exact distinct applicants of each row, ``value_col`` (optional) the
    row's published count (e.g. ``cases``: under 10 is suppressed too). Adds a boolean
    ``suppressed`` column; a row without a count is suppressed as well.
    """
    counts = _floats(df, count_col)
    values = _floats(df, value_col) if value_col and value_col in df.columns else None
    mask = np.asarray(disclosure.cell_suppressed(counts, values, threshold), dtype=bool)
    if mask.ndim == 0:
        mask = np.full(len(df), bool(mask))
    cols = [c for c in dict.fromkeys([*measures, count_col]) if c in df.columns]
    # all columns replaced in one step (column-by-column assignment costs a pandas block
    # consolidation each time, several ms per result)
    nulled = {c: np.where(mask, np.nan, _floats(df, c)) for c in cols}
    return df.assign(**nulled, suppressed=mask)


def withhold_rates(
    df: pd.DataFrame,
    rates: Mapping[str, str],
    counts: Iterable[str] = (),
) -> pd.DataFrame:
    """Withhold rates on fewer than 100 of their denominator and small side counts.

    ``rates`` maps a rate (or quantile) column to its denominator column; ``counts`` lists
    count columns published beside a cell (withheld when positive and under 10; the rates on
    such a count are withheld too, their denominator being under 100). Adds a boolean
    ``<col>_withheld`` per column treated. Rows already ``suppressed`` keep their NULLs and get
    ``False`` (the cell marker says it).
    """
    out: dict[str, np.ndarray] = {}
    cells = df["suppressed"].to_numpy(dtype=bool) if "suppressed" in df.columns else None
    for col in counts:
        if col not in df.columns:
            continue
        values = _floats(df, col)
        small = np.asarray(disclosure.small_count(values), dtype=bool)
        if cells is not None:
            small &= ~cells
        out[col] = np.where(small, np.nan, values)
        out[f"{col}_withheld"] = small
    for rate, denominator in rates.items():
        if rate not in df.columns:
            continue
        values = _floats(df, rate)
        den = _floats(df, denominator)
        # withheld: a value there is, on a positive denominator under 100 (no value: nothing to
        # withhold, e.g. no completed case)
        withheld = np.asarray(disclosure.rate_withheld(den), dtype=bool)
        withheld &= ~np.isnan(values) & (den > 0)
        if cells is not None:
            withheld &= ~cells
        out[rate] = np.where(withheld, np.nan, values)
        out[f"{rate}_withheld"] = withheld
    return df.assign(**out)
