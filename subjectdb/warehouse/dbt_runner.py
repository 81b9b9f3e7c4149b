"""Run dbt on the subjectdb project with the environment the models need.

dbt runs in a subprocess (``python -m dbt.cli.main``): the DuckDB file it writes is closed
when the process ends, so the build can swap it in at once, and dbt's global state (adapter
caches, logging) never leaks into the caller. Every run gets its own target and log folder,
so builds over different data folders can run side by side.

The HMAC key never reaches dbt: only the two 64-byte padded keys of HMAC-SHA256 (hex) do,
through ``SUBJECTDB_HMAC_IPAD`` / ``SUBJECTDB_HMAC_OPAD``; the ``keyed_hash`` macro computes
``sha256(opad || sha256(ipad || m))`` inside the database.

``python -m subjectdb.warehouse.dbt_runner ARGS...`` runs any dbt command (for example
``docs generate``) against the served warehouse of ``$SUBJECTDB_DATA``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb.config import HMAC_ENV, PROJECT_DIR, Paths, get_paths, hmac_key

HMAC_BLOCK = 64  # SHA-256 block size in bytes
PARTIAL_PARSE = "partial_parse.msgpack"
SHARED_PARSE_CACHES = PROJECT_DIR / "target" / "parse-cache"
"""dbt's parse caches shared by runs over every data folder (under dbt's default target folder),
one per warehouse file name (the name is part of the profile, which keys dbt's cache)."""
QUARANTINE_PLACEHOLDER = ("_schema", "_empty", "part-0.parquet")
"""quarantine/raw_suites/_schema/_empty/part-0.parquet: an empty, typed file so that the dbt
source glob ``raw_suites/*/*/*.parquet`` matches before the raw suites ever reject a row."""


def hmac_pads(key: str | bytes) -> tuple[str, str]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104), as 128-char hex strings."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if not raw:
        raise ValueError("the HMAC key is empty")
    if len(raw) > HMAC_BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(HMAC_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in raw).hex()
    opad = bytes(b ^ 0x5C for b in raw).hex()
    return ipad, opad


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
    os.replace(tmp, target)
    return target


def dbt_env(paths: Paths, warehouse_file: Path) -> dict[str, str]:
    """The environment of a dbt run: data folder, target DuckDB file, HMAC pads, profiles."""
    ipad, opad = hmac_pads(hmac_key(paths))
    env = dict(os.environ)
    env.update(
        SUBJECTDB_DATA=str(paths.root),
        SUBJECTDB_DBT_PATH=str(warehouse_file),
        SUBJECTDB_HMAC_IPAD=ipad,
        SUBJECTDB_HMAC_OPAD=opad,
        DBT_PROFILES_DIR=str(PROJECT_DIR),
        DBT_PROJECT_DIR=str(PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
    )
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


def scrub_key_material(target_dir: Path) -> None:
    """Remove compiled SQL (it holds the HMAC pads) from a finished run's target folder.

    The compiled/ and run/ folders go; ``compiled_code`` is dropped from run_results.json and
    manifest.json (the raw Jinja SQL, lineage and docs stay usable).
    """
    for sub in ("compiled", "run"):
        shutil.rmtree(target_dir / sub, ignore_errors=True)
    for name, sections in (("run_results.json", ("results",)), ("manifest.json", ("nodes",))):
        path = target_dir / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        for section in sections:
            items = data.get(section) or []
            for item in items.values() if isinstance(items, dict) else items:
                if isinstance(item, dict):
                    item.pop("compiled_code", None)
                    item.pop("compiled_sql", None)
        path.write_text(json.dumps(data))


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
        os.replace(tmp, shared)
    except OSError:  # a read-only project folder: each data folder keeps its own cache
        pass


def dbt_invocation(
    args: list[str], paths: Paths, warehouse_file: Path, work_dir: Path
) -> tuple[list[str], dict[str, str], Path]:
    """The command, environment and working folder of one dbt run (see :func:`run_dbt`).

    dbt runs in the warehouse file's folder and is given the file's name and DuckDB's temp
    folder as paths relative to it: its parse cache is keyed on the profile (the path and the
    settings included), so relative paths let one cache serve builds of every data folder.
    The target folder starts from the newest parse cache (:func:`reuse_partial_parse`).
    """
    target_dir = work_dir / "target"
    reuse_partial_parse(target_dir, warehouse_file)
    cwd = warehouse_file.parent
    cwd.mkdir(parents=True, exist_ok=True)
    temp_dir = paths.build_dir / "duckdb_tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "dbt.cli.main",
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
    env = dbt_env(paths, warehouse_file)
    env["SUBJECTDB_DBT_PATH"] = warehouse_file.name
    env["SUBJECTDB_DUCKDB_TEMP"] = os.path.relpath(temp_dir, cwd)
    env["DBT_LOG_LEVEL_FILE"] = "info"  # debug file logs would record SQL with the pads
    return cmd, env, cwd


def run_dbt(
    args: list[str],
    paths: Paths,
    warehouse_file: Path,
    work_dir: Path,
    show_progress: bool = False,
) -> DbtRun:
    """Run one dbt command with its own target/log folders under ``work_dir``."""
    import time

    cmd, env, cwd = dbt_invocation(args, paths, warehouse_file, work_dir)
    target_dir = work_dir / "target"
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    captured: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        captured.append(line)
        if show_progress:
            sys.stderr.write(line)
    returncode = proc.wait()
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
    """``python -m subjectdb.warehouse.dbt_runner ARGS``: dbt against the served warehouse."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = get_paths().ensure()
    ensure_quarantine_placeholder(paths)
    work_dir = paths.build_dir / "manual"
    run = run_dbt(args, paths, paths.warehouse, work_dir, show_progress=True)
    scrub_key_material(work_dir / "target")
    print(f"dbt artifacts (compiled SQL removed): {work_dir / 'target'}", file=sys.stderr)
    return run.returncode


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
