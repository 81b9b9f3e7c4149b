"""What builds leave under ``data/build/``: the lock, the scratch file, dbt folders, spill files,
failed copies and logs — how a build starts clean over them and how ``subjectdb clean`` goes.

* **The lock** (``build/.lock``, :func:`build_lock`): one build (or re-key, or clean) per data
  folder. A second one is refused at once with who holds it. dbt inherits the lock's file
  descriptor, so the lock is held for as long as a build's dbt is alive, even if the build
  itself was killed (its dbt ends with it: see :mod:`subjectdb.warehouse.dbt_runner`).
* **The sweep** (:func:`sweep`), at the start of every build, under the lock: a scratch file
  (``warehouse.building.duckdb`` and its WAL) can only be left by a build that was killed, so
  it is deleted, never opened (its WAL is not replayed); dbt's spill folder is emptied; every
  dbt folder is made private (0700) and scrubbed (:func:`scrub_key_material`) in case a killed
  build left it unscrubbed; old failed copies, dbt folders and logs are pruned to the policy.
* **The policy**: a failed build keeps its warehouse file for inspection, at most
  :func:`keep_failed` of them (1 unless ``$SUBJECTDB_KEEP_FAILED_BUILDS`` says otherwise; 0
  keeps none), its dbt folder (the last :data:`KEEP_WORK_DIRS`) and its log under
  ``build/logs/`` (the last :data:`KEEP_LOGS`).
* **Clean** (:func:`clean`): removes the scratch a steward no longer needs — failed copies,
  dbt folders, spill files no process has open, stale scratch and temporary files — and never
  the served warehouse, the landing zone, quarantine, secrets, validation or releases.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb.config import Paths
from subjectdb.files import write_text_atomic

BUILDING = "warehouse.building.duckdb"
STANDBY = "standby.duckdb"
STANDBY_RECORD = "standby.json"
"""The standby copy of the served warehouse and its record (:mod:`.standby`)."""
LOCK_FILE = ".lock"
DBT_SPILL = "dbt_tmp"
"""dbt's DuckDB spill folder under ``build/`` (only builds use it, so a build may empty it)."""
SHARED_SPILL = "duckdb_tmp"
"""The spill folder of every other DuckDB connection (``config.duckdb_connect``)."""
LOGS = "logs"
SCRUBBED_MARK = ".scrubbed"
KEEP_FAILED_ENV = "SUBJECTDB_KEEP_FAILED_BUILDS"
DEFAULT_KEEP_FAILED = 1
ORPHAN_WAIT = 15.0
"""Seconds a new build waits for the dbt of a killed build to end (the kernel kills it)."""
KEEP_WORK_DIRS = 5
KEEP_LOGS = 20
BUILD_WORK_DIR = re.compile(r"^dbt-\d{8}T\d{6}Z-[0-9a-f]{6}$")
"""The dbt folder of a build (``dbt-<build-id>``); bench and manual runs have other names."""
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")
"""The temporary names of :func:`subjectdb.files.temp_beside` (left only by a crash)."""


class BuildError(RuntimeError):
    """A build could not start (e.g. no data folder, nothing landed yet)."""


class BuildLocked(BuildError):
    """Another build (or re-key, or clean) holds the data folder's lock."""


