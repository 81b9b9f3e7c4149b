"""Exact (Garwood) 95 % Poisson limits, computed once in Python for both engines.

For an observed count k the limits on the expected count are the chi-square quantiles
lower = chi2.ppf(0.025, 2k) / 2 (0 when k = 0) and upper = chi2.ppf(0.975, 2k + 2) / 2, i.e.
(Poisson-gamma relation) the gamma quantiles lower = Gamma(k).ppf(0.025) and
upper = Gamma(k + 1).ppf(0.975). Neither DuckDB nor Spark SQL has a chi-square or gamma
quantile, and dbt-spark runs Python models only on Databricks, so the limits are computed
here with scipy.special.gammaincinv (the inverse regularised incomplete gamma function that
scipy.stats.chi2.ppf itself evaluates, same values to the last bit) before dbt runs, into
``$SUBJECTDB_DATA/computed/poisson_limits/limits.parquet``: the dbt source
``computed.poisson_limits`` that both engines read (stg_computed__poisson_limits).

Grain: one row per k = 0 … an upper bound of every natural-person count of a year × county:
the distinct landed case ids per submission year × residence county (retired codes mapped to
their current successor, as stg_reference__region_current_codes does). A case is counted in
the year and county of its latest version, which is among its landed versions, so no count the
models make exceeds the bound. The limits of k depend on k alone: the file only grows (it is
rewritten, atomically, when a new delivery raises the bound) and the models keep the counts
the data needs (subj_poisson_exact_ci).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from subjectdb.config import Paths
from subjectdb.files import replace_atomic
from subjectdb.seeds import read_seed

CONF_LEVEL = 0.95
LIMITS_FILE = Path("computed") / "poisson_limits" / "limits.parquet"
NATURAL_PERSON = "自然人"


def limits_path(paths: Paths) -> Path:
    return paths.root / LIMITS_FILE


def exact_limits(observed: np.ndarray, conf_level: float = CONF_LEVEL) -> pa.Table:
    """Garwood limits on the Poisson mean for each observed count (a 1-D integer array)."""
    from scipy.special import gammaincinv

    k = np.asarray(observed, dtype="int64")
    if k.size and k.min() < 0:
        raise ValueError("observed counts must be >= 0")
    alpha = 1.0 - conf_level
    if k.size:
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


def current_codes() -> dict[str, str]:
    """Retired GB/T 2260 code → today's code (successor chains followed to the end)."""
    successor = {
        r["retired_code"]: r["successor_code"]
        for r in read_seed("ref_region_code_changes", columns=("retired_code", "successor_code"))
    }
    resolved: dict[str, str] = {}
    for code in successor:
        seen, current = {code}, successor[code]
        while current in successor and current not in seen:
            seen.add(current)
            current = successor[current]
        resolved[code] = current
    return resolved


def count_bound(paths: Paths) -> int:
    """The largest distinct-case count of a submission year × residence county (current code)
    among the landed natural-person cases (0 when none are landed)."""
    import duckdb

    files = sorted((paths.landing / "cases").glob("*/*.parquet"))
    if not files:
        return 0
    with duckdb.connect() as con:
        codes = current_codes()
        mapping = pa.table({"retired_code": list(codes), "current_code": list(codes.values())})
        con.register("code_changes", mapping)
        row = con.execute(
            """
            select coalesce(max(n), 0) from (
                select count(distinct case_id) as n
                from read_parquet(?, union_by_name = true, hive_partitioning = false) as c
                left join code_changes on c.residence_region = code_changes.retired_code
                where applicant_type = ?
                group by
                    extract(year from submitted_at),
                    coalesce(code_changes.current_code, c.residence_region)
            )
            """,
            [[str(f) for f in files], NATURAL_PERSON],
        ).fetchone()
    return int(row[0]) if row else 0


def stored_max(path: Path) -> int | None:
    if not path.is_file():
        return None
    column = pq.read_table(path, columns=["observed_cases"]).column(0)
    return None if len(column) == 0 else int(pc.max(column).as_py())


def ensure_limits(paths: Paths) -> Path:
    """Write (or extend) the limits file so it covers every count the landed data allows."""
    path = limits_path(paths)
    needed = count_bound(paths)
    stored = stored_max(path)
    if stored is not None and stored >= needed:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(exact_limits(np.arange(0, needed + 1, dtype="int64")), tmp)
    replace_atomic(tmp, path)
    return path
