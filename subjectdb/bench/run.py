"""Orchestration: the stages in order, each in its own process, over several fresh runs; the
new warehouse swapped in between stages; the results file and the README table at the end."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from subjectdb.bench.data import split_batches
from subjectdb.bench.measure import StageRun, environment, run_in_subprocess
from subjectdb.bench.report import update_readme_table, write_result
from subjectdb.bench.spec import (
    ALL_STAGES,
    NEEDS,
    OPTIONAL_GROUPS,
    REQUIRED,
    SIZES,
    STAGE_LABELS,
    STAGES,
    BenchmarkError,
)
from subjectdb.bench.summary import summarise
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.warehouse.standby import make_standby

WORK_DIR = PROJECT_DIR / "benchmarks" / "work"


def _swap_in(paths: Paths, new_file: Path) -> None:
    """What a passing build does last: the new file replaces the served one atomically, and a
    standby copy of it is left for the next build (:mod:`subjectdb.warehouse.standby`)."""
    Path(str(new_file) + ".wal").unlink(missing_ok=True)
    os.replace(new_file, paths.warehouse)
    info = {
        "build_id": f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
        "built_at": datetime.now(UTC).isoformat(),
        "full_refresh": True,
        "warehouse": paths.warehouse.name,
    }
    (paths.root / "warehouse.build.json").write_text(json.dumps(info, indent=2) + "\n")
    make_standby(paths)  # as a served build does: the daily build renames it, copies nothing


def _selected(stages: Sequence[str] | None) -> list[str]:
    if stages is None:
        return list(STAGES)
    chosen = set(REQUIRED)
    for s in stages:
        if s in OPTIONAL_GROUPS:
            chosen.update(OPTIONAL_GROUPS[s])
        elif s in ALL_STAGES:
            chosen.add(s)
        else:
            names = ", ".join(list(OPTIONAL_GROUPS) + list(ALL_STAGES))
            raise BenchmarkError(f"unknown benchmark stage {s!r}: use {names}")
    if "dbt_incremental" in chosen or "load_increment" in chosen:
        chosen.update(OPTIONAL_GROUPS["increment"])
    for stage, needed in NEEDS.items():
        if stage in chosen:
            chosen.update(needed)
    return [s for s in ALL_STAGES if s in chosen]


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
    if "sharing_api" in stages:
        stage("sharing_api")
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
    (``publish``, ``handwritten``, ``dashboard``, ``page_ready``, ``increment``, ``floor``,
    ``sharing``, or stage names; the pipeline up to the gates always runs, and a stage brings
    the stages it reads, :data:`~subjectdb.bench.spec.NEEDS`); ``None`` runs every stage of
    :data:`~subjectdb.bench.spec.STAGES` (not the sharing API load, run only when chosen).
    ``update_readme`` rewrites the table between the README's bench markers from every results
    file.
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
