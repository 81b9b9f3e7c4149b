"""``subjectdb build``: raw suites → ``dbt build`` into a new file → gates → atomic swap.

The served warehouse (``data/warehouse.duckdb``) is never written in place: dashboards may hold
it open, and a failed build must leave it untouched. A build

1. runs the Great Expectations raw suites (``quality.run_raw_suites``), which quarantine rows
   failing a data standard (dbt staging drops them);
2. copies the served warehouse (incremental models and snapshot history continue from it) to
   ``data/build/warehouse.building.duckdb``, or starts an empty file, and runs ``dbt build``
   (seeds, snapshots, models, data tests; unit tests run in the test suite) into it (a fixed
   name: dbt's parse cache is only reused while the profile, and so the file path, stays the
   same); the staging models
   are incremental by batch, so a copy made with another HMAC key (``main.build_info``
   ``key_fingerprint``) or from other reference seeds (``seeds_fingerprint``) is rebuilt
   with ``--full-refresh``; a copy built from the same project files takes the daily path,
   which skips the seeds and the seed-only models (:func:`plan_dbt_build`);
3. runs the publication gates (``quality.run_gates``, with the ``extra_gates`` the caller
   passes: the CLI adds the release's open-data gate) on the new file;
4. only when every step passed: records the build in ``main.build_info`` inside the new file,
   swaps it over the served file with an atomic ``os.replace`` and writes
   ``data/warehouse.build.json`` (build id, time) so readers can detect a new build.

A failed build keeps its file as ``data/build/warehouse.<build-id>.duckdb`` for inspection
(the last :data:`KEEP_FAILED` failed builds are kept, older ones removed); the served file is
untouched.
Builds of one data folder are serialised with a lock file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb import quality
from subjectdb.config import EXTRACTS, PROJECT_DIR, Paths, hmac_key
from subjectdb.warehouse.dbt_runner import (
    DbtRun,
    ensure_quarantine_placeholder,
    run_dbt,
    scrub_key_material,
)

KEEP_FAILED = 3
KEEP_WORK_DIRS = 5
BUILD_INFO_JSON = "warehouse.build.json"
DBT_BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")
"""What a build runs: dbt unit tests check the models' logic on fixed inputs, not the data, so
they run in the test suite (tests/test_staging.py) and builds do not pay for them each time."""
BUILDING = "warehouse.building.duckdb"

DAILY_EXCLUDES = ("--exclude", "resource_type:seed", "tag:reference_data")
"""What a daily build over an unchanged project skips: the seeds and the models built from
seeds only (tag ``reference_data``: dimensions, region code successors), with their data
tests. The copied warehouse already holds them, built and tested from the same files."""
SEED_INPUTS = ("seeds",)
PROJECT_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests/dbt",
)
"""The files a warehouse is built from (relative to the project folder)."""

KEY_CHECK_MESSAGE = b"subjectdb warehouse key check"
"""HMAC'd with the build's key and kept in ``main.build_info.key_fingerprint``: a build over a
warehouse made with another key (or an unknown one) restages everything (full refresh), as
incremental staging would otherwise mix hashes of two keys."""

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class BuildError(RuntimeError):
    """A build could not start (e.g. nothing landed yet)."""


class Summary(str):
    """Plain text that rich prints verbatim: dbt and validation messages contain brackets
    (``[5 failing rows]``, paths, lists) that rich would otherwise read as markup."""

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(str(self))


@dataclass
class Step:
    """One step of a build and how it ended."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""


@dataclass
class BuildResult:
    """What a build did; ``ok`` only when the new warehouse was swapped in."""

    build_id: str
    served: Path
    new_file: Path
    full_refresh: bool
    steps: list[Step] = field(default_factory=list)
    dbt: DbtRun | None = None
    swapped: bool = False

    @property
    def ok(self) -> bool:
        return self.swapped and all(s.status == PASSED for s in self.steps)

    @property
    def failed_steps(self) -> list[Step]:
        return [s for s in self.steps if s.status == FAILED]

    def summary(self) -> Summary:
        head = "build {} {}".format(self.build_id, "OK" if self.ok else "FAILED")
        lines = [head + (" (full refresh)" if self.full_refresh else "")]
        for s in self.steps:
            lines.append(f"  {s.name:<12} {s.status:<14} {s.seconds:6.1f}s")
            lines.extend("      " + ln for ln in s.detail.splitlines() if ln.strip())
        if self.ok:
            lines.append(f"  served warehouse: {self.served}")
        else:
            kept = self.new_file if self.new_file.exists() else None
            lines.append(f"  served warehouse unchanged: {self.served}")
            if kept:
                lines.append(f"  failed build kept for inspection: {kept}")
        return Summary("\n".join(lines))


