"""The one SparkSession of a Spark build, and dbt run inside it.

``subjectdb build --engine spark`` runs ``python -m subjectdb.warehouse.spark_session ARGS``
instead of ``python -m dbt.cli.main ARGS``: this module starts a SparkSession (master
``$SUBJECTDB_SPARK_MASTER``, default ``local[2]``; Hive support with a Derby metastore and the
warehouse folder under ``$SUBJECTDB_DATA/spark``), registers the keyed-hash functions on it
and then runs dbt *in this process* (``dbtRunner``). dbt-spark's session method asks
``SparkSession.builder.getOrCreate()`` for its connection, which returns this session: one JVM
and one set of executors serve every model, test and seed of the build (starting a JVM per
dbt call cost 7-23 s), and the session ends the export too (:mod:`.spark_export`).

The HMAC pads reach Spark as two zero-argument Python functions (``subjectdb_hmac_ipad()``,
``subjectdb_hmac_opad()``, BINARY) registered from Python with the pads read from this
process's environment, exactly as :mod:`.keyed_hash` does for DuckDB: no compiled SQL, manifest,
run result or log holds key material (the functions' closures travel to the executors in
Spark's own serialised form, never as SQL text).

``ARGS`` may hold several dbt commands separated by ``---`` (``build ... --- run-operation
...``): they all run in the same session, and the process ends with the first failing one's
return code. ``--export DIR`` first: when every command passed, the session writes the
warehouse's tables as Parquet under ``DIR`` (:func:`.spark_build.export_tables`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from subjectdb.warehouse.keyed_hash import (
    IPAD_ENV,
    IPAD_FUNCTION,
    OPAD_ENV,
    OPAD_FUNCTION,
    pad_from_env,
)

MASTER_ENV = "SUBJECTDB_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"
SHUFFLE_ENV = "SUBJECTDB_SPARK_SHUFFLE_PARTITIONS"
CONF_ENV = "SUBJECTDB_SPARK_CONF"
"""Extra Spark settings, ``key=value`` pairs separated by whitespace (e.g. executor memory or
YARN/Kubernetes settings, docs/spark.md)."""
COMMAND_SEPARATOR = "---"
SPARK_DIR = "spark"
"""$SUBJECTDB_DATA/spark: the Spark build's state (metastore_db, warehouse, export)."""


def spark_dir(data_root: Path) -> Path:
    return data_root / SPARK_DIR


def spark_conf(data_root: Path, master: str | None = None) -> dict[str, str]:
    """The settings of a build's SparkSession (see docs/spark.md for what a cluster changes)."""
    state = spark_dir(data_root).resolve()
    conf = {
        "spark.master": master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER,
        "spark.app.name": "subjectdb-build",
        "spark.sql.warehouse.dir": str(state / "warehouse"),
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={state}",
        # small data per node: a few shuffle partitions, coalesced further by AQE
        "spark.sql.shuffle.partitions": os.environ.get(SHUFFLE_ENV, "4"),
        "spark.sql.adaptive.enabled": "true",
        "spark.default.parallelism": os.environ.get(SHUFFLE_ENV, "4"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # timestamps in the landing zone are Asia/Shanghai wall-clock times without a zone
        # (read as TIMESTAMP in a UTC session: the wall-clock values DuckDB's TIMESTAMP holds)
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        # DuckDB's lenient semantics: a bad cast or a division by zero gives NULL
        "spark.sql.ansi.enabled": "false",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
        # dbt-spark writes plain Parquet tables: replace whole partitions (insert_overwrite)
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.python.worker.reuse": "true",
        "spark.driver.memory": os.environ.get("SUBJECTDB_SPARK_DRIVER_MEMORY", "1g"),
    }
    for item in os.environ.get(CONF_ENV, "").split():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"${CONF_ENV}: expected key=value, got {item!r}")
        conf[key] = value
    return conf


def register_hmac_functions(spark: Any) -> None:
    """``subjectdb_hmac_ipad()`` / ``subjectdb_hmac_opad()`` (BINARY) on a SparkSession."""
    from pyspark.sql.types import BinaryType

    ipad, opad = pad_from_env(IPAD_ENV), pad_from_env(OPAD_ENV)
    spark.udf.register(IPAD_FUNCTION, lambda: ipad, BinaryType())
    spark.udf.register(OPAD_FUNCTION, lambda: opad, BinaryType())


def start_session(data_root: Path, master: str | None = None) -> Any:
    """Start (or return) this process's SparkSession with the build's settings."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    state = spark_dir(data_root)
    state.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(data_root, master).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    register_hmac_functions(spark)
    return spark


def split_commands(argv: Sequence[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == COMMAND_SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(arg)
    return [c for c in commands if c]


def run_dbt_commands(commands: Sequence[Sequence[str]]) -> int:
    """Run dbt commands in this process, one after the other; the first failure's code."""
    from dbt.cli.main import dbtRunner

    for args in commands:
        result = dbtRunner().invoke(list(args))
        if not result.success:
            return 2 if result.exception is not None else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    export: Path | None = None
    if args[:1] == ["--export"]:
        export, args = Path(args[1]), args[2:]
    root = Path(os.environ.get("SUBJECTDB_DATA", "data")).resolve()
    spark = start_session(root)
    try:
        code = run_dbt_commands(split_commands(args))
        if code == 0 and export is not None:
            from subjectdb.warehouse.spark_build import export_tables

            tables = export_tables(spark, export)
            print(f"exported {tables} tables to {export}", flush=True)
        return code
    finally:
        spark.stop()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
