"""Exact (Garwood) 95 % confidence limits of a Poisson mean, for every observed count 0..K.

For an observed count k the limits on the expected count are the chi-square quantiles
lower = chi2.ppf(0.025, 2k) / 2 (0 when k = 0) and upper = chi2.ppf(0.975, 2k + 2) / 2, i.e.
(Poisson-gamma relation) the gamma quantiles lower = Gamma(k).ppf(0.025) and
upper = Gamma(k + 1).ppf(0.975). SQL engines have no chi-square or gamma quantile (DuckDB,
Spark), so they are computed here with scipy.special.gammaincinv, the inverse regularised
incomplete gamma function that scipy.stats.chi2.ppf itself evaluates (same values to the last
bit; scipy.special is imported instead of scipy.stats because it loads several times faster).
The table is sized to the largest natural-person count of any year × county (the 'ALL' theme
bounds every theme), so subj_demand_standardised can look up the limits of every count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import gammaincinv

CONF_LEVEL = 0.95


def exact_limits(observed: np.ndarray, conf_level: float = CONF_LEVEL) -> pa.Table:
    """Garwood limits on the Poisson mean for each observed count (a 1-D integer array)."""
    alpha = 1.0 - conf_level
    k = np.asarray(observed, dtype="int64")
    if k.size and k.min() < 0:
        raise ValueError("observed counts must be >= 0")
    lower = np.where(k > 0, gammaincinv(np.maximum(k, 1), alpha / 2), 0.0)
    upper = gammaincinv(k + 1, 1.0 - alpha / 2)
    return pa.table(
        {
            "observed_cases": pa.array(k, type=pa.int64()),
            "conf_level": pa.array(np.full(k.shape, conf_level), type=pa.float64()),
            "mean_lower": pa.array(lower, type=pa.float64()),
            "mean_upper": pa.array(upper, type=pa.float64()),
        }
    )


def model(dbt: Any, session: Any) -> pa.Table:
    dbt.config(materialized="table")
    cases = dbt.ref("fct_service_cases")
    per_cell = cases.filter("applicant_type = 'person'").aggregate(
        "count(*) as n", "submitted_year, region_code"
    )
    rows = per_cell.aggregate("max(n) as max_n").fetchall()
    max_k = int(rows[0][0]) if rows and rows[0][0] is not None else 0
    return exact_limits(np.arange(0, max_k + 1))