def new_build_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@contextmanager
def _build_lock(paths: Paths) -> Iterator[None]:
    """One build at a time per data folder (a second build waits)."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.build_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _render(report: Any, limit: int = 30) -> str:
    """The failed checks of a validation report as plain text (one line each)."""
    lines = [f"error: {e}" for e in (getattr(report, "errors", None) or [])]
    failures = report.failures() if hasattr(report, "failures") else []
    for o in failures[:limit]:
        examples = ", ".join(map(str, getattr(o, "examples", [])[:3]))
        lines.append(
            f"{o.suite} batch {o.batch}: {o.expectation}({o.column}) "
            f"{o.unexpected_count} unexpected" + (f", e.g. {examples}" if examples else "")
        )
    if len(failures) > limit:
        lines.append(f"... and {len(failures) - limit} more failed checks")
    if not lines and hasattr(report, "summary"):
        lines.append(str(report.summary()))
    return "\n".join(lines)


def _validation_step(name: str, run: Callable[[], Any]) -> Step:
    """Run one quality stage (raw suites or gates); an exception is a failed step."""
    started = time.monotonic()
    try:
        report = run()
    except Exception as exc:
        return Step(name, FAILED, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    ok = bool(report.ok)
    detail = "" if ok else _render(report)
    return Step(name, PASSED if ok else FAILED, time.monotonic() - started, detail)


def _check_landing(paths: Paths) -> list[str]:
    missing = [e for e in EXTRACTS if not any((paths.landing / e).glob("*/*.parquet"))]
    return [
        f"no landed batch for '{e}' under {paths.landing / e}: run `subjectdb load` first"
        for e in missing
    ]


def key_fingerprint(paths: Paths) -> str:
    """A public check value of the HMAC key (HMAC of a fixed message; reveals nothing)."""
    return hmac.new(hmac_key(paths).encode(), KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()


def stored_key_fingerprint(warehouse: Path) -> str | None:
    """The key fingerprint of a warehouse's latest build (None when unknown)."""
    import duckdb

    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            row = con.execute(
                "select key_fingerprint from main.build_info order by built_at desc limit 1"
            ).fetchone()
    except duckdb.Error:  # no build_info, or one written before fingerprints existed
        return None
    return str(row[0]) if row and row[0] else None


def files_fingerprint(inputs: tuple[str, ...], root: Path = PROJECT_DIR) -> str:
    """SHA-256 over the names and contents of the files under ``inputs`` (sorted)."""
    digest = hashlib.sha256()
    for name in inputs:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def stored_build_info(warehouse: Path) -> dict[str, str | None]:
    """The fingerprints of a warehouse's latest build (``None`` for unknown ones)."""
    import duckdb

    names = ("key_fingerprint", "seeds_fingerprint", "project_fingerprint")
    info: dict[str, str | None] = dict.fromkeys(names)
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            have = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'main' and table_name = 'build_info'"
                ).fetchall()
            }
            cols = [n for n in names if n in have]
            if not cols:
                return info
            row = con.execute(
                f"select {', '.join(cols)} from main.build_info order by built_at desc limit 1"
            ).fetchone()
    except duckdb.Error:
        return info
    for name, value in zip(cols, row or (), strict=False):
        info[name] = str(value) if value else None
    return info


@dataclass
class DbtPlan:
    """How a build runs dbt over its starting file, and why."""

    args: list[str]
    full_refresh: bool
    reason: str