def keep_failed(value: int | None = None) -> int:
    """How many failed build copies to keep: ``value``, else the env var, else 1."""
    if value is None:
        raw = os.environ.get(KEEP_FAILED_ENV, "").strip()
        try:
            value = int(raw) if raw else DEFAULT_KEEP_FAILED
        except ValueError:
            raise BuildError(f"${KEEP_FAILED_ENV} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise BuildError(f"the number of failed builds to keep must be ≥ 0, got {value}")
    return value


def require_data_folder(paths: Paths, *, warehouse: bool = False) -> None:
    """Fail clearly (without creating anything) when the data folder, or its served
    warehouse when ``warehouse``, does not exist."""
    if not paths.root.is_dir():
        raise BuildError(
            f"no data folder at {paths.root}: check --data-dir / $SUBJECTDB_DATA, "
            "or run `subjectdb load` first"
        )
    if warehouse and not paths.warehouse.is_file():
        raise BuildError(f"no warehouse at {paths.warehouse}: run `subjectdb build` first")


# -- the lock --------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (ended, not yet reaped) is gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class BuildLock:
    """The held lock of a data folder; what it records says who holds it."""

    fd: int
    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    def record(self, **info: Any) -> None:
        """Write who holds the lock (pid, purpose, build id, dbt pid) into the lock file."""
        self.info.update(info)
        data = (json.dumps(self.info, sort_keys=True) + "\n").encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    pid, dbt_pid = info.get("pid"), info.get("dbt_pid")
    what = str(info.get("purpose") or "build")
    parts = [f"pid {pid}"] if pid else []
    if info.get("build_id"):
        parts.append(f"build {info['build_id']}")
    if info.get("started_at"):
        parts.append(f"since {info['started_at']}")
    text = f"another {what} is running in this data folder ({', '.join(parts) or 'unknown'})"
    if isinstance(pid, int) and not _alive(pid) and isinstance(dbt_pid, int) and _alive(dbt_pid):
        text += f"; it was stopped, and its dbt (pid {dbt_pid}) is ending"
    return text


def _holder_gone(path: Path) -> bool:
    """The lock's holder was killed (its dbt, which holds the lock too, is ending)."""
    try:
        pid = json.loads(path.read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return False
    return isinstance(pid, int) and not _alive(pid)


@contextmanager
def build_lock(paths: Paths, purpose: str = "build", wait: float = 0.0) -> Iterator[BuildLock]:
    """Hold the data folder's build lock; refuse (:class:`BuildLocked`) when another build
    holds it after ``wait`` seconds (up to :data:`ORPHAN_WAIT` when its holder was killed and
    only its ending dbt holds it). The lock ends with the last process holding its file
    descriptor: the build and the dbt it starts (which inherits it)."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    path = paths.build_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    started = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            waited = time.monotonic() - started
            if waited >= max(wait, ORPHAN_WAIT if _holder_gone(path) else 0.0):
                os.close(fd)
                raise BuildLocked(
                    f"{_holder(path)}: wait for it to end (a killed build's dbt ends within "
                    "seconds), then try again"
                ) from None
            time.sleep(0.2)
    lock = BuildLock(fd, path)
    lock.record(
        pid=os.getpid(),
        purpose=purpose,
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    try:
        yield lock
    finally:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock unless a child still holds the descriptor


# -- scrubbing and sweeping ------------------------------------------------------------------


def scrub_key_material(target_dir: Path) -> None:
    """Remove compiled SQL from a run's target folder (defence in depth: the keyed hash
    compiles to function calls, never key material, but a folder may be older than that).

    The compiled/ and run/ folders go; ``compiled_code`` is dropped from run_results.json and
    manifest.json (the raw Jinja SQL, lineage and docs stay usable). A marker records that the
    folder was scrubbed, so the sweep does not rewrite large manifests twice.
    """
    for sub in ("compiled", "run"):
        shutil.rmtree(target_dir / sub, ignore_errors=True)
    for name, sections in (("run_results.json", ("results",)), ("manifest.json", ("nodes",))):
        path = target_dir / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text())
        except ValueError:  # cut short by a killed run: it cannot be read, so it goes
            path.unlink(missing_ok=True)
            continue
        changed = False
        for section in sections:
            items = data.get(section) or []
            for item in items.values() if isinstance(items, dict) else items:
                if isinstance(item, dict):
                    changed |= item.pop("compiled_code", None) is not None
                    changed |= item.pop("compiled_sql", None) is not None
        if changed:
            write_text_atomic(path, json.dumps(data))
    if target_dir.is_dir():
        (target_dir / SCRUBBED_MARK).touch()


def make_private(folder: Path) -> Path:
    """Create ``folder`` (and parents) and make it readable by its owner only (0700)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def work_dirs(paths: Paths) -> list[Path]:
    """The dbt folders of builds (``dbt-<build-id>``, oldest first), bench and manual runs."""
    found = [p for p in paths.build_dir.glob("dbt-*") if p.is_dir()]
    manual = paths.build_dir / "manual"
    return sorted(found) + ([manual] if manual.is_dir() else [])


def failed_copies(paths: Paths) -> list[Path]:
    """Failed builds' warehouse files kept for inspection, oldest first."""
    return sorted(
        p for p in paths.build_dir.glob("warehouse.*.duckdb") if p.name != BUILDING and p.is_file()
    )


def _remove(path: Path) -> int:
    """Delete a file or folder; the bytes it held."""
    if not path.exists() and not path.is_symlink():
        return 0
    if path.is_dir() and not path.is_symlink():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        shutil.rmtree(path, ignore_errors=True)
        return size
    size = path.stat().st_size
    path.unlink(missing_ok=True)
    return size


def _remove_duckdb(path: Path) -> int:
    return _remove(path) + _remove(Path(f"{path}.wal"))


def prune(paths: Paths, keep_copies: int, current: str = "") -> None:
    """Keep the newest ``keep_copies`` failed copies, :data:`KEEP_WORK_DIRS` build dbt folders
    and :data:`KEEP_LOGS` logs (the ``current`` build's always)."""
    copies = failed_copies(paths)
    for old in copies[: max(len(copies) - keep_copies, 0)]:
        if not current or current not in old.name:
            _remove_duckdb(old)
    builds = [p for p in work_dirs(paths) if BUILD_WORK_DIR.match(p.name)]
    for old in builds[:-KEEP_WORK_DIRS]:
        if not current or current not in old.name:
            _remove(old)
    logs = sorted((paths.build_dir / LOGS).glob("*.log"))
    for old in logs[:-KEEP_LOGS]:
        _remove(old)


def sweep(paths: Paths, keep_copies: int) -> list[str]:
    """Start a build clean (under the lock): what was found and removed, as notes."""
    notes = []
    scratch = paths.build_dir / BUILDING
    if scratch.exists() or Path(f"{scratch}.wal").exists():
        _remove_duckdb(scratch)
        notes.append(f"removed {scratch.name} left by an interrupted build (not replayed)")
    spill = paths.build_dir / DBT_SPILL
    if spill.is_dir() and any(spill.iterdir()):
        shutil.rmtree(spill, ignore_errors=True)
        notes.append(f"emptied {DBT_SPILL}/ (dbt spill files of an interrupted build)")
    for folder in work_dirs(paths):
        os.chmod(folder, 0o700)
        target = folder / "target"
        if target.is_dir() and not (target / SCRUBBED_MARK).exists():
            scrub_key_material(target)
            notes.append(f"scrubbed {folder.name}/target (left by an interrupted run)")
    for tmp in paths.build_dir.glob(f".{STANDBY}.*.tmp"):  # a standby copy cut short
        _remove(tmp)
        notes.append(f"removed {tmp.name}: a standby copy an interrupted build left unfinished")
    prune(paths, keep_copies)
    return notes


def write_build_log(paths: Paths, build_id: str, text: str) -> Path:
    """Keep a build's summary and dbt output as ``build/logs/<build-id>.log``."""
    return write_text_atomic(paths.build_dir / LOGS / f"{build_id}.log", text)


# -- clean -----------------------------------------------------------------------------------


def _open_files() -> set[Path]:
    """Files some process of this user has open (Linux /proc; empty elsewhere)."""
    opened: set[Path] = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for link in fd_dir.iterdir():
                try:
                    opened.add(Path(os.readlink(link)))
                except OSError:
                    continue
        except OSError:
            continue
    return opened


@dataclass
class CleanReport:
    removed: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    freed_bytes: int = 0

    def summary(self) -> str:
        lines = [f"removed {len(self.removed)} item(s), freed {self.freed_bytes / 1e6:,.1f} MB"]
        lines += [f"  - {p}" for p in self.removed]
        lines += [f"  kept: {k}" for k in self.kept]
        return "\n".join(lines)


def clean(paths: Paths, keep_copies: int = 0, logs: bool = False) -> CleanReport:
    """Remove build scratch a steward no longer needs (see module docs), under the lock."""
    require_data_folder(paths)
    report = CleanReport()
    if not paths.build_dir.is_dir():
        return report

    def drop(path: Path, remover: Any = _remove) -> None:
        report.freed_bytes += remover(path)
        report.removed.append(path)

    with build_lock(paths, purpose="clean"):
        copies = failed_copies(paths)
        for old in copies[: max(len(copies) - keep_copies, 0)]:
            drop(old, _remove_duckdb)
        if copies and keep_copies:
            report.kept.append(f"the newest {min(keep_copies, len(copies))} failed build(s)")
        scratch = paths.build_dir / BUILDING
        if scratch.exists() or Path(f"{scratch}.wal").exists():
            drop(scratch, _remove_duckdb)
        for bench in paths.build_dir.glob("bench-*.duckdb"):
            drop(bench, _remove_duckdb)
        for standby in (STANDBY, STANDBY_RECORD):  # the next build copies, and leaves a new one
            if (paths.build_dir / standby).exists():
                drop(paths.build_dir / standby, _remove_duckdb)
        for folder in work_dirs(paths):
            drop(folder)
        spill = paths.build_dir / DBT_SPILL
        if spill.is_dir():
            drop(spill)
        shared = paths.build_dir / SHARED_SPILL
        if shared.is_dir():
            in_use = _open_files()
            busy = 0
            for f in shared.iterdir():
                if f.resolve() in in_use:
                    busy += 1
                else:
                    drop(f)
            if busy:
                report.kept.append(f"{busy} spill file(s) in {SHARED_SPILL}/ open by a process")
        for folder in (paths.root, paths.build_dir):
            for tmp in folder.iterdir():
                if TEMP_NAME.match(tmp.name) and tmp.is_file():
                    drop(tmp)
        if logs and (paths.build_dir / LOGS).is_dir():
            drop(paths.build_dir / LOGS)
    return report
