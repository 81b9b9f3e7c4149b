"""Measuring: one stage's time and peak memory in its own process, the machine it ran on, and
the median over runs.

Each stage runs in its own Python subprocess (``python -m subjectdb.bench --stage NAME SPEC``),
so its peak RSS is its own: the child reports ``max(ru_maxrss(self), ru_maxrss(children))``,
which counts the dbt, Streamlit and Chromium processes the stage started and waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from subjectdb.bench.spec import NOT_ROWS, STAGE_LABELS, BenchmarkError
from subjectdb.config import PROJECT_DIR, Paths, duckdb_memory_limit
from subjectdb.serving.serve import CHROMIUM


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
    # the stage prints its measurement as the last JSON line; a library may have printed text
    # without a line break before it (pyspark, imported by GX, prints a notice), so look for it
    lines = [
        line[line.index('{"seconds"') :]
        for line in proc.stdout.splitlines()
        if '{"seconds"' in line
    ]
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


# --------------------------------------------------------------------------- the child's side


@dataclass
class Outcome:
    """What one stage measured in the child: seconds of its main call, rows, details."""

    seconds: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)


def clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of ``fn()`` and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def stage_paths(spec: dict[str, Any]) -> Paths:
    """The data folder a stage works in, from its spec."""
    return Paths(Path(spec["data_dir"]))
