"""Disclosure control of the dashboard: small cells come back with their measures NULL.

Every demand cell is returned with its exact number of distinct applicants (from
``marts.subj_applicant_demand``); cells below :data:`THRESHOLD` come back with their measures
set to NULL and ``suppressed = TRUE``, so no caller can show them by mistake. The rule is the
open-data release's (:mod:`subjectdb.release.disclosure`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from subjectdb.release import disclosure

THRESHOLD = disclosure.DEFAULT_THRESHOLD
"""Minimum number of distinct applicants behind a shown cell (the open-data rule)."""


def suppress(
    df: pd.DataFrame,
    measures: Iterable[str],
    count_col: str = "distinct_applicants",
    threshold: int = THRESHOLD,
) -> pd.DataFrame:
    """Null the measures (and the count) of cells with fewer than ``threshold`` applicants.

    Adds a boolean ``suppressed`` column. A cell without a count is suppressed as well.
    """
    counts = pd.to_numeric(df[count_col], errors="coerce")
    # the same primary rule as the open-data release (subjectdb.release.disclosure)
    mask = np.asarray(disclosure.primary_suppressed(counts.to_numpy(), threshold), dtype=bool)
    cols = [c for c in dict.fromkeys([*measures, count_col]) if c in df.columns]
    # all columns replaced in one step (column-by-column assignment costs a pandas block
    # consolidation each time, several ms per result)
    nulled = {
        c: np.where(mask, np.nan, df[c].to_numpy(dtype="float64", na_value=np.nan)) for c in cols
    }
    return df.assign(**nulled, suppressed=mask)
