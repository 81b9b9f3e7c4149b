"""``subjectdb build``: raw suites → ``dbt build`` into a new file → gates → atomic swap.

The served warehouse (``data/warehouse.duckdb``) is never written in place: dashboards may hold
it open, and a failed build must leave it untouched. A build

0. takes the data folder's lock (a second build is refused, :mod:`.scratch`) and sweeps what a
   killed build may have left (a scratch file is deleted, never replayed; dbt folders are
   scrubbed); when the served warehouse was built from exactly the landing batches, rule
   code, model code, seeds and key there are now, it says "up to date" and stops: nothing is
   copied, validated or run (:func:`up_to_date`);
1. runs the Great Expectations raw suites (``quality.run_raw_suites``), which quarantine rows
   failing a data standard (dbt staging drops them);
2. starts ``data/build/warehouse.building.duckdb`` from the served warehouse (incremental
   models and snapshot history continue from it) — by renaming the standby copy the last
   build left (:mod:`.standby`) when it is a copy of exactly the served file, else by copying
   the served file — or from an empty file, and runs ``dbt build``
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
   flushes it to disk and swaps it over the served file with an atomic rename, then writes
   ``data/warehouse.build.json`` (build id, time) so readers can detect a new build;
5. once served, copies the served file to the standby (``data/build/standby.duckdb``) the next
   build starts from: the whole-file copy is off the path from start to served (a failed
   build that consumed the standby leaves a new one of the file still served).

A failed build keeps its file as ``data/build/warehouse.<build-id>.duckdb`` for inspection (at
most :func:`.scratch.keep_failed`, 1 by default) and its log as
``data/build/logs/<build-id>.log``; the served file is untouched. A build stopped by SIGTERM
or Ctrl-C ends its dbt, scrubs its dbt folder and removes its scratch file on the way out.
The HMAC key reaches SQL only through functions on dbt's connection (:mod:`.keyed_hash`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb import quality
from subjectdb.config import EXTRACTS, HMAC_ENV, PROJECT_DIR, Paths, hmac_key
from subjectdb.files import replace_atomic, write_text_atomic
from subjectdb.warehouse.dbt_runner import (
    DbtRun,
    ensure_quarantine_placeholder,
    run_dbt,
)
from subjectdb.warehouse.poisson import ensure_limits
from subjectdb.warehouse.scratch import (
    BUILDING,
    BuildError,
    BuildLock,
    BuildLocked,
    build_lock,
    keep_failed,
    prune,
    require_data_folder,
    scrub_key_material,
    sweep,
    write_build_log,
)
from subjectdb.warehouse.standby import make_standby, standby_path, take_standby

__all__ = ["BUILDING", "BuildError", "BuildLocked", "build"]

BUILD_INFO_JSON = "warehouse.build.json"
DBT_BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")
"""What a build runs: dbt unit tests check the models' logic on fixed inputs, not the data, so
they run in the test suite (tests/test_staging.py) and builds do not pay for them each time."""
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
RULE_INPUTS = (
    "expectations",
    "subjectdb/quality",
    "subjectdb/warehouse",
    "subjectdb/config.py",
    "subjectdb/contract.py",
    "subjectdb/disclosure.py",
    "subjectdb/reference.py",
    "subjectdb/seeds.py",
    "subjectdb/standards.py",
)
"""The code a build runs besides dbt: the raw suites and gates, and the build itself."""
KEY_FILE = "hmac.key"
NEW_KEY_FILE = "hmac.key.new"
"""The local key (``data/secrets/``) and a rotation's new key until its warehouse is served."""
FINGERPRINTS = ("key_fingerprint", "seeds_fingerprint", "project_fingerprint")
INPUTS_FINGERPRINT = "inputs_fingerprint"
ENGINE = "engine"
"""build_info's column naming the engine that built the file (NULL: before engines)."""

KEY_CHECK_MESSAGE = b"subjectdb warehouse key check"
"""HMAC'd with the build's key and kept in ``main.build_info.key_fingerprint``: a build over a
warehouse made with another key (or an unknown one) restages everything (full refresh), as
incremental staging would otherwise mix hashes of two keys."""

