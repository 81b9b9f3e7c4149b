"""Exact (Garwood) 95 % confidence limits of a Poisson mean, one row per observed count k.

For an observed count k the limits on the expected count are the chi-square quantiles
lower = chi2.ppf(0.025, 2k) / 2 (0 when k = 0) and upper = chi2.ppf(0.975, 2k + 2) / 2, i.e.
(Poisson-gamma relation) the gamma quantiles lower = Gamma(k).ppf(0.025) and
upper = Gamma(k + 1).ppf(0.975). SQL engines have no chi-square or gamma quantile (DuckDB,
Spark), so they are computed here with scipy.special.gammaincinv, the inverse regularised
incomplete gamma function that scipy.stats.chi2.ppf itself evaluates (same values to the last
bit).

Grain: one row per k = 0 … the largest natural-person count of any year × county seen by any
build so far. The limits of k depend on k alone, so the table is incremental and append-only:
a run computes only the counts above the largest one stored. Usually there are none: the
model then returns an empty DuckDB relation and imports neither numpy, pyarrow nor scipy
(pyarrow imports pandas on first use, which cost most of this model's time in a daily build).
subj_poisson_exact_ci exposes the rows the current data needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

CONF_LEVEL = 0.95

# the table's columns and types, with no row: what a run with nothing new to compute returns
EMPTY_SQL = (
    "select cast(null as bigint) as observed_cases, cast(null as double) as conf_level, "
    "cast(null as double) as mean_lower, cast(null as double) as mean_upper where false"
)


def exact_limits(observed: np.ndarray, conf_level: float = CONF_LEVEL) -> pa.Table:
    """Garwood limits on the Poisson mean for each observed count (a 1-D integer array)."""
    import numpy as np
    import pyarrow as pa

    k = np.asarray(observed, dtype="int64")
    if k.size and k.min() < 0:
        raise ValueError("observed counts must be >= 0")
    if k.size:
        # imported here: scipy costs a noticeable share of a run that has nothing to compute
        from scipy.special import gammaincinv

        alpha = 1.0 - conf_level
        lower = np.where(k > 0, gammaincinv(np.maximum(k, 1), alpha / 2), 0.0)
        upper = gammaincinv(k + 1, 1.0 - alpha / 2)
    else:
        lower = upper = np.zeros(0, dtype="float64")
    return pa.table(
        {
            "observed_cases": pa.array(k, type=pa.int64()),
            "conf_level": pa.array(np.full(k.shape, conf_level), type=pa.float64()),
            "mean_lower": pa.array(lower, type=pa.float64()),
            "mean_upper": pa.array(upper, type=pa.float64()),
        }
    )


def _scalar(relation: Any) -> int | None:
    rows = relation.fetchall()
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def model(dbt: Any, session: Any) -> Any:
    dbt.config(materialized="incremental", on_schema_change="fail")
    cells = dbt.ref("int_demand__case_cells")
    per_county = cells.filter("applicant_type = 'person'").aggregate(
        "sum(cases) as n", "year, region_code"
    )
    needed = _scalar(per_county.aggregate("max(n) as max_n")) or 0
    first = 0
    if dbt.is_incremental:
        stored = _scalar(session.sql(f"select max(observed_cases) from {dbt.this}"))
        first = 0 if stored is None else stored + 1
    if first > needed:
        return session.sql(EMPTY_SQL)
    import numpy as np

    return exact_limits(np.arange(first, needed + 1, dtype="int64"))