def plan_dbt_build(
    start: Path | None,
    full_refresh: bool,
    fingerprints: dict[str, str],
    copied_from: Path | None = None,
) -> DbtPlan:
    """The ``dbt build`` arguments for a build starting from ``start`` (None: an empty file),
    a copy of ``copied_from`` (named in the reason).

    * a full refresh when asked, or when ``start`` was built with another (or an unknown)
      HMAC key or from other (or unknown) reference seeds: incremental tables would mix them;
    * the daily path when ``start`` was built from exactly these project files: seeds and
      the seed-only models are skipped (:data:`DAILY_EXCLUDES`); the incremental models
      touch only new rows and their data tests check those rows;
    * a full refresh when the project files changed since ``start`` was built: its
      incremental tables hold rows written by other model code, which an incremental run
      would keep (a new subjectdb release rebuilds everything once, then goes daily again).
    """
    args = list(DBT_BUILD_ARGS)
    if start is None:
        args += ["--full-refresh"] if full_refresh else []
        return DbtPlan(args, full_refresh, "started from an empty warehouse")
    origin = f"started from a copy of {(copied_from or start).name}"
    if full_refresh:
        return DbtPlan(args + ["--full-refresh"], True, origin + " (full refresh requested)")
    stored = stored_build_info(start)
    if stored["key_fingerprint"] != fingerprints["key_fingerprint"]:
        why = "built with another or an unknown HMAC key"
    elif stored["seeds_fingerprint"] != fingerprints["seeds_fingerprint"]:
        why = "built from other or unknown reference seeds"
    elif stored["project_fingerprint"] != fingerprints["project_fingerprint"]:
        why = "built from other or unknown model code"
    else:
        return DbtPlan(args + list(DAILY_EXCLUDES), False, origin + " (same project: daily path)")
    return DbtPlan(args + ["--full-refresh"], True, f"{origin} ({why}: full refresh)")


@dataclass
class DbtStep:
    """What :func:`dbt_step` did: the plan it followed, dbt's run, the fingerprints to record."""

    plan: DbtPlan
    run: DbtRun
    fingerprints: dict[str, str]
    copy_seconds: float


def dbt_step(
    paths: Paths,
    new_file: Path,
    work_dir: Path,
    full_refresh: bool = False,
    extra_args: Sequence[str] = (),
    show_progress: bool = False,
) -> DbtStep:
    """A build's dbt step: copy the served warehouse (if any) to ``new_file``, plan the run
    (:func:`plan_dbt_build`), run dbt into ``new_file`` and scrub key material from its target
    folder. ``subjectdb build`` and the benchmark both build through here."""
    ensure_quarantine_placeholder(paths)
    started = time.monotonic()
    fingerprints = current_fingerprints(paths)
    if paths.warehouse.exists():
        shutil.copyfile(paths.warehouse, new_file)
    copy_seconds = time.monotonic() - started
    plan = plan_dbt_build(
        new_file if new_file.exists() else None, full_refresh, fingerprints, paths.warehouse
    )
    run = run_dbt(
        plan.args + list(extra_args), paths, new_file, work_dir, show_progress=show_progress
    )
    scrub_key_material(work_dir / "target")
    return DbtStep(plan, run, fingerprints, copy_seconds)


def current_fingerprints(paths: Paths) -> dict[str, str]:
    """The key, seed and project fingerprints a build records (see :func:`plan_dbt_build`)."""
    return {
        "key_fingerprint": key_fingerprint(paths),
        "seeds_fingerprint": files_fingerprint(SEED_INPUTS),
        "project_fingerprint": files_fingerprint(PROJECT_INPUTS),
    }


def write_build_info(
    new_file: Path,
    build_id: str,
    full_refresh: bool,
    dbt: DbtRun,
    fingerprints: dict[str, str],
) -> None:
    import duckdb

    with duckdb.connect(str(new_file)) as con:
        con.execute(
            """
            create table if not exists main.build_info (
                build_id varchar primary key,
                built_at timestamp with time zone,
                full_refresh boolean,
                dbt_seconds double,
                dbt_nodes varchar
            )
            """
        )
        for column in ("key_fingerprint", "seeds_fingerprint", "project_fingerprint"):
            con.execute(f"alter table main.build_info add column if not exists {column} varchar")
        con.execute(
            "insert into main.build_info (build_id, built_at, full_refresh, dbt_seconds, "
            "dbt_nodes, key_fingerprint, seeds_fingerprint, project_fingerprint) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                build_id,
                dt.datetime.now(dt.UTC),
                full_refresh,
                round(dbt.seconds, 3),
                json.dumps(dbt.node_counts, sort_keys=True),
                fingerprints["key_fingerprint"],
                fingerprints["seeds_fingerprint"],
                fingerprints["project_fingerprint"],
            ],
        )
        con.execute("checkpoint")


