"""The standby copy: a build starts from a copy of the served warehouse without copying it.

A build never writes the served file (readers may hold it open; a failed build must leave it
serving), so it starts from a copy. Copying a warehouse of several GB is the largest fixed cost
of a daily build, and nothing about it needs to happen while the steward waits: right after a
build is served, :func:`make_standby` copies the served file to ``data/build/standby.duckdb``
(under a temporary name, flushed, then renamed) and records, in ``data/build/standby.json``,
the identity of the served file it copied (device, inode, size, modification time, build id)
and of the standby itself. The next build calls :func:`take_standby`, which renames the standby
into the build's scratch name — a rename, not a copy — when, and only when,

* the record is readable and names the file now served (same device, inode, size and mtime:
  the served file is only ever replaced by a rename, never written in place, so an unchanged
  identity means unchanged bytes), with the same build id in ``main.build_info``;
* the standby is the file the record describes (same inode, size and mtime: it was not touched).

Any doubt — no record, another served file (a build, a re-key or a restore since), a standby
touched, cut short or missing — and the standby is removed and the build copies the served file
as before. The record is removed before the rename, so a crash in between leaves no record
pointing at a file that is gone (the next build copies). The standby costs one more warehouse
of disk; ``subjectdb clean`` removes it (the next build copies, and leaves a new one).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subjectdb.config import Paths
from subjectdb.files import fsync_path, replace_atomic, temp_beside, write_text_atomic
from subjectdb.warehouse.scratch import STANDBY, STANDBY_RECORD

RECORD_VERSION = 1


def standby_path(paths: Paths) -> Path:
    return paths.build_dir / STANDBY


def record_path(paths: Paths) -> Path:
    return paths.build_dir / STANDBY_RECORD


def identity(path: Path) -> dict[str, int]:
    """What says a file is still the same file: device, inode, size, modification time."""
    st = path.stat()
    return {
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }


def served_build_id(warehouse: Path) -> str | None:
    """The build id of the latest build recorded in a warehouse (None when unknown)."""
    import duckdb

    try:
        with duckdb.connect() as con:
            con.execute(f"attach '{warehouse.as_posix()}' as wh (read_only)")
            row = con.execute(
                "select build_id from wh.main.build_info order by built_at desc limit 1"
            ).fetchone()
    except duckdb.Error:
        return None
    return str(row[0]) if row and row[0] else None


def discard(paths: Paths) -> None:
    """Remove the standby and its record (its WAL too, should one exist)."""
    record_path(paths).unlink(missing_ok=True)
    for f in (standby_path(paths), Path(f"{standby_path(paths)}.wal")):
        f.unlink(missing_ok=True)


def make_standby(paths: Paths) -> Path | None:
    """Copy the served warehouse to the standby and record both identities (after a swap).

    Returns the standby's path, or None when nothing is served. A failure to copy (a full
    disk) leaves no standby: the next build copies, so it is never an error of the build."""
    served = paths.warehouse
    discard(paths)
    if not served.is_file():
        return None
    before = identity(served)
    build_id = served_build_id(served)
    target = standby_path(paths)
    tmp = temp_beside(target)
    try:
        shutil.copyfile(served, tmp)
        replace_atomic(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        return None
    if identity(served) != before:  # replaced while being copied: the copy may mix two files
        discard(paths)
        return None
    record = {
        "version": RECORD_VERSION,
        "served": before,
        "build_id": build_id,
        "standby": identity(target),
    }
    write_text_atomic(record_path(paths), json.dumps(record, sort_keys=True) + "\n")
    return target


@dataclass
class Taken:
    """What :func:`take_standby` did: ``taken`` when the standby became the scratch file,
    otherwise ``reason`` says why not (the build then copies)."""

    taken: bool
    reason: str


def _read_record(paths: Paths) -> dict[str, Any] | None:
    try:
        record = json.loads(record_path(paths).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    return record


def take_standby(paths: Paths, target: Path) -> Taken:
    """Rename the standby to ``target`` when it is a copy of exactly the served file (see
    module docs); otherwise remove it and say why."""
    standby = standby_path(paths)
    if not standby.is_file():
        discard(paths)
        return Taken(False, "no standby copy")
    record = _read_record(paths)
    record_path(paths).unlink(missing_ok=True)  # before the rename: never a stale record
    why = ""
    if record is None:
        why = "standby copy without a readable record"
    elif not paths.warehouse.is_file() or record.get("served") != identity(paths.warehouse):
        why = "the served warehouse changed since the standby copy was made"
    elif record.get("standby") != identity(standby):
        why = "the standby copy was modified"
    elif Path(f"{standby}.wal").exists():
        why = "the standby copy has a write-ahead log"
    elif record.get("build_id") != served_build_id(paths.warehouse):
        why = "the standby copy records another build"
    if why:
        discard(paths)
        return Taken(False, why)
    for stale in (target, Path(f"{target}.wal")):
        stale.unlink(missing_ok=True)
    os.replace(standby, target)
    fsync_path(target.parent)
    return Taken(True, "renamed the standby copy")
