"""Parity: the same delivery built on DuckDB and on a Spark standalone cluster is the same
warehouse (marker ``spark``: `make test-spark`, deselected by default in pyproject).

One small generated delivery (two batches; the sample is the smallest that still fills every
model) is landed batch by batch into two data folders. Each folder is built twice: in full
after the first batch, then the daily (incremental) path after the second. One folder builds
on DuckDB, the other on a standalone cluster started on localhost (a master and two workers,
separate processes, :mod:`subjectdb.warehouse.spark_cluster`) through ``subjectdb build
--engine spark``'s code path: one SparkSession per build serves every dbt node, the export is
copied into a DuckDB file, the gates pass and the file is swapped in. After each build every
subject table (``marts.subj_*``) and every serving table (``marts.dash_*``) must be equal on
every column, floats to 1e-9 relative; the serving tables' applicant numbers and code ids are
compared decoded (numbering is append-only, its order a build's). Columns compared exclude
only the run stamps (``_changed_invocation_id``, ``_numbering_id``). The Spark side skips dbt's
data tests (the DuckDB side runs them all, and equality carries them over), never the gates.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from subjectdb.config import EXTRACTS, Paths

pytestmark = pytest.mark.spark

DELIVERY = dict(
    province="330000",
    persons=600,
    enterprises=120,
    cases=1_500,
    years=(2024, 2025),
    batches=2,
    fmt="csv",
    defect_rate=0.02,
    seed=11,
)
RUN_STAMPS = {"_changed_invocation_id", "_numbering_id"}
SPARK_DBT_ARGS = ("--exclude-resource-type", "test")
RTOL = 1e-9


def _frames(path: Path) -> dict[str, pd.DataFrame]:
    """Every subject and serving table of a warehouse file (run stamps left out)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS w (READ_ONLY)")
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'w' "
                "and schema_name = 'marts' "
                "and (table_name like 'subj_%' or table_name like 'dash_%')"
            ).fetchall()
        ]
        out = {}
        for name in names:
            frame = con.sql(f'select * from w.marts."{name}"').df()
            out[name] = frame.drop(columns=[c for c in frame.columns if c in RUN_STAMPS])
        return out
    finally:
        con.close()


def _types(path: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name like 'subj_%'"
        ).fetchall()
    return {(t, c): ty for t, c, ty in rows}


def assert_same_rows(spark: pd.DataFrame, duck: pd.DataFrame, what: str) -> None:
    """Equal as multisets of rows: non-float columns exactly, floats to 1e-9 relative."""
    assert sorted(spark.columns) == sorted(duck.columns), f"{what}: columns differ"
    spark = spark[list(duck.columns)]
    assert len(spark) == len(duck), f"{what}: {len(spark)} rows on Spark, {len(duck)} on DuckDB"
    floats = [c for c in duck.columns if pd.api.types.is_float_dtype(duck[c])]
    keys = [c for c in duck.columns if c not in floats]
    spark = spark.astype({c: duck[c].dtype for c in keys if spark[c].dtype != duck[c].dtype})
    left = spark.assign(_n=spark.groupby(keys, dropna=False).cumcount())
    right = duck.assign(_n=duck.groupby(keys, dropna=False).cumcount())
    merged = left.merge(right, on=[*keys, "_n"], how="outer", indicator=True, suffixes=("_s", "_d"))
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"{what}: {len(unmatched)} rows differ:\n{unmatched.head(10)}"
    for col in floats:
        a = merged[f"{col}_s"].to_numpy(dtype="float64")
        e = merged[f"{col}_d"].to_numpy(dtype="float64")
        ok = np.isclose(a, e, rtol=RTOL, atol=RTOL, equal_nan=True)
        assert ok.all(), f"{what}: column {col} differs in {int((~ok).sum())} rows"


def assert_same_warehouse(spark_file: Path, duck_file: Path, when: str) -> None:
    from test_subjects import _dashboard_frames

    spark, duck = _frames(spark_file), _frames(duck_file)
    assert set(spark) == set(duck), f"{when}: tables differ: {set(spark) ^ set(duck)}"
    assert {"subj_service_demand", "dash_applicant_demand"} <= set(duck)
    for name in sorted(duck):
        if name in ("dash_applicant_demand", "dash_applicant_ids", "dash_codes"):
            continue  # numbered in a build's own order: compared decoded below
        assert_same_rows(spark[name], duck[name], f"{when} marts.{name}")
    spark_dash, duck_dash = _dashboard_frames(spark_file), _dashboard_frames(duck_file)
    assert_same_rows(spark_dash["demand"], duck_dash["demand"], f"{when} dash (decoded)")
    assert spark_dash["demand"].notna().all().all(), f"{when}: a Spark id decodes to nothing"
    for part, key in (("codes", ["dim", "code"]), ("ids", ["applicant_key"])):
        assert_same_rows(spark_dash[part][key], duck_dash[part][key], f"{when} dash {part}")
    # the contracts hold on both engines: the same column types in every subject table
    assert _types(spark_file) == _types(duck_file), f"{when}: subject column types differ"


def _land(raw: Path, batch: int, *folders: Paths) -> None:
    from subjectdb.ingest import load_paths

    files = [sorted((raw / e).glob("*"))[batch] for e in EXTRACTS]
    for paths in folders:
        load_paths(files, paths)


def test_spark_builds_the_same_warehouse_as_duckdb(tmp_path: Path) -> None:
    from subjectdb.synth import generate
    from subjectdb.warehouse.build import build
    from subjectdb.warehouse.spark_cluster import LocalCluster

    if shutil.which("java") is None:
        pytest.fail("Spark needs Java 17: run `make test-spark` (installs openjdk-17-jre-headless)")
    raw = generate(out=tmp_path / "raw", **DELIVERY).out
    duck, spark = Paths(tmp_path / "duck").ensure(), Paths(tmp_path / "spark").ensure()
    timings: dict[str, float] = {}
    cluster = LocalCluster(tmp_path / "cluster", workers=2, cores=1)
    with cluster, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUBJECTDB_SPARK_MASTER", cluster.master_url)
        for step, batch in (("full", 0), ("daily", 1)):
            _land(raw, batch, duck, spark)
            started = time.monotonic()
            on_duck = build(duck)
            timings[f"duckdb {step}"] = time.monotonic() - started
            assert on_duck.ok, on_duck.summary()
            started = time.monotonic()
            on_spark = build(spark, engine="spark", dbt_args=SPARK_DBT_ARGS)
            timings[f"spark {step}"] = time.monotonic() - started
            assert on_spark.ok, on_spark.summary()
            # the second build of each takes the daily (incremental) path
            assert on_spark.full_refresh is (step == "full"), on_spark.summary()
            assert step == "full" or not on_duck.full_refresh, on_duck.summary()
            assert_same_warehouse(spark.warehouse, duck.warehouse, step)
    print("parity timings (s):", {k: round(v, 1) for k, v in timings.items()})
