"""Benchmarks: wall time, rows per second and peak resident memory of every pipeline stage.

One command (``subjectdb bench`` / ``make bench`` / ``python -m subjectdb.bench``) generates data
at a chosen size, runs the whole pipeline stage by stage, times the hand-written DuckDB script
(``benchmarks/handwritten.sql``) against dbt, measures the dashboard's queries and page-ready
times, writes ``benchmarks/results/<size>.json`` and rewrites the README's benchmark table.

Each stage runs in its own Python subprocess (``python -m subjectdb.bench --stage NAME SPEC``),
so its peak RSS is its own: the child reports ``max(ru_maxrss(self), ru_maxrss(children))``,
which counts the dbt, Streamlit and Chromium processes the stage started and waited for.

The daily incremental batch (1/365 of a year): the generator spreads batch cut-offs evenly
over the period, so a one-day batch would need a batch per day, and the raw suites cost about a
second per batch whatever its size. Instead one generate call writes a few coarse batches, and
the last batch's files (cut-off 31 December) are split by ``updated_at``: rows updated on the
last day become the held-back batch ``<last day>``, every other row (including rows whose
``updated_at`` is a defect and cannot be read) the batch ``<last day - 1>``. Because the last
day ends the period, the rows updated on it are exactly what a daily extract of that day holds
(every case that changed that day, in its latest state); the day-before batch only misses the
earlier states, within the period, of cases that changed again on the last day. The
generator's manifest keeps the row numbers of the unsplit file.

Nothing here asserts a time: machines are shared and noisy. Reports give medians of several
runs, ratios (dbt vs the hand-written SQL script) and met/missed against the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from string import Template
from typing import Any

from subjectdb.config import EXTRACTS, PROJECT_DIR, Paths, duckdb_connect, duckdb_memory_limit
from subjectdb.serving.serve import CHROMIUM, CHROMIUM_ARGS, streamlit_command, streamlit_env

RESULTS_DIR = PROJECT_DIR / "benchmarks" / "results"
WORK_DIR = PROJECT_DIR / "benchmarks" / "work"
HANDWRITTEN_SQL = PROJECT_DIR / "benchmarks" / "handwritten.sql"
README = PROJECT_DIR / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"

SIZES: dict[str, dict[str, int]] = {
    "smoke": {"cases": 20_000, "persons": 10_000, "enterprises": 1_000},
    "1m": {"cases": 1_000_000, "persons": 500_000, "enterprises": 50_000},
    "10m": {"cases": 10_000_000, "persons": 5_000_000, "enterprises": 500_000},
    "50m": {"cases": 50_000_000, "persons": 25_000_000, "enterprises": 2_500_000},
}
SIZE_ORDER = list(SIZES)
GENERATOR = {
    "province": "330000",
    "years": (2024, 2025),
    "batches": 24,  # about one extract a month (smoke: 6); the last one split off a day
    "fmt": "csv",
    "defect_rate": 0.01,
    "seed": 2026,
}
SMOKE_BATCHES = 6

PIPELINE = ("load", "raw_suites", "dbt_build", "gates", "publish")
"""The stages of the end-to-end time (generation is the source systems' work, not ours)."""
STAGES = (
    "generate",
    "floor_scan",
    "load",
    "raw_suites",
    "dbt_build",
    "gates",
    "publish",
    "handwritten",
    "dbt_same_models",
    "dashboard_queries",
    "page_ready",
    "load_increment",
    "raw_suites_increment",
    "dbt_incremental",
)
REQUIRED = ("generate", "load", "raw_suites", "dbt_build", "gates")
"""Stages every run needs (later stages read their output); the others can be left out."""
OPTIONAL_GROUPS = {
    "publish": ("publish",),
    "handwritten": ("handwritten", "dbt_same_models"),
    "dashboard": ("dashboard_queries",),
    "page_ready": ("page_ready",),
    "increment": ("load_increment", "raw_suites_increment", "dbt_incremental"),
    "floor": ("floor_scan",),
}
STAGE_LABELS = {
    "generate": "generate raw extracts",
    "floor_scan": "floor: DuckDB reads the same raw CSV as text, nothing else",
    "load": "load (bulk)",
    "raw_suites": "raw suites (GX)",
    "dbt_build": "dbt build (full)",
    "gates": "publication gates",
    "publish": "publish open data",
    "handwritten": "hand-written DuckDB SQL",
    "dbt_same_models": "dbt build, same models as the script, no tests",
    "dashboard_queries": "dashboard queries (all pages × filter sets; rows = query calls)",
    "page_ready": "dashboard page ready in Chromium (sum over pages; rows = pages)",
    "load_increment": "load (daily batch)",
    "raw_suites_increment": "raw suites after the daily batch",
    "dbt_incremental": "dbt build (incremental, daily batch)",
}
COMPARED_TABLES = ("subj_service_demand", "subj_service_performance")
NOT_ROWS = ("dashboard_queries", "page_ready")
"""Stages whose count is query calls or pages, not data rows: no rows per second."""


class BenchmarkError(RuntimeError):
    """A stage failed or produced wrong results: the benchmark stops with this message."""


# --------------------------------------------------------------------------- measuring


@dataclass
class StageRun:
    stage: str
    seconds: float
    peak_rss_mib: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def peak_rss_mib() -> float:
    """Peak RSS of this process and of its waited-for children, in MiB (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def run_in_subprocess(stage: str, spec: dict[str, Any]) -> StageRun:
    """Run one stage in a fresh interpreter and read back its measurement."""
    cmd = [sys.executable, "-m", "subjectdb.bench", "--stage", stage, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_DIR, env=os.environ)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).strip().splitlines()[-40:])
        raise BenchmarkError(f"benchmark stage {stage} failed (exit {proc.returncode}):\n{tail}")
    data = json.loads(lines[-1])
    return StageRun(stage, data["seconds"], data["peak_rss_mib"], data["rows"], data["extra"])


def environment() -> dict[str, Any]:
    """Machine and versions, recorded with every result."""
    versions = {}
    for dist in (
        "duckdb",
        "dbt-core",
        "dbt-duckdb",
        "great-expectations",
        "streamlit",
        "pyarrow",
        "playwright",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as fh:
        mem_kib = int(fh.readline().split()[1])
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "load_average_at_start": [round(x, 2) for x in load],
        "duckdb_memory_limit": duckdb_memory_limit(),
        "commit": _git_commit(),
        "chromium": _chromium_version(),
        "versions": versions,
    }


def _git_commit() -> str | None:
    """The commit benchmarked, with ``+dirty`` when the working tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def _chromium_version() -> str | None:
    if not CHROMIUM.exists():
        return None
    try:
        out = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def median_runs(runs: list[StageRun]) -> dict[str, Any]:
    """Median seconds and max peak memory over several runs of one stage."""
    secs = [r.seconds for r in runs]
    med = statistics.median(secs)
    rows = runs[0].rows
    return {
        "stage": runs[0].stage,
        "label": STAGE_LABELS.get(runs[0].stage, runs[0].stage),
        "runs": len(runs),
        "median_seconds": round(med, 3),
        "min_seconds": round(min(secs), 3),
        "max_seconds": round(max(secs), 3),
        "rows": rows,
        "rows_per_second": round(rows / med) if med > 0 and runs[0].stage not in NOT_ROWS else None,
        "peak_rss_mib": round(max(r.peak_rss_mib for r in runs), 1),
        "extra": runs[-1].extra,
    }


# --------------------------------------------------------------------------- the data


_BATCH_FILE = re.compile(r"^(cases|persons|enterprises)_(\d{8})\.(csv|parquet)$")


def _batch_files(raw: Path) -> dict[str, list[tuple[str, Path]]]:
    """extract → [(batch id, file)] in batch order, for the generator's files under ``raw``."""
    out: dict[str, list[tuple[str, Path]]] = {e: [] for e in EXTRACTS}
    for extract in EXTRACTS:
        for path in sorted((raw / extract).glob(f"{extract}_*")):
            m = _BATCH_FILE.match(path.name)
            if m:
                out[extract].append((m.group(2), path))
    return out


def hold_back_last_day(raw: Path) -> dict[str, int]:
    """Split each extract's last batch file into the day before and the last day (see the
    module docstring); returns the rows of the new last-day batch per extract."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    held: dict[str, int] = {}
    for extract, files in _batch_files(raw).items():
        if len(files) < 2:
            raise BenchmarkError(f"need at least two {extract} batches under {raw}")
        last_id, path = files[-1]
        last_day = datetime.strptime(last_id, "%Y%m%d").date()
        before_id = date.fromordinal(last_day.toordinal() - 1).strftime("%Y%m%d")
        if files[-2][0] >= before_id:
            raise BenchmarkError(f"{extract}: the last batch {last_id} is a single day already")
        before = path.with_name(path.name.replace(last_id, before_id))
        prefix = last_day.isoformat()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            on_day = pc.fill_null(pc.starts_with(table["updated_at"], prefix), False)
            pq.write_table(table.filter(pc.invert(on_day)), before, compression="zstd")
            pq.write_table(table.filter(on_day), path, compression="zstd")
            held[extract] = int(pc.sum(on_day.cast(pa.int64())).as_py() or 0)
            continue
        data = path.read_bytes()
        header, _, body = data.partition(b"\n")
        keep: list[bytes] = []
        day: list[bytes] = []
        marker = prefix.encode("ascii")
        for line in body.split(b"\n"):
            if not line:
                continue
            # updated_at is the last column of every extract; the generator writes no quotes
            (day if line.rsplit(b",", 1)[-1].startswith(marker) else keep).append(line)
        before.write_bytes(header + b"\n" + b"".join(x + b"\n" for x in keep))
        path.write_bytes(header + b"\n" + b"".join(x + b"\n" for x in day))
        held[extract] = len(day)
    return held


def split_batches(raw: Path) -> tuple[list[Path], list[Path]]:
    """The bulk files and the held-back last-day files under ``raw``."""
    bulk: list[Path] = []
    increment: list[Path] = []
    for extract, files in _batch_files(raw).items():
        if not files:
            raise BenchmarkError(f"no {extract} extract files under {raw}")
        bulk += [p for _, p in files[:-1]]
        increment.append(files[-1][1])
    return bulk, increment


def _landed_rows(paths: Paths, batch: str | None = None) -> int:
    import pyarrow.parquet as pq

    total = 0
    pattern = f"batch={batch}/*.parquet" if batch else "*/*.parquet"
    for extract in EXTRACTS:
        for f in (paths.landing / extract).glob(pattern):
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def _subject_rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' "
                "and table_name like 'subj_%' order by 1"
            ).fetchall()
        ]
        return {
            n: int(con.execute(f'select count(*) from marts."{n}"').fetchone()[0])  # type: ignore[index]
            for n in names
        }


# --------------------------------------------------------------------------- stages (child)


@dataclass
class Outcome:
    seconds: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)


def _clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _paths(spec: dict[str, Any]) -> Paths:
    return Paths(Path(spec["data_dir"]))


def _generate(spec: dict[str, Any]) -> Outcome:
    from subjectdb.synth.generate import generate

    size = SIZES[spec["size"]]
    paths = _paths(spec)
    batches = SMOKE_BATCHES if spec["size"] == "smoke" else int(GENERATOR["batches"])  # type: ignore[call-overload]
    seconds, res = _clock(
        lambda: generate(
            out=paths.raw,
            province=str(GENERATOR["province"]),
            persons=size["persons"],
            enterprises=size["enterprises"],
            cases=size["cases"],
            years=GENERATOR["years"],  # type: ignore[arg-type]
            batches=batches,
            fmt=str(GENERATOR["fmt"]),
            defect_rate=float(GENERATOR["defect_rate"]),  # type: ignore[arg-type]
            seed=int(GENERATOR["seed"]),  # type: ignore[call-overload]
        )
    )
    c = res.counts
    rows = int(c["cases_rows"] + c["persons_rows"] + c["enterprises_rows"])
    held = hold_back_last_day(paths.raw)
    extra = {
        "batches": batches,
        "files": len(res.files),
        "defects": int(c["defects"]),
        "bytes": sum(p.stat().st_size for p in res.files),
        "held_back_rows": held,
        **{k: int(v) for k, v in c.items()},
    }
    return Outcome(seconds, rows, extra)


def _load(spec: dict[str, Any], increment: bool) -> Outcome:
    from subjectdb.ingest.load import load_paths

    paths = _paths(spec).ensure()
    bulk, inc = split_batches(paths.raw)
    files = inc if increment else bulk
    seconds, reports = _clock(lambda: load_paths(files, paths))
    bad = [
        f"{r.file.name}: {r.status} {r.reason or ''}"
        for r in reports
        if r.rejected or not r.balanced
    ]
    if bad:
        raise BenchmarkError("load failed for:\n" + "\n".join(bad[:20]))
    rows = sum(r.rows_read for r in reports)
    extra = {
        "files": len(files),
        "rows_landed": sum(r.rows_landed for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "bytes": sum(p.stat().st_size for p in files),
    }
    if increment:
        extra["batch"] = sorted({r.batch_id or "" for r in reports})
    return Outcome(seconds, rows, extra)


def _floor_scan(spec: dict[str, Any]) -> Outcome:
    """The least any loader must do: read every byte of the bulk raw files and split it into
    rows and fields (DuckDB's parallel CSV reader, all columns as text, nothing typed, checked
    or written). With the hand-written script it bounds from below what the pipeline can take
    on this machine."""
    import duckdb

    plain = "all_varchar = true, header = true"
    lenient = "union_by_name = true, ignore_errors = true, strict_mode = false, null_padding = true"
    paths = _paths(spec)
    bulk, _ = split_batches(paths.raw)
    with duckdb_connect(paths=paths, threads=2, preserve_order=False) as con:

        def scan() -> int:
            total = 0
            for extract in EXTRACTS:
                files = [p.as_posix() for p in bulk if p.parent.name == extract]
                if not files:
                    continue
                try:
                    row = con.execute(
                        f"select count(*) from read_csv($files, {plain})", {"files": files}
                    ).fetchone()
                except duckdb.Error:  # a ragged or mis-encoded file: the lenient reader
                    row = con.execute(
                        f"select count(*) from read_csv($files, {plain}, {lenient})",
                        {"files": files},
                    ).fetchone()
                total += int(row[0]) if row else 0
            return total

        seconds, rows = _clock(scan)
    return Outcome(
        seconds, rows, {"files": len(bulk), "bytes": sum(p.stat().st_size for p in bulk)}
    )


def _raw_suites(spec: dict[str, Any]) -> Outcome:
    from subjectdb.quality.validate import run_raw_suites

    paths = _paths(spec)
    seconds, report = _clock(lambda: run_raw_suites(paths))
    if getattr(report, "errors", None):
        raise BenchmarkError("raw suites could not run:\n" + "\n".join(map(str, report.errors)))
    extra = {
        "ok": bool(report.ok),
        "expectations": len(report.outcomes),
        "failed_expectations": len(report.failures()),
        "quarantined_rows": int(report.quarantined_rows),
        "batches": len({(o.suite, o.batch) for o in report.outcomes}),
        "failed": [
            f"{o.suite} {o.batch}: {o.expectation}({o.column}) {o.unexpected_count} unexpected"
            for o in report.failures()
        ][:20],
    }
    return Outcome(seconds, _landed_rows(paths), extra)


def _dbt(
    spec: dict[str, Any],
    args: list[str] | None,
    name: str,
    record: bool = False,
) -> Outcome:
    """One dbt invocation into a new file under ``data/build/``.

    ``args=None``: the dbt step of ``subjectdb build`` itself (:func:`build.dbt_step`: a copy
    of the served warehouse if there is one — the copy is part of the time — and the run
    :func:`build.plan_dbt_build` plans: the daily path when the served file was built from the
    same key, seeds and project files). ``record`` writes the build record a passing build
    leaves (the next plan reads it). Explicit ``args`` run into an empty file.
    """
    from subjectdb.warehouse.build import dbt_step, new_build_id, write_build_info
    from subjectdb.warehouse.dbt_runner import (
        ensure_quarantine_placeholder,
        run_dbt,
        scrub_key_material,
    )

    paths = _paths(spec).ensure()
    new_file = paths.build_dir / f"bench-{name}.duckdb"
    for stale in (new_file, Path(str(new_file) + ".wal")):
        stale.unlink(missing_ok=True)
    work_dir = paths.build_dir / f"dbt-bench-{name}"
    shutil.rmtree(work_dir, ignore_errors=True)
    used: dict[str, Any] = {}

    def work() -> Any:
        if args is not None:  # explicit arguments, into an empty file
            ensure_quarantine_placeholder(paths)
            used["args"] = args
            run = run_dbt(args, paths, new_file, work_dir)
            scrub_key_material(work_dir / "target")
            return run
        step = dbt_step(paths, new_file, work_dir)
        used.update(args=step.plan.args, plan=step.plan.reason)
        if record and step.run.ok:
            write_build_info(
                new_file, new_build_id(), step.plan.full_refresh, step.run, step.fingerprints
            )
        return step.run

    seconds, run = _clock(work)
    if not run.ok:
        raise BenchmarkError(f"dbt {' '.join(used['args'])} failed:\n{run.summary()}")
    timings = _dbt_node_timings(work_dir / "target" / "run_results.json")
    extra = {
        "file": str(new_file),
        "args": used["args"],
        "nodes": run.node_counts,
        "dbt_reported_seconds": round(run.seconds, 3),
        "slowest_nodes": timings[:8],
    }
    if "plan" in used:
        extra["plan"] = used["plan"]
    return Outcome(seconds, 0, extra)


def _dbt_node_timings(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    data = json.loads(results.read_text())
    rows = [
        {"node": r.get("unique_id"), "seconds": round(float(r.get("execution_time") or 0), 3)}
        for r in data.get("results", [])
    ]
    return sorted(rows, key=lambda r: -r["seconds"])


def _dbt_build(spec: dict[str, Any]) -> Outcome:
    out = _dbt(spec, None, "full", record=True)
    out.rows = _landed_rows(_paths(spec))
    return out


def _dbt_same_models(spec: dict[str, Any]) -> Outcome:
    args = [
        "build",
        "--select",
        *[f"+{t}" for t in COMPARED_TABLES],
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    ]
    out = _dbt(spec, args, "same-models")
    out.rows = _landed_rows(_paths(spec))
    Path(out.extra["file"]).unlink(missing_ok=True)
    return out


def _dbt_incremental(spec: dict[str, Any]) -> Outcome:
    out = _dbt(spec, None, "incremental")
    batch = spec.get("increment_batch")
    out.rows = _landed_rows(_paths(spec), batch) if batch else 0
    return out


def _gates(spec: dict[str, Any]) -> Outcome:
    from subjectdb.quality.validate import run_gates

    paths = _paths(spec)
    new_file = Path(spec["new_file"])
    seconds, report = _clock(lambda: run_gates(paths, new_file))
    extra = {
        "ok": bool(report.ok),
        "expectations": len(report.outcomes),
        "failed": [f"{o.suite} {o.batch}: {o.expectation}({o.column})" for o in report.failures()][
            :20
        ],
        "errors": [str(e) for e in report.errors][:20],
    }
    return Outcome(seconds, sum(_subject_rows(new_file).values()), extra)


def _publish(spec: dict[str, Any]) -> Outcome:
    from subjectdb.release import publish

    paths = _paths(spec)
    rows = sum(_subject_rows(paths.warehouse).values())
    seconds, release = _clock(lambda: publish(paths, version=spec["version"], threshold=10))
    files = [p for p in Path(release).rglob("*") if p.is_file()]
    return Outcome(
        seconds,
        rows,
        {
            "release": str(release),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
        },
    )


# --------------------------------------------------------------------------- hand-written SQL


def handwritten_sql(paths: Paths, seeds_dir: Path | None = None) -> str:
    """``benchmarks/handwritten.sql`` with the data folder's inputs filled in."""
    seeds = seeds_dir or (PROJECT_DIR / "seeds")
    return Template(HANDWRITTEN_SQL.read_text(encoding="utf-8")).substitute(
        landing=paths.landing.as_posix(),
        raw_suite_quarantine=paths.suite_quarantine.as_posix(),
        seeds=seeds.as_posix(),
    )


def compare_tables(con: Any, left: str, right: str) -> dict[str, int]:
    """Rows of ``left`` missing from ``right`` and the reverse (multiset, doubles to 1e-9)."""
    cols = con.execute(f"select * from {left} limit 0").description
    names = [c[0] for c in cols]
    right_names = [c[0] for c in con.execute(f"select * from {right} limit 0").description]
    if sorted(names) != sorted(right_names):
        raise BenchmarkError(f"{left} and {right} have different columns: {names} vs {right_names}")
    types = {r[0]: r[1] for r in con.execute(f"describe select * from {left}").fetchall()}
    exprs = ", ".join(
        f'round("{n}", 9) as "{n}"' if types[n] in ("DOUBLE", "FLOAT") else f'"{n}"' for n in names
    )
    missing = con.execute(
        f"select count(*) from (select {exprs} from {left} except all select {exprs} from {right})"
    ).fetchone()[0]
    extra = con.execute(
        f"select count(*) from (select {exprs} from {right} except all select {exprs} from {left})"
    ).fetchone()[0]
    return {
        "rows": int(con.execute(f"select count(*) from {left}").fetchone()[0]),
        "only_left": int(missing),
        "only_right": int(extra),
    }


def _handwritten(spec: dict[str, Any]) -> Outcome:
    paths = _paths(spec)
    target = paths.build_dir / "bench-handwritten.duckdb"
    for stale in (target, Path(str(target) + ".wal")):
        stale.unlink(missing_ok=True)
    sql = handwritten_sql(paths)
    # the limits profiles.yml gives dbt, so both run under the same settings
    con = duckdb_connect(target, paths=paths, threads=2, preserve_order=False)
    try:
        seconds, _ = _clock(lambda: con.execute(sql))
        con.execute(f"attach '{paths.warehouse.as_posix()}' as wh (read_only)")
        checks = {t: compare_tables(con, f"main.{t}", f"wh.marts.{t}") for t in COMPARED_TABLES}
    finally:
        con.close()
    target.unlink(missing_ok=True)
    wrong = {t: c for t, c in checks.items() if c["only_left"] or c["only_right"]}
    if wrong:
        raise BenchmarkError(
            "the hand-written script and dbt disagree (rows only in the script / only in dbt): "
            + json.dumps(wrong)
        )
    return Outcome(seconds, _landed_rows(paths), {"equal_to_dbt": True, "compared": checks})


# --------------------------------------------------------------------------- dashboard


def filter_sets(wh: Any) -> list[tuple[str, Any]]:
    """A fixed, data-derived set of filter combinations (the same for every run of a size)."""
    from subjectdb.serving import queries
    from subjectdb.serving.queries import Filters

    first, last = queries.period_bounds(wh)
    regions = queries.regions_present(wh)
    labels = queries.labels(wh)
    year_from = max(first, date(last.year, 1, 1))
    year = Filters(year_from, last)
    prefecture = str(sorted(regions["prefecture"].dropna().unique())[0])
    county = str(sorted(regions["county"].dropna().unique())[0])
    themes = labels["theme"]
    person_theme = str(sorted(themes[themes["applicant_type"] == "person"]["code"])[0])
    quarter_from = date(last.year, max(1, last.month - 2), 1)
    half_from = date(last.year, max(1, last.month - 5), 1)
    return [
        ("last year", year),
        ("whole period", Filters(first, last)),
        ("last year, one prefecture", replace(year, region=prefecture)),
        ("last year, one county", replace(year, region=county)),
        (
            "last quarter, elderly persons",
            Filters(quarter_from, last, age_groups=("60-74", "75+"), applicant_types=("person",)),
        ),
        ("last year, online channels", replace(year, channels=("web", "app"))),
        ("last half-year, one theme", Filters(half_from, last, themes=(person_theme,))),
        ("last year, enterprises", replace(year, applicant_types=("enterprise",))),
    ]


def page_queries(
    f: Any, bounds: tuple[date, date], data_root: Path
) -> dict[str, list[tuple[str, Callable[[Any], Any]]]]:
    """The queries each dashboard page runs for filters ``f`` (as in ``dashboards/views``)."""
    from subjectdb.serving import queries as q

    elderly = replace(f, age_groups=("60-74", "75+"), applicant_types=("person",))
    level = "county" if f.region and not f.region.endswith("00") else "prefecture"
    whole = replace(f, month_from=bounds[0], month_to=bounds[1])
    year = f.month_to.year
    theme = f.themes[0] if len(f.themes) == 1 else "ALL"
    return {
        "common": [
            ("labels", q.labels),
            ("period_bounds", q.period_bounds),
            ("regions_present", q.regions_present),
        ],
        "overview": [
            ("kpis", lambda wh: q.kpis(wh, f)),
            ("demand(month)", lambda wh: q.demand(wh, f, ("month",))),
        ],
        "demand_map": [
            ("demand(level)", lambda wh: q.demand(wh, f, (level,))),
            ("standardised", lambda wh: q.standardised(wh, f, year, theme)),
            ("demand(elderly)", lambda wh: q.demand(wh, elderly, (level,))),
        ],
        "age_groups": [
            ("population_pyramid", lambda wh: q.population_pyramid(wh, f)),
            ("demand(age)", lambda wh: q.demand(wh, f, ("age_group",))),
            ("demand(age,theme)", lambda wh: q.demand(wh, f, ("age_group", "theme"))),
        ],
        "service_types": [("items_demand", lambda wh: q.items_demand(wh, f))],
        "trends": [
            ("demand(month)", lambda wh: q.demand(wh, f, ("month",))),
            ("demand(month, -12)", lambda wh: q.demand(wh, f.shifted(-12), ("month",))),
            ("demand(month, all)", lambda wh: q.demand(wh, whole, ("month",))),
        ],
        "performance": [
            ("performance_summary", lambda wh: q.performance_summary(wh, f)),
            ("processing_quantiles", lambda wh: q.processing_quantiles(wh, f)),
            ("processing_time", lambda wh: q.processing_time(wh, f)),
            ("performance_by(item)", lambda wh: q.performance_by(wh, f, "item")),
            ("performance_by(department)", lambda wh: q.performance_by(wh, f, "department")),
        ],
        "digital_divide": [
            ("demand(age,urban)", lambda wh: q.demand(wh, f, ("age_group", "urban_rural"))),
            ("demand(level)", lambda wh: q.demand(wh, f, (level,))),
            ("demand(age,channel)", lambda wh: q.demand(wh, f, ("age_group", "channel"))),
        ],
        "enterprises": [
            (f"enterprise_demand({d})", lambda wh, d=d: q.enterprise_demand(wh, f, (d,)))
            for d in ("industry", "size_class", "county")
        ],
        "data_quality": [
            (
                "validation results",
                lambda wh: q.read_parquet_file(data_root / "validation" / "results.parquet"),
            ),
            ("quarantine_counts", lambda wh: q.quarantine_counts(data_root)),
            (
                "reconciliation",
                lambda wh: q.read_parquet_file(data_root / "reconciliation.parquet"),
            ),
        ],
    }


def _percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), of a non-empty sequence."""
    xs = sorted(values)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _dashboard_queries(spec: dict[str, Any]) -> Outcome:
    from subjectdb.serving.queries import Warehouse

    paths = _paths(spec)
    wh = Warehouse(paths.warehouse)
    try:
        wh.build_id  # attach once: the dashboard keeps its connection open  # noqa: B018
        from subjectdb.serving import queries

        bounds = queries.period_bounds(wh)
        sets = filter_sets(wh)
        page_ms: dict[str, list[float]] = {}
        query_ms: dict[str, list[float]] = {}
        start = time.perf_counter()
        calls = 0
        for _, f in sets:
            for page, items in page_queries(f, bounds, paths.root).items():
                total = 0.0
                for name, fn in items:
                    ms, _ = _clock(lambda fn=fn: fn(wh))
                    ms *= 1000
                    total += ms
                    calls += 1
                    query_ms.setdefault(f"{page}: {name}", []).append(ms)
                page_ms.setdefault(page, []).append(total)
        seconds = time.perf_counter() - start
    finally:
        wh.close()

    def stats(xs: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(_percentile(xs, 0.5), 1),
            "p95_ms": round(_percentile(xs, 0.95), 1),
            "max_ms": round(max(xs), 1),
            "n": len(xs),
        }

    extra = {
        "filter_sets": [name for name, _ in sets],
        "pages": {p: stats(v) for p, v in page_ms.items()},
        "queries": {q: stats(v) for q, v in query_ms.items()},
        "calls": calls,
    }
    return Outcome(seconds, calls, extra)


READY_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]');
  return !!(main && main.querySelector('[data-testid="stHeading"], h1'));
}"""
"""Page ready: the script finished, no running indicator, the main area shows its title."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchmarkError(f"streamlit exited with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.25)
    raise BenchmarkError(f"streamlit did not answer on {url} within {timeout:.0f} s")


def dashboard_pages() -> list[tuple[str, str]]:
    """(file stem, URL path) of every dashboard page, from the page registry."""
    from dashboards.pages import PAGES

    return [(p.stem, p.url_path) for p in PAGES]


def _page_ready(spec: dict[str, Any]) -> Outcome:
    if not CHROMIUM.exists():
        return Outcome(0.0, 0, {"not_measured": "chromium missing"})
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return Outcome(0.0, 0, {"not_measured": "playwright missing"})
    paths = _paths(spec)
    port = _free_port()
    env = streamlit_env(paths)
    cmd = streamlit_command(port, "--server.fileWatcherType", "none")
    log = paths.build_dir / "bench-streamlit.log"
    pages: dict[str, float] = {}
    errors: dict[str, str] = {}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            _wait_healthy(port, proc)
            server_start = time.perf_counter() - started
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    base = f"http://127.0.0.1:{port}"
                    first = _open_page(browser, f"{base}/")  # cold: imports, first attach
                    for stem, url in dashboard_pages():
                        try:
                            pages[stem] = _open_page(browser, f"{base}/{url}")
                        except Exception as exc:  # noqa: BLE001 - reported per page
                            errors[stem] = f"{type(exc).__name__}: {exc}"[:300]
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if errors:
        raise BenchmarkError("dashboard pages did not get ready: " + json.dumps(errors))
    seconds = sum(pages.values())
    extra = {
        "server_start_seconds": round(server_start, 3),
        "first_load_seconds": round(first, 3),
        "pages": {p: round(s, 3) for p, s in pages.items()},
        "slowest_page": max(pages, key=lambda p: pages[p]) if pages else None,
        "max_seconds": round(max(pages.values()), 3) if pages else None,
    }
    return Outcome(seconds, len(pages), extra)


def _open_page(browser: Any, url: str, timeout_ms: int = 120_000) -> float:
    """Seconds from navigation to page ready, in a fresh browser context (a new session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        page.wait_for_function(READY_JS, timeout=timeout_ms, polling=50)
        seconds = time.perf_counter() - start
        exc = page.query_selector('[data-testid="stException"]')
        if exc is not None:
            raise BenchmarkError(f"{url} shows an exception: {exc.inner_text()[:200]}")
        return seconds
    finally:
        context.close()


CHILD_STAGES: dict[str, Callable[[dict[str, Any]], Outcome]] = {
    "generate": _generate,
    "load": lambda s: _load(s, increment=False),
    "raw_suites": _raw_suites,
    "dbt_build": _dbt_build,
    "gates": _gates,
    "publish": _publish,
    "handwritten": _handwritten,
    "dbt_same_models": _dbt_same_models,
    "dashboard_queries": _dashboard_queries,
    "page_ready": _page_ready,
    "load_increment": lambda s: _load(s, increment=True),
    "floor_scan": _floor_scan,
    "raw_suites_increment": _raw_suites,
    "dbt_incremental": _dbt_incremental,
}


def run_stage(stage: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Child side: run one stage in this process and return its measurement."""
    out = CHILD_STAGES[stage](spec)
    return {
        "seconds": out.seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rows": out.rows,
        "extra": out.extra,
    }


# --------------------------------------------------------------------------- orchestration


def _swap_in(paths: Paths, new_file: Path) -> None:
    """What a passing build does last: the new file replaces the served one atomically."""
    Path(str(new_file) + ".wal").unlink(missing_ok=True)
    os.replace(new_file, paths.warehouse)
    info = {
        "build_id": f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
        "built_at": datetime.now(UTC).isoformat(),
        "full_refresh": True,
        "warehouse": paths.warehouse.name,
    }
    (paths.root / "warehouse.build.json").write_text(json.dumps(info, indent=2) + "\n")


def _selected(stages: Sequence[str] | None) -> list[str]:
    if stages is None:
        return list(STAGES)
    chosen = set(REQUIRED)
    for s in stages:
        if s in OPTIONAL_GROUPS:
            chosen.update(OPTIONAL_GROUPS[s])
        elif s in STAGES:
            chosen.add(s)
        else:
            names = ", ".join(list(OPTIONAL_GROUPS) + list(STAGES))
            raise BenchmarkError(f"unknown benchmark stage {s!r}: use {names}")
    if "dbt_incremental" in chosen or "load_increment" in chosen:
        chosen.update(OPTIONAL_GROUPS["increment"])
    return [s for s in STAGES if s in chosen]


def _drop_loaded_raw(paths: Paths) -> int:
    """Delete the bulk raw extracts once landed (the held-back day stays): at 50 M cases they
    are 16 GB of disk the rest of the run does not read. Returns the bytes freed."""
    bulk, _ = split_batches(paths.raw)
    freed = 0
    for f in bulk:
        freed += f.stat().st_size
        f.unlink()
    return freed


def _one_run(
    size: str,
    root: Path,
    stages: list[str],
    run: int,
    say: Callable[[str], None],
    drop_raw: bool = False,
) -> dict[str, StageRun]:
    if root.exists():
        shutil.rmtree(root)
    paths = Paths(root).ensure()
    spec: dict[str, Any] = {"data_dir": str(root), "size": size}
    got: dict[str, StageRun] = {}

    def stage(name: str, **more: Any) -> StageRun:
        say(f"run {run}: {STAGE_LABELS[name]} ...")
        r = run_in_subprocess(name, {**spec, **more})
        say(
            f"run {run}: {STAGE_LABELS[name]}: {r.seconds:.2f} s, {r.rows:,} rows, "
            f"peak {r.peak_rss_mib:,.0f} MiB"
        )
        got[name] = r
        return r

    stage("generate")
    if "floor_scan" in stages:
        stage("floor_scan")
    stage("load")
    if drop_raw:
        say(f"run {run}: dropped the landed raw extracts ({_drop_loaded_raw(paths) / 1e9:.1f} GB)")
    stage("raw_suites")
    built = stage("dbt_build")
    new_file = Path(built.extra["file"])
    stage("gates", new_file=str(new_file))
    _swap_in(paths, new_file)
    if "publish" in stages:
        stage("publish", version=f"0.0.{run}-bench")
    if "handwritten" in stages:
        stage("handwritten")
    if "dbt_same_models" in stages:
        stage("dbt_same_models")
    if "dashboard_queries" in stages:
        stage("dashboard_queries")
    if "page_ready" in stages:
        stage("page_ready")
    if "load_increment" in stages:
        inc = stage("load_increment")
        stage("raw_suites_increment")
        stage("dbt_incremental", increment_batch=inc.extra["batch"][0])
    return got


def run_benchmark(
    size: str = "10m",
    runs: int = 3,
    data_dir: Path | None = None,
    stages: list[str] | None = None,
    update_readme: bool = True,
    results_dir: Path | None = None,
    keep_data: bool = False,
    drop_raw: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Benchmark the pipeline at ``size``; write ``<results_dir>/<size>.json`` and return it.

    ``runs`` complete runs, each in a fresh folder ``<data_dir>/run<N>`` (default
    ``benchmarks/work/<size>``); reports medians. ``stages``: optional stage groups to include
    (``publish``, ``handwritten``, ``dashboard``, ``page_ready``, ``increment``, or stage names;
    the pipeline up to the gates always runs); ``None`` runs everything. ``update_readme``
    rewrites the table between the README's bench markers from every results file.
    ``keep_data`` keeps the last run's data folder (it is removed otherwise). ``drop_raw``
    deletes the bulk raw extracts once loaded, for runs larger than the free disk allows.
    """
    if size not in SIZES:
        raise BenchmarkError(f"unknown size {size!r}: use one of {', '.join(SIZES)}")
    if runs < 1:
        raise BenchmarkError("runs must be at least 1")
    chosen = _selected(stages)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    base = Path(data_dir) if data_dir else WORK_DIR / size
    env_before = environment()
    per_run: list[dict[str, StageRun]] = []
    started = time.perf_counter()
    for n in range(1, runs + 1):
        root = base / f"run{n}"
        per_run.append(_one_run(size, root, chosen, n, say, drop_raw))
        if not keep_data or n < runs:
            shutil.rmtree(root, ignore_errors=True)
    payload = summarise(size, per_run, chosen)
    payload["environment"] = env_before
    if hasattr(os, "getloadavg"):
        payload["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload["total_seconds"] = round(time.perf_counter() - started, 1)
    out = write_result(size, payload, results_dir)
    say(f"results: {out}")
    if update_readme:
        update_readme_table(results_dir=results_dir)
    return out


def summarise(size: str, per_run: list[dict[str, StageRun]], stages: list[str]) -> dict[str, Any]:
    """Medians per stage, derived figures and the targets table."""
    summary = {s: median_runs([r[s] for r in per_run]) for s in stages if s in per_run[0]}
    e2e = [sum(r[s].seconds for s in PIPELINE if s in r) for r in per_run]
    derived: dict[str, Any] = {
        "end_to_end_stages": [s for s in PIPELINE if s in summary],
        "end_to_end_seconds": round(statistics.median(e2e), 3),
        "peak_rss_mib": max(v["peak_rss_mib"] for v in summary.values()),
        "peak_rss_stage": max(summary.values(), key=lambda v: v["peak_rss_mib"])["stage"],
    }
    if "handwritten" in summary:
        hand = summary["handwritten"]["median_seconds"]
        derived["handwritten_seconds"] = hand
        if "floor_scan" in summary:
            derived["floor_seconds"] = round(summary["floor_scan"]["median_seconds"] + hand, 3)
        derived["dbt_build_vs_handwritten"] = _ratio(summary["dbt_build"]["median_seconds"], hand)
        if "dbt_same_models" in summary:
            derived["dbt_same_models_vs_handwritten"] = _ratio(
                summary["dbt_same_models"]["median_seconds"], hand
            )
    return {
        "size": size,
        "generator": {**SIZES[size], **{k: v for k, v in GENERATOR.items()}},
        "runs": len(per_run),
        "stages": summary,
        "per_run_seconds": [{s: round(r[s].seconds, 3) for s in r} for r in per_run],
        "derived": derived,
        "targets": targets(size, summary, derived),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


@dataclass
class Target:
    name: str
    limit: str
    applies_to: str
    measured: str
    met: bool | None  # None: not measured


def targets(size: str, s: dict[str, Any], d: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with its measured value and met / missed."""
    out: list[Target] = []

    def add(
        name: str,
        limit: str,
        applies: str,
        value: float | None,
        unit: str,
        ok: Callable[[float], bool],
        note: str | None = None,
    ) -> None:
        if value is None:
            out.append(Target(name, limit, applies, note or "not measured", None))
        else:
            shown = f"{value:,.2f}{unit}" if unit != " ms" else f"{value:,.0f}{unit}"
            out.append(Target(name, limit, applies, shown, ok(value)))

    add(
        "end to end: load → suites → dbt build → gates → publish",
        "≤ 90 s",
        "10m",
        d["end_to_end_seconds"] if "publish" in s else None,
        " s",
        lambda v: v <= 90,
        "not measured: publish left out",
    )
    add(
        "dbt build ÷ hand-written SQL",
        "≤ 1.5×",
        "all",
        d.get("dbt_build_vs_handwritten"),
        "×",
        lambda v: v <= 1.5,
    )
    add(
        "dbt build of the same models (no tests) ÷ hand-written SQL",
        "≤ 1.5×",
        "all",
        d.get("dbt_same_models_vs_handwritten"),
        "×",
        lambda v: v <= 1.5,
    )
    add(
        "one daily incremental batch: dbt build",
        "≤ 10 s",
        "10m",
        s["dbt_incremental"]["median_seconds"] if "dbt_incremental" in s else None,
        " s",
        lambda v: v <= 10,
    )
    add(
        "peak memory of any stage (completes)",
        "≤ 8 GiB",
        "50m",
        d["peak_rss_mib"] / 1024,
        " GiB",
        lambda v: v <= 8,
    )
    pages = s.get("dashboard_queries", {}).get("extra", {}).get("pages", {})
    worst = max((v["p95_ms"] for p, v in pages.items() if p != "common"), default=None)
    add(
        "dashboard page queries p95 (slowest page)",
        "≤ 150 ms",
        "10m",
        worst,
        " ms",
        lambda v: v <= 150,
    )
    ready = s.get("page_ready", {}).get("extra", {})
    add(
        "dashboard page ready (slowest page)",
        "≤ 2.5 s",
        "10m",
        ready.get("max_seconds"),
        " s",
        lambda v: v <= 2.5,
        f"not measured: {ready['not_measured']}" if "not_measured" in ready else None,
    )
    rows = []
    for t in out:
        applies = t.applies_to in ("all", size)
        if t.met is None:
            status = t.measured
        elif applies:
            status = "met" if t.met else "missed"
        else:
            status = f"{'within' if t.met else 'over'} limit (target is for {t.applies_to})"
        rows.append(
            {
                "target": t.name,
                "limit": t.limit,
                "applies_to": t.applies_to,
                "measured": t.measured,
                "status": status,
            }
        )
    return rows


def write_result(size: str, payload: dict[str, Any], results_dir: Path | None = None) -> Path:
    folder = results_dir or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "size": size,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **payload,
    }
    out = folder / f"{size}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------- README table


def render_table(result: dict[str, Any]) -> str:
    """Markdown for one results file: the stages, then the targets."""
    env = result.get("environment", {})
    gen = result.get("generator", {})
    head = (
        f"### {result['size']}: {gen.get('cases', 0):,} cases, {gen.get('persons', 0):,} "
        f"persons, {gen.get('enterprises', 0):,} enterprises\n\n"
        f"Median of {result.get('runs')} run(s), recorded {result.get('recorded_at')} on "
        f"{env.get('cpus')} CPUs ({env.get('cpu', '?')}), {env.get('memory_gib')} GiB, "
        f"load average at start {env.get('load_average_at_start')}, at end "
        f"{env.get('load_average_at_end', '?')}, commit {env.get('commit', '?')}, DuckDB "
        f"{env.get('versions', {}).get('duckdb')}, dbt-core "
        f"{env.get('versions', {}).get('dbt-core')}, memory_limit "
        f"{env.get('duckdb_memory_limit')}.\n"
    )
    lines = [
        head,
        "| stage | median s | rows | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for st in result["stages"].values():
        extra = st.get("extra", {})
        if "not_measured" in extra:
            lines.append(f"| {st['label']} | {extra['not_measured']} | | | |")
            continue
        rps = f"{st['rows_per_second']:,}" if st.get("rows_per_second") else ""
        lines.append(
            f"| {st['label']} | {st['median_seconds']:,.2f} | {st['rows']:,} | {rps} "
            f"| {st['peak_rss_mib']:,.0f} |"
        )
    d = result["derived"]
    lines.append(
        f"| **end to end** ({' → '.join(d['end_to_end_stages'])}) | "
        f"**{d['end_to_end_seconds']:,.2f}** | | | |"
    )
    if "floor_seconds" in d:
        lines.append(
            f"| floor: raw CSV scan + hand-written script (no standardising, quarantine, "
            f"validation, tests or publishing) | {d['floor_seconds']:,.2f} | | | |"
        )
    lines += ["", "| target | limit | measured | status |", "|---|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['limit']} | {t['measured']} | {t['status']} |")
    pages = result["stages"].get("dashboard_queries", {}).get("extra", {}).get("pages")
    ready = result["stages"].get("page_ready", {}).get("extra", {}).get("pages", {})
    if pages:
        lines += [
            "",
            "| dashboard page | queries p50 ms | queries p95 ms | page ready s |",
            "|---|---:|---:|---:|",
        ]
        for p, v in pages.items():
            r = f"{ready[p]:.2f}" if p in ready else ""
            lines.append(f"| {p} | {v['p50_ms']:,.0f} | {v['p95_ms']:,.0f} | {r} |")
    return "\n".join(lines) + "\n"


def render_section(results_dir: Path | None = None) -> str:
    folder = results_dir or RESULTS_DIR
    found = []
    for f in folder.glob("*.json") if folder.is_dir() else []:
        with contextlib.suppress(ValueError, KeyError, OSError):
            found.append(json.loads(f.read_text(encoding="utf-8")))
    found.sort(key=lambda r: SIZE_ORDER.index(r["size"]) if r.get("size") in SIZE_ORDER else 99)
    body = "\n".join(render_table(r) for r in found) if found else "No results yet.\n"
    return (
        f"{MARK_START}\n_Regenerated by `make bench` (`subjectdb bench`); see "
        f"docs/benchmarks.md. Machine-shared runs are noisy: compare ratios, not seconds._\n\n"
        f"{body}{MARK_END}"
    )


def update_readme_table(readme: Path = README, results_dir: Path | None = None) -> Path:
    """Rewrite the text between the bench markers (append a section if they are absent)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    section = render_section(results_dir)
    if MARK_START in text and MARK_END in text and text.index(MARK_START) < text.index(MARK_END):
        a = text.index(MARK_START)
        b = text.index(MARK_END) + len(MARK_END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")
    return readme


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m subjectdb.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--size", default="10m", choices=list(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated optional stage groups: "
        + ",".join(OPTIONAL_GROUPS)
        + " (default: all)",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README table")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument(
        "--drop-raw",
        action="store_true",
        help="delete the bulk raw extracts once loaded (saves 16 GB of disk at 50m)",
    )
    parser.add_argument(
        "--stage",
        nargs=2,
        metavar=("NAME", "SPEC"),
        help="internal: run one stage in this process and print JSON",
    )
    args = parser.parse_args(argv)
    if args.stage:
        name, spec = args.stage
        print(json.dumps(run_stage(name, json.loads(spec))), flush=True)
        return 0
    stages = [s for s in args.only.split(",") if s] if args.only else None
    try:
        out = run_benchmark(
            size=args.size,
            runs=args.runs,
            data_dir=args.data_dir,
            stages=stages,
            update_readme=not args.no_readme,
            keep_data=args.keep_data,
            drop_raw=args.drop_raw,
        )
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(render_table(json.loads(out.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