def _prune(paths: Paths, current: str) -> None:
    """Keep the last few failed warehouse files and dbt work folders."""
    failed = sorted(p for p in paths.build_dir.glob("warehouse.*.duckdb") if p.name != BUILDING)
    for old in failed[:-KEEP_FAILED]:
        if current not in old.name:
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)
    work = sorted(p for p in paths.build_dir.glob("dbt-*") if p.is_dir())
    for old in work[:-KEEP_WORK_DIRS]:
        shutil.rmtree(old, ignore_errors=True)


def _keep_failed(result: BuildResult, paths: Paths) -> None:
    """Keep a failed build's file as warehouse.<build-id>.duckdb for inspection."""
    kept = paths.build_dir / f"warehouse.{result.build_id}.duckdb"
    if result.new_file.exists():
        os.replace(result.new_file, kept)
        Path(f"{result.new_file}.wal").unlink(missing_ok=True)
        result.new_file = kept
    _prune(paths, result.build_id)


def build(
    paths: Paths,
    full_refresh: bool = False,
    show_progress: bool = False,
    fail_fast: bool = False,
    extra_gates: Sequence[quality.GateStep] = (),
) -> BuildResult:
    """Build a new warehouse and swap it in only if everything passed (see module docs).

    ``fail_fast`` stops dbt at the first failing node (``dbt build --fail-fast``): a failed
    build ends sooner but reports only the first failures. ``extra_gates`` run after the
    warehouse gates (a later stage's, e.g. ``subjectdb.release.checks.RELEASE_GATES``).
    """
    paths.ensure()
    with _build_lock(paths):
        return _build(paths, full_refresh, show_progress, fail_fast, extra_gates)


def _build(
    paths: Paths,
    full_refresh: bool,
    show_progress: bool,
    fail_fast: bool,
    extra_gates: Sequence[quality.GateStep] = (),
) -> BuildResult:
    build_id = new_build_id()
    new_file = paths.build_dir / BUILDING
    for stale in (new_file, Path(f"{new_file}.wal")):  # left by a crashed build
        stale.unlink(missing_ok=True)
    result = BuildResult(build_id, paths.warehouse, new_file, full_refresh)

    problems = _check_landing(paths)
    if problems:
        result.steps.append(Step("landing", FAILED, 0.0, "\n".join(problems)))
        return result

    # (1) raw suites: quarantine rows failing a data standard
    result.steps.append(
        _validation_step("raw suites", lambda: quality.run_raw_suites(paths, show_progress))
    )
    if result.steps[-1].status == FAILED:
        result.steps.append(Step("dbt build", SKIPPED))
        return result

    # (2) dbt build into a copy of the served warehouse (or an empty file)
    started = time.monotonic()
    work_dir = paths.build_dir / f"dbt-{build_id}"
    step = dbt_step(
        paths,
        new_file,
        work_dir,
        full_refresh,
        extra_args=["--fail-fast"] if fail_fast else [],
        show_progress=show_progress,
    )
    dbt, fingerprints = step.run, step.fingerprints
    full_refresh = result.full_refresh = step.plan.full_refresh
    origin = step.plan.reason + f" (copy {step.copy_seconds:.1f}s)"
    result.dbt = dbt
    result.steps.append(
        Step(
            "dbt build",
            PASSED if dbt.ok else FAILED,
            time.monotonic() - started,
            origin + "\n" + dbt.summary(),
        )
    )
    if not dbt.ok:
        result.steps.append(Step("gates", SKIPPED))
        _keep_failed(result, paths)
        return result

    # (3) publication gates on the new file
    result.steps.append(
        _validation_step(
            "gates",
            lambda: quality.run_gates(paths, new_file, show_progress, extra_gates=extra_gates),
        )
    )
    if result.steps[-1].status == FAILED:
        _keep_failed(result, paths)
        return result

    # (4) record the build and swap it in atomically
    started = time.monotonic()
    write_build_info(new_file, build_id, full_refresh, dbt, fingerprints)
    Path(str(new_file) + ".wal").unlink(missing_ok=True)
    os.replace(new_file, paths.warehouse)
    info = {
        "build_id": build_id,
        "built_at": dt.datetime.now(dt.UTC).isoformat(),
        "full_refresh": full_refresh,
        "warehouse": paths.warehouse.name,
    }
    tmp = paths.root / (BUILD_INFO_JSON + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, paths.root / BUILD_INFO_JSON)
    result.swapped = True
    result.steps.append(Step("swap", PASSED, time.monotonic() - started))
    _prune(paths, build_id)
    return result
