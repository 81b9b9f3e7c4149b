"""The dbt step of ``subjectdb build --engine spark``: dbt on Spark, Parquet out, DuckDB in.

The same dbt project builds on Apache Spark (dbt-spark, session mode) from the same landing
zone (the ``spark`` target of ``profiles.yml``). The Spark build's state lives under
``$SUBJECTDB_DATA/spark/`` (Derby metastore, warehouse folder): its incremental models continue
from there, not from a copy of the served file. One subprocess,
``python -m subjectdb.warehouse.spark_session --export DIR build ...``, starts the one
SparkSession of the build, runs ``dbt build`` in it and writes every table of the documented
schemas (reference, staging, intermediate, marts, snapshots) as Parquet under ``DIR``
(:func:`export_tables`). This module then copies those files into the new DuckDB file of the
build (:func:`attach_export`), which passes the same gates and the same atomic swap as a DuckDB
build: the dashboard, the API and publish read DuckDB as always and need no Spark.

Plain Parquet tables have no transactions: a Spark build that fails leaves the Spark state
half written, so the state file ``spark/build_state.json`` (the fingerprints of the last
successful Spark build) is removed before dbt starts and written back only after the swap; a
build without it rebuilds in full (:func:`plan_spark_build`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from subjectdb.config import Paths
from subjectdb.files import write_text_atomic
from subjectdb.warehouse.dbt_runner import DbtRun, ensure_quarantine_placeholder, run_dbt
from subjectdb.warehouse.scratch import BuildLock, scrub_key_material
from subjectdb.warehouse.spark_session import spark_dir

SPARK_MODULE = "subjectdb.warehouse.spark_session"
EXPORT_SCHEMAS = ("reference", "staging", "intermediate", "marts", "snapshots")
"""The schemas a Spark build exports into the served DuckDB file (what a DuckDB build holds)."""
STATE_FILE = "build_state.json"
EXPORT_DIR = "export"
SCRATCH_SUFFIXES = ("__dbt_new", "__dbt_cow", "__dbt_tmp")
SPARK_PARSE_NAME = "spark.building"
"""The name Spark runs give dbt_runner for their working folder and shared parse cache."""


def state_path(paths: Paths) -> Path:
    return spark_dir(paths.root) / STATE_FILE


def export_path(paths: Paths) -> Path:
    return spark_dir(paths.root) / EXPORT_DIR


def stored_state(paths: Paths) -> dict[str, Any]:
    try:
        return dict(json.loads(state_path(paths).read_text()))
    except (OSError, ValueError):
        return {}


def write_state(paths: Paths, fingerprints: dict[str, str], build_id: str) -> None:
    state = {"build_id": build_id, **fingerprints}
    write_text_atomic(state_path(paths), json.dumps(state, indent=2, sort_keys=True) + "\n")


def plan_spark_build(
    paths: Paths, full_refresh: bool, fingerprints: dict[str, str]
) -> tuple[list[str], bool, str]:
    """dbt arguments, whether they rebuild in full, and why (as :func:`.build.plan_dbt_build`
    plans a DuckDB build, with the Spark state file in place of the copied warehouse)."""
    from subjectdb.warehouse.build import DAILY_EXCLUDES, DBT_BUILD_ARGS, FINGERPRINTS

    args = [*DBT_BUILD_ARGS, "--target", "spark"]
    stored = stored_state(paths)
    if full_refresh:
        return args + ["--full-refresh"], True, "Spark state rebuilt (full refresh requested)"
    if not stored:
        why = "no Spark state of a successful build"
        return args + ["--full-refresh"], True, f"{why}: full refresh"
    changed = [n for n in FINGERPRINTS if stored.get(n) != fingerprints[n]]
    if changed:
        why = "Spark state built with another " + ", ".join(n.split("_")[0] for n in changed)
        return args + ["--full-refresh"], True, f"{why}: full refresh"
    return args + list(DAILY_EXCLUDES), False, "continues the Spark state (daily path)"


def export_tables(spark: Any, target: Path, schemas: Sequence[str] = EXPORT_SCHEMAS) -> int:
    """Write every managed table of ``schemas`` as Parquet under ``target/<schema>/<table>/``
    (replacing an earlier export); the number of tables written."""
    if target.exists():
        shutil.rmtree(target)
    written = 0
    for schema in schemas:
        if not spark.catalog.databaseExists(schema):
            continue
        for table in spark.catalog.listTables(schema):
            if table.tableType not in ("MANAGED", "EXTERNAL") or table.isTemporary:
                continue
            if table.name.endswith(SCRATCH_SUFFIXES):
                continue
            out = target / schema / table.name
            spark.table(f"{schema}.{table.name}").write.mode("overwrite").parquet(str(out))
            written += 1
    return written


def _column_order(manifest: Path) -> dict[tuple[str, str], list[str]]:
    """(schema, table) → documented column order, from the Spark run's manifest."""
    try:
        nodes = json.loads(manifest.read_text())["nodes"].values()
    except (OSError, ValueError, KeyError):
        return {}
    order: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        if node.get("resource_type") in ("model", "seed", "snapshot") and node.get("columns"):
            name = node.get("alias") or node["name"]
            order[(node["schema"], name)] = [c.lower() for c in node["columns"]]
    return order