OTHER_KEY_MESSAGE = (
    "the served warehouse was built with another HMAC key: its snapshot history would mix "
    "pseudonyms of two keys. To change the key run `subjectdb rotate-key` (see its help); "
    f"otherwise set ${HMAC_ENV} back to the key it was built with."
)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
ENGINES = ("duckdb", "spark")
"""Where dbt builds: the embedded DuckDB file (default) or Apache Spark (docs/spark.md)."""


class BuildInterrupted(BaseException):
    """SIGTERM reached a build (a BaseException, like KeyboardInterrupt: no step swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


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
    up_to_date: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if self.up_to_date:
            return True
        return self.swapped and all(s.status == PASSED for s in self.steps)

    @property
    def failed_steps(self) -> list[Step]:
        return [s for s in self.steps if s.status == FAILED]

    def summary(self) -> Summary:
        if self.up_to_date:
            lines = [f"build {self.build_id} up to date: nothing new, nothing run"]
            lines.extend("  " + n for n in self.notes)
            lines.append(f"  served warehouse unchanged: {self.served}")
            return Summary("\n".join(lines))
        head = "build {} {}".format(self.build_id, "OK" if self.ok else "FAILED")
        lines = [head + (" (full refresh)" if self.full_refresh else "")]
        lines.extend("  " + n for n in self.notes)
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
def interruptible() -> Iterator[None]:
    """Turn SIGTERM into :class:`BuildInterrupted` (main thread only) so that every
    ``finally`` of a build runs: dbt is ended, its folder scrubbed, the scratch file removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise BuildInterrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _render(report: Any, limit: int = 30) -> str:
    """The failed checks of a validation report as plain text (one line each)."""
    lines = [f"error: {e}" for e in (getattr(report, "errors", None) or [])]
    failures = report.failures() if hasattr(report, "failures") else []
    for o in failures[:limit]:
        examples = ", ".join(map(str, getattr(o, "examples", [])[:3]))
        lines.append(
            f"{o.suite} batch {o.batch}: {o.expectation}({o.column}) "
            f"{o.unexpected_count} unexpected"
            + (f", e.g. {examples}" if examples else "")
            + (f"\n  {o.note}" if getattr(o, "note", "") else "")
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


def key_fingerprint(paths: Paths, key: str | None = None) -> str:
    """A public check value of the HMAC key (HMAC of a fixed message; reveals nothing);
    ``key`` defaults to the data folder's key (:func:`subjectdb.config.hmac_key`)."""
    secret = key if key is not None else hmac_key(paths)
    return hmac.new(secret.encode(), KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()


def served_with(paths: Paths, key: str) -> bool:
    """Whether the served warehouse was built with ``key``."""
    return stored_key_fingerprint(paths.warehouse) == key_fingerprint(paths, key)


def settle_key_file(paths: Paths) -> Path | None:
    """Finish or undo an interrupted local-key rotation (``subjectdb rotate-key``):
    ``secrets/hmac.key.new`` replaces ``hmac.key`` when the served warehouse was built with
    it, else it is removed. Nothing to do when the key comes from ``$SUBJECTDB_HMAC_KEY``."""
    pending = paths.secrets / NEW_KEY_FILE
    if not pending.is_file() or os.environ.get(HMAC_ENV):
        return None
    key = pending.read_text().strip()
    if paths.warehouse.is_file() and key and served_with(paths, key):
        target = paths.secrets / KEY_FILE
        os.chmod(pending, 0o600)
        replace_atomic(pending, target)
        return target
    pending.unlink(missing_ok=True)
    return None


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
    """SHA-256 over the names and contents of the files under ``inputs`` (sorted; Python's
    byte-code caches left out: they appear when a module is first imported)."""
    digest = hashlib.sha256()
    for name in inputs:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def inputs_fingerprint(paths: Paths, root: Path = PROJECT_DIR) -> str:
    """SHA-256 over what a build reads besides the dbt project: the landed batch files (name,
    size, modification time: landed partitions are written once, atomically, and never
    rewritten) and the rule code of :data:`RULE_INPUTS` (raw suites, gates, the build)."""
    digest = hashlib.sha256(files_fingerprint(RULE_INPUTS, root).encode())
    for path in sorted(paths.landing.rglob("*.parquet")):
        stat = path.stat()
        name = path.relative_to(paths.landing).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stored_build_info(warehouse: Path) -> dict[str, str | None]:
    """The fingerprints of a warehouse's latest build (``None`` for unknown ones)."""
    import duckdb

    names = (*FINGERPRINTS, INPUTS_FINGERPRINT, ENGINE, "build_id")
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
    elif stored[ENGINE] not in (None, "duckdb"):
        why = f"built on {stored[ENGINE]}"
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
    start_note: str = ""
    """How the starting copy was made: the standby renamed, or copied and why."""


def dbt_step(
    paths: Paths,
    new_file: Path,
    work_dir: Path,
    full_refresh: bool = False,
    extra_args: Sequence[str] = (),
    show_progress: bool = False,
    *,
    key: str | None = None,
    lock: BuildLock | None = None,
    copy_served: bool = True,
    fingerprints: dict[str, str] | None = None,
) -> DbtStep:
    """A build's dbt step: copy the served warehouse (if any, unless ``copy_served`` is off:
    ``new_file`` is then prepared already) to ``new_file``, plan the run
    (:func:`plan_dbt_build`), run dbt into ``new_file`` and scrub its target folder, also when
    the run is interrupted. ``key`` is the HMAC key to hash with (default: the data folder's);
    dbt holds ``lock`` with the build. ``subjectdb build``, ``rotate-key`` and the benchmark
    all build through here."""
    ensure_quarantine_placeholder(paths)
    ensure_limits(paths)
    started = time.monotonic()
    if fingerprints is None:
        fingerprints = current_fingerprints(paths, key)
    start_note = ""
    if copy_served and paths.warehouse.exists():
        taken = take_standby(paths, new_file)
        if not taken.taken:
            shutil.copyfile(paths.warehouse, new_file)
        start_note = taken.reason if taken.taken else f"copied ({taken.reason})"
    copy_seconds = time.monotonic() - started
    plan = plan_dbt_build(
        new_file if new_file.exists() else None, full_refresh, fingerprints, paths.warehouse
    )
    try:
        run = run_dbt(
            plan.args + list(extra_args),
            paths,
            new_file,
            work_dir,
            show_progress=show_progress,
            key=key,
            inherit_fds=(lock.fd,) if lock else (),
            on_start=(lambda pid: lock.record(dbt_pid=pid)) if lock else None,
        )
    finally:
        scrub_key_material(work_dir / "target")
    return DbtStep(plan, run, fingerprints, copy_seconds, start_note)


def current_fingerprints(paths: Paths, key: str | None = None) -> dict[str, str]:
    """The key, seed, project and inputs fingerprints a build records (see
    :func:`plan_dbt_build`, :func:`up_to_date`)."""
    return {
        "key_fingerprint": key_fingerprint(paths, key),
        "seeds_fingerprint": files_fingerprint(SEED_INPUTS),
        "project_fingerprint": files_fingerprint(PROJECT_INPUTS),
        INPUTS_FINGERPRINT: inputs_fingerprint(paths),
    }


def up_to_date(paths: Paths, fingerprints: dict[str, str]) -> str | None:
    """The served build's id when it was built from exactly these inputs (landing batches,
    rule code, model code, seeds, key): a new build would make the same warehouse."""
    if not paths.warehouse.is_file():
        return None
    stored = stored_build_info(paths.warehouse)
    names = (*FINGERPRINTS, INPUTS_FINGERPRINT)
    if (stored[ENGINE] or "duckdb") != fingerprints.get(ENGINE, "duckdb"):
        return None
    if all(stored[n] is not None and stored[n] == fingerprints.get(n) for n in names):
        return stored["build_id"] or "unknown"
    return None


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
        columns = (*FINGERPRINTS, INPUTS_FINGERPRINT, ENGINE)
        for column in columns:
            con.execute(f"alter table main.build_info add column if not exists {column} varchar")
        con.execute(
            "insert into main.build_info (build_id, built_at, full_refresh, dbt_seconds, "
            f"dbt_nodes, {', '.join(columns)}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                build_id,
                dt.datetime.now(dt.UTC),
                full_refresh,
                round(dbt.seconds, 3),
                json.dumps(dbt.node_counts, sort_keys=True),
                *(fingerprints.get(c, "duckdb" if c == ENGINE else None) for c in columns),
            ],
        )
        con.execute("checkpoint")


def _keep_failed(result: BuildResult, paths: Paths, keep: int) -> None:
    """Keep a failed build's file as warehouse.<build-id>.duckdb for inspection (when the
    policy keeps any), then prune older failed copies to the policy."""
    wal = Path(f"{result.new_file}.wal")
    if result.new_file.exists() and keep > 0:
        kept = paths.build_dir / f"warehouse.{result.build_id}.duckdb"
        replace_atomic(result.new_file, kept)
        wal.unlink(missing_ok=True)
        result.new_file = kept
    else:
        result.new_file.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
    prune(paths, keep, result.build_id)


def build(
    paths: Paths,
    full_refresh: bool = False,
    show_progress: bool = False,
    fail_fast: bool = False,
    extra_gates: Sequence[quality.GateStep] = (),
    *,
    keep: int | None = None,
    key: str | None = None,
    prepare: Callable[[Path], None] | None = None,
    purpose: str = "build",
    engine: str = "duckdb",
    dbt_args: Sequence[str] = (),
) -> BuildResult:
    """Build a new warehouse and swap it in only if everything passed (see module docs).

    ``fail_fast`` stops dbt at the first failing node (``dbt build --fail-fast``): a failed
    build ends sooner but reports only the first failures. ``extra_gates`` run after the
    warehouse gates (a later stage's, e.g. ``subjectdb.release.checks.RELEASE_GATES``).
    ``keep``: failed copies to keep (default :func:`.scratch.keep_failed`). ``key``: the HMAC
    key (default: the data folder's). ``prepare(new_file)`` writes the starting file instead of
    a copy of the served warehouse (``rotate-key``); such a build always runs. ``engine``:
    ``duckdb`` (dbt into the new file) or ``spark`` (dbt on Spark, its tables exported as
    Parquet into the new file: :mod:`.spark_build`); ``dbt_args`` are added to dbt's. Raises
    :class:`BuildError` when the data folder does not exist, :class:`BuildLocked` when another
    build holds it, and :class:`BuildInterrupted` on SIGTERM (after cleaning up).
    """
    require_data_folder(paths)
    keep = keep_failed(keep)
    paths.ensure()
    with build_lock(paths, purpose) as lock, interruptible():
        notes = sweep(paths, keep)
        if prepare is None and settle_key_file(paths) is not None:
            notes.append("finished an interrupted key rotation: secrets/hmac.key replaced")
        if engine not in ENGINES:
            raise BuildError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
        if engine != "duckdb" and prepare is not None:
            raise BuildError("a prepared starting file (rotate-key) needs the duckdb engine")
        result = _build(
            paths,
            lock,
            full_refresh,
            show_progress,
            fail_fast,
            keep,
            key,
            prepare,
            extra_gates,
            engine=engine,
            dbt_args=dbt_args,
        )
        result.notes[:0] = notes
        return result


def _build(
    paths: Paths,
    lock: BuildLock,
    full_refresh: bool,
    show_progress: bool,
    fail_fast: bool,
    keep: int,
    key: str | None,
    prepare: Callable[[Path], None] | None,
    extra_gates: Sequence[quality.GateStep] = (),
    *,
    engine: str = "duckdb",
    dbt_args: Sequence[str] = (),
) -> BuildResult:
    build_id = new_build_id()
    lock.record(build_id=build_id)
    new_file = paths.build_dir / BUILDING
    result = BuildResult(build_id, paths.warehouse, new_file, full_refresh)

    problems = _check_landing(paths)
    if problems:
        result.steps.append(Step("landing", FAILED, 0.0, "\n".join(problems)))
        return result

    fingerprints = {**current_fingerprints(paths, key), ENGINE: engine}
    served_key = stored_key_fingerprint(paths.warehouse) if paths.warehouse.is_file() else None
    if prepare is None and served_key not in (None, fingerprints["key_fingerprint"]):
        result.steps.append(Step("key", FAILED, 0.0, OTHER_KEY_MESSAGE))
        return result
    served_id = None if (full_refresh or prepare) else up_to_date(paths, fingerprints)
    if served_id is not None:
        result.up_to_date = True
        result.notes.append(
            f"the served build {served_id} was made from these landing batches, rule and "
            "model code, seeds and key (use --full-refresh to rebuild anyway)"
        )
        return result
    try:
        _run_steps(
            result,
            paths,
            lock,
            show_progress,
            fail_fast,
            keep,
            key,
            prepare,
            fingerprints,
            extra_gates,
            engine=engine,
            dbt_args=dbt_args,
        )
        # a failed build consumed the standby: leave a new one of the file still served
        consumed = result.dbt is not None and not standby_path(paths).exists()
        if consumed and not result.swapped and prepare is None and make_standby(paths):
            result.notes.append("made a new standby copy of the served warehouse")
    except BaseException as exc:  # interrupted (SIGTERM, Ctrl-C) or crashed: leave no scratch
        for stale in (new_file, Path(f"{new_file}.wal")):
            stale.unlink(missing_ok=True)
        result.steps.append(Step("stopped", FAILED, 0.0, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        dbt_output = result.dbt.output if result.dbt else ""
        log = str(result.summary()) + ("\n\n-- dbt output --\n" + dbt_output if dbt_output else "")
        write_build_log(paths, build_id, log + "\n")
    return result


def _run_steps(
    result: BuildResult,
    paths: Paths,
    lock: BuildLock,
    show_progress: bool,
    fail_fast: bool,
    keep: int,
    key: str | None,
    prepare: Callable[[Path], None] | None,
    fingerprints: dict[str, str],
    extra_gates: Sequence[quality.GateStep] = (),
    *,
    engine: str = "duckdb",
    dbt_args: Sequence[str] = (),
) -> None:
    new_file, build_id = result.new_file, result.build_id
    # (1) raw suites: quarantine rows failing a data standard
    result.steps.append(
        _validation_step("raw suites", lambda: quality.run_raw_suites(paths, show_progress))
    )
    if result.steps[-1].status == FAILED:
        result.steps.append(Step("dbt build", SKIPPED))
        return

    # (2) dbt build into a copy of the served warehouse (or an empty, or a prepared file)
    started = time.monotonic()
    if prepare is not None:
        prepare(new_file)
    work_dir = paths.build_dir / f"dbt-{build_id}"
    extra = (["--fail-fast"] if fail_fast else []) + list(dbt_args)
    if engine == "spark":
        from subjectdb.warehouse.spark_build import spark_dbt_step

        _, full_refresh, reason, dbt, copy_seconds = spark_dbt_step(
            paths,
            new_file,
            work_dir,
            result.full_refresh,
            fingerprints,
            extra_args=extra,
            show_progress=show_progress,
            key=key,
            lock=lock,
        )
        origin = f"Spark ({reason}; export copied into DuckDB in {copy_seconds:.1f}s)"
    else:
        step = dbt_step(
            paths,
            new_file,
            work_dir,
            result.full_refresh,
            extra_args=extra,
            show_progress=show_progress,
            key=key,
            lock=lock,
            copy_served=prepare is None,
            fingerprints=fingerprints,
        )
        dbt, full_refresh = step.run, step.plan.full_refresh
        how = f"{step.start_note}, " if step.start_note else ""
        origin = step.plan.reason + f" ({how}{step.copy_seconds:.1f}s)"
    result.full_refresh = full_refresh
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
        _keep_failed(result, paths, keep)
        return

    # (3) publication gates on the new file
    result.steps.append(
        _validation_step(
            "gates",
            lambda: quality.run_gates(paths, new_file, show_progress, extra_gates=extra_gates),
        )
    )
    if result.steps[-1].status == FAILED:
        _keep_failed(result, paths, keep)
        return

    # (4) record the build, flush it to disk and swap it in atomically
    started = time.monotonic()
    write_build_info(new_file, build_id, full_refresh, dbt, fingerprints)
    Path(str(new_file) + ".wal").unlink(missing_ok=True)
    replace_atomic(new_file, paths.warehouse)
    info = {
        "build_id": build_id,
        "built_at": dt.datetime.now(dt.UTC).isoformat(),
        "full_refresh": full_refresh,
        "warehouse": paths.warehouse.name,
    }
    write_text_atomic(paths.root / BUILD_INFO_JSON, json.dumps(info, indent=2) + "\n")
    if engine == "spark":
        from subjectdb.warehouse.spark_build import write_state

        write_state(paths, fingerprints, build_id)
    result.swapped = True
    result.steps.append(Step("swap", PASSED, time.monotonic() - started))
    prune(paths, keep, build_id)

    # (5) served: leave a standby copy for the next build to start from (not an error if not)
    started = time.monotonic()
    standby = make_standby(paths)
    detail = "" if standby else "no standby copy (the next build copies the served file)"
    result.steps.append(Step("standby", PASSED, time.monotonic() - started, detail))
