"""Run dbt on the subjectdb project with the environment the models need.

dbt runs in a subprocess (``python -m dbt.cli.main``): the DuckDB file it writes is closed
when the process ends, so the build can swap it in at once, and dbt's global state (adapter
caches, logging) never leaks into the caller. Every run gets its own target and log folder,
so builds over different data folders can run side by side.

The HMAC key never reaches dbt: only the two 64-byte padded keys of HMAC-SHA256 (hex) do, in
its process environment (``SUBJECTDB_HMAC_IPAD`` / ``SUBJECTDB_HMAC_OPAD``), read at run time by
functions registered on its connection (:mod:`subjectdb.warehouse.keyed_hash`): no compiled
SQL, manifest, run result or log holds key material. The run's folder is private (0700).

dbt is a child that cannot outlive its caller: it runs in its own process group (a Ctrl-C or
SIGTERM of the caller is handled by the caller, which then ends the whole group), it is
killed by the kernel when its caller dies (``PR_SET_PDEATHSIG`` on Linux, even after a
``kill -9`` of the build), and it inherits the build lock's descriptor, so no other build can
start while it is alive. dbt prints no colour codes unless the caller shows its progress on a
terminal; its log file never has them.

``python -m subjectdb.warehouse.dbt_runner ARGS...`` runs any dbt command (for example
``docs generate``) against the served warehouse of ``$SUBJECTDB_DATA``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb.config import HMAC_ENV, PROJECT_DIR, Paths, get_paths, hmac_key
from subjectdb.files import replace_atomic
from subjectdb.warehouse.keyed_hash import IPAD_ENV, OPAD_ENV, hmac_pads
from subjectdb.warehouse.scratch import (
    DBT_SPILL,
    BuildError,
    build_lock,
    make_private,
    require_data_folder,
    scrub_key_material,
)

PARTIAL_PARSE = "partial_parse.msgpack"
SHARED_PARSE_CACHES = PROJECT_DIR / "target" / "parse-cache"
"""dbt's parse caches shared by runs over every data folder (under dbt's default target folder),
one per warehouse file name (the name is part of the profile, which keys dbt's cache)."""
QUARANTINE_PLACEHOLDER = ("_schema", "_empty", "part-0.parquet")
"""quarantine/raw_suites/_schema/_empty/part-0.parquet: an empty, typed file so that the dbt
source glob ``raw_suites/*/*/*.parquet`` matches before the raw suites ever reject a row."""


def ensure_quarantine_placeholder(paths: Paths) -> Path:
    """Make sure the raw-suite quarantine glob matches at least one correctly typed file."""
    import duckdb

    target = paths.suite_quarantine.joinpath(*QUARANTINE_PLACEHOLDER)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                select
                    cast(null as varchar) as extract,
                    cast(null as varchar) as _batch_id,
                    cast(null as varchar) as _source_file,
                    cast(null as bigint) as _source_row,
                    cast(null as varchar) as "column",
                    cast(null as varchar) as reason,
                    cast(null as varchar) as original,
                    cast(null as varchar) as stage,
                    cast(null as timestamp) as _quarantined_at
                where false
            ) to '{tmp}' (format parquet)
            """
        )
    replace_atomic(tmp, target)
    return target


def dbt_env(paths: Paths, warehouse_file: Path, key: str | None = None) -> dict[str, str]:
    """The environment of a dbt run: data folder, target DuckDB file, HMAC pads, profiles.

    ``key``: the HMAC key to hash with (default :func:`subjectdb.config.hmac_key`)."""
    ipad, opad = hmac_pads(key if key is not None else hmac_key(paths))
    env = dict(os.environ)
    env.update(
        SUBJECTDB_DATA=str(paths.root),
        SUBJECTDB_DBT_PATH=str(warehouse_file),
        DBT_PROFILES_DIR=str(PROJECT_DIR),
        DBT_PROJECT_DIR=str(PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
    )
    env[IPAD_ENV], env[OPAD_ENV] = ipad, opad
    env.pop(HMAC_ENV, None)  # dbt gets the pads, never the key itself
    return env


@dataclass
class NodeResult:
    """One dbt node (model, test, seed, snapshot) that errored or failed."""

    unique_id: str
    status: str
    message: str
    failures: int | None = None


@dataclass
class DbtRun:
    """The outcome of one dbt invocation."""

    args: list[str]
    returncode: int
    seconds: float
    output: str
    node_counts: dict[str, int] = field(default_factory=dict)
    problems: list[NodeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.node_counts.items()))
        head = f"dbt {' '.join(self.args[:2])}: rc={self.returncode} in {self.seconds:.1f}s"
        lines = [f"{head} ({counts})"]
        for p in self.problems:
            extra = f" [{p.failures} failing rows]" if p.failures else ""
            lines.append(f"  {p.status.upper()} {p.unique_id}{extra}: {p.message}")
        if not self.ok and not self.problems:
            tail = [ln for ln in self.output.strip().splitlines() if ln.strip()][-15:]
            lines.extend("  " + ln for ln in tail)
        return "\n".join(lines)


def _read_results(target_dir: Path) -> tuple[dict[str, int], list[NodeResult]]:
    path = target_dir / "run_results.json"
    if not path.exists():
        return {}, []
    data: dict[str, Any] = json.loads(path.read_text())
    counts: dict[str, int] = {}
    problems: list[NodeResult] = []
    for r in data.get("results", []):
        status = str(r.get("status"))
        counts[status] = counts.get(status, 0) + 1
        if status in ("error", "fail", "runtime error"):
            problems.append(
                NodeResult(
                    unique_id=str(r.get("unique_id")),
                    status=status,
                    message=str(r.get("message") or "").strip(),
                    failures=r.get("failures"),
                )
            )
    return counts, problems


def shared_parse_cache(warehouse_file: Path) -> Path:
    """The shared parse cache of runs into files named like ``warehouse_file``."""
    return SHARED_PARSE_CACHES / f"{warehouse_file.name}.msgpack"


def reuse_partial_parse(target_dir: Path, warehouse_file: Path) -> None:
    """Start a run from the newest parse cache: a sibling run's or the shared one.

    dbt re-parses only what changed. The cache holds no key material (project env vars are
    hashed; the sources' data folder path is re-parsed when it differs), so one shared copy
    serves every data folder (see :data:`SHARED_PARSE_CACHES`).
    """
    target = target_dir / PARTIAL_PARSE
    if target.exists():
        return
    shared = shared_parse_cache(warehouse_file)
    if shared.is_file():  # refreshed by every successful run into a file of this name
        caches = [shared]
    else:  # e.g. a read-only project folder: the newest run over this data folder
        caches = list(target_dir.parent.parent.glob(f"*/target/{PARTIAL_PARSE}"))
    if not caches:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(max(caches, key=lambda p: p.stat().st_mtime), target)
    except OSError:  # a concurrent run replaced or removed a cache: parse in full instead
        target.unlink(missing_ok=True)


def share_partial_parse(target_dir: Path, warehouse_file: Path) -> None:
    """Offer a finished run's parse cache to later runs over any data folder (best effort)."""
    source = target_dir / PARTIAL_PARSE
    if not source.is_file():
        return
    shared = shared_parse_cache(warehouse_file)
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        tmp = shared.with_name(f".{shared.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        replace_atomic(tmp, shared)
    except OSError:  # a read-only project folder: each data folder keeps its own cache
        pass


def dbt_invocation(
    args: list[str],
    paths: Paths,
    warehouse_file: Path,
    work_dir: Path,
    key: str | None = None,
    colour: bool = False,
    module: str = "dbt.cli.main",
) -> tuple[list[str], dict[str, str], Path]:
    """The command, environment and working folder of one dbt run (see :func:`run_dbt`).

    dbt runs in the warehouse file's folder and is given the file's name and DuckDB's temp
    folder as paths relative to it: its parse cache is keyed on the profile (the path and the
    settings included), so relative paths let one cache serve builds of every data folder.
    The run's folder ``work_dir`` is private (0700); its target folder starts from the newest
    parse cache (:func:`reuse_partial_parse`). ``module`` is the Python module run
    (``subjectdb.warehouse.spark_session`` for a Spark build: dbt inside one SparkSession).
    """
    make_private(work_dir)
    target_dir = work_dir / "target"
    reuse_partial_parse(target_dir, warehouse_file)
    cwd = warehouse_file.parent
    cwd.mkdir(parents=True, exist_ok=True)
    temp_dir = paths.build_dir / DBT_SPILL
    temp_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        module,
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(work_dir / "logs"),
    ]
    env = dbt_env(paths, warehouse_file, key)
    env["SUBJECTDB_DBT_PATH"] = warehouse_file.name
    env["SUBJECTDB_DUCKDB_TEMP"] = os.path.relpath(temp_dir, cwd)
    env["DBT_LOG_LEVEL_FILE"] = "info"  # debug file logs record every statement
    env["DBT_USE_COLORS"] = "true" if colour else "false"
    env["DBT_USE_COLORS_FILE"] = "false"
    return cmd, env, cwd


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
"""Terminal control sequences (colours), removed from the output a run keeps."""
STOP_GRACE = 10.0
"""Seconds dbt gets to end after SIGTERM before its process group is killed."""
PR_SET_PDEATHSIG = 1


def _end_with_caller() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel kill the child when its caller dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork
    caller = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != caller:  # the caller died before prctl took effect
            os._exit(1)

    return preexec


def stop_process_group(proc: subprocess.Popen[Any], grace: float = STOP_GRACE) -> None:
    """End a child started with ``process_group=0`` and everything in its group."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_dbt(
    args: list[str],
    paths: Paths,
    warehouse_file: Path,
    work_dir: Path,
    show_progress: bool = False,
    key: str | None = None,
    inherit_fds: Sequence[int] = (),
    on_start: Callable[[int], None] | None = None,
    module: str = "dbt.cli.main",
) -> DbtRun:
    """Run one dbt command with its own target/log folders under ``work_dir``.

    dbt runs in its own process group and ends with the caller (module docs): if this call
    is interrupted (an exception, Ctrl-C, SIGTERM turned into an exception), dbt's group is
    ended before the exception goes on. ``inherit_fds`` (the build lock) stay open in dbt;
    ``on_start(pid)`` is told dbt's process id.
    """
    colour = show_progress and sys.stderr.isatty()
    cmd, env, cwd = dbt_invocation(args, paths, warehouse_file, work_dir, key, colour, module)
    target_dir = work_dir / "target"
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
        preexec_fn=_end_with_caller(),
        pass_fds=tuple(inherit_fds),
    )
    captured: list[str] = []
    try:
        if on_start is not None:
            on_start(proc.pid)
        assert proc.stdout is not None
        for line in proc.stdout:
            captured.append(ANSI_ESCAPE.sub("", line))
            if show_progress:
                sys.stderr.write(line)
        returncode = proc.wait()
    finally:
        if proc.poll() is None:
            stop_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    seconds = time.monotonic() - started
    if returncode == 0:  # a failed run may have parsed under unusual settings
        share_partial_parse(target_dir, warehouse_file)
    counts, problems = _read_results(target_dir)
    return DbtRun(
        args=args,
        returncode=returncode,
        seconds=seconds,
        output="".join(captured),
        node_counts=counts,
        problems=problems,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m subjectdb.warehouse.dbt_runner ARGS``: dbt against the served warehouse
    (under the build lock, so no build runs meanwhile)."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = get_paths()
    try:
        require_data_folder(paths, warehouse=True)
        with build_lock(paths, purpose="manual dbt run") as lock:
            work_dir = paths.build_dir / "manual"
            try:
                run = run_dbt(
                    args,
                    paths,
                    paths.warehouse,
                    work_dir,
                    show_progress=True,
                    inherit_fds=(lock.fd,),
                    on_start=lambda pid: lock.record(dbt_pid=pid),
                )
            finally:
                scrub_key_material(work_dir / "target")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"dbt artifacts (compiled SQL removed): {work_dir / 'target'}", file=sys.stderr)
    return run.returncode


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