def attach_export(export: Path, new_file: Path, manifest: Path | None = None) -> int:
    """Copy an export into a new DuckDB file (one table per exported folder, columns in the
    documented order, Spark's UTC timestamps back to DuckDB's zone-less TIMESTAMP); returns
    the number of tables."""
    import duckdb

    order = _column_order(manifest) if manifest else {}
    new_file.unlink(missing_ok=True)
    count = 0
    with duckdb.connect(str(new_file)) as con:
        con.execute("set TimeZone = 'UTC'")
        for schema_dir in sorted(p for p in export.iterdir() if p.is_dir()):
            con.execute(f'create schema if not exists "{schema_dir.name}"')
            for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
                files = sorted(str(f) for f in table_dir.rglob("*.parquet"))
                if not files:
                    continue
                source = con.read_parquet(files)
                types = dict(zip(source.columns, map(str, source.types), strict=True))
                names = list(types)
                wanted = order.get((schema_dir.name, table_dir.name), [])
                if sorted(wanted) == sorted(n.lower() for n in names):
                    by_lower = {n.lower(): n for n in names}
                    names = [by_lower[w] for w in wanted]
                cols = ", ".join(
                    f'cast("{n}" as timestamp) as "{n}"'
                    if types[n] == "TIMESTAMP WITH TIME ZONE"
                    else f'"{n}"'
                    for n in names
                )
                con.execute(
                    f'create table "{schema_dir.name}"."{table_dir.name}" as '
                    f"select {cols} from read_parquet(?)",
                    [files],
                )
                count += 1
        con.execute("checkpoint")
    return count


def spark_dbt_step(
    paths: Paths,
    new_file: Path,
    work_dir: Path,
    full_refresh: bool,
    fingerprints: dict[str, str],
    extra_args: Sequence[str] = (),
    show_progress: bool = False,
    *,
    key: str | None = None,
    lock: BuildLock | None = None,
) -> tuple[list[str], bool, str, DbtRun, float]:
    """Run dbt on Spark and copy its export into ``new_file``: (args, full refresh, reason,
    dbt's run, seconds spent copying into DuckDB). The state file is removed first."""
    from subjectdb.warehouse.poisson import ensure_limits

    ensure_quarantine_placeholder(paths)
    ensure_limits(paths)
    args, full, reason = plan_spark_build(paths, full_refresh, fingerprints)
    state_path(paths).unlink(missing_ok=True)
    export = export_path(paths)
    try:
        run = run_dbt(
            ["--export", str(export), *args, *extra_args],
            paths,
            # (a name of its own: dbt's shared parse cache is per profile, so per engine)
            new_file.with_name(SPARK_PARSE_NAME),
            work_dir,
            show_progress=show_progress,
            key=key,
            inherit_fds=(lock.fd,) if lock else (),
            on_start=(lambda pid: lock.record(dbt_pid=pid)) if lock else None,
            module=SPARK_MODULE,
        )
    finally:
        scrub_key_material(work_dir / "target")
    started = time.monotonic()
    if run.ok:
        attach_export(export, new_file, work_dir / "target" / "manifest.json")
    return args, full, reason, run, time.monotonic() - started


def master_url() -> str:
    from subjectdb.warehouse.spark_session import DEFAULT_MASTER, MASTER_ENV

    return os.environ.get(MASTER_ENV) or DEFAULT_MASTER
