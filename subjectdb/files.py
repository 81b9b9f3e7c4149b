"""Shared leaf: files written so that a reader never sees half of one, and their digests.

Every file subjectdb publishes to another process (landing partitions, quarantine, results,
build records, release files, the swapped warehouse) is written beside its target under a
temporary name, flushed to disk, and renamed over the target; the folder entry is flushed too,
so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def temp_beside(target: Path) -> Path:
    """A unique hidden temporary name in ``target``'s folder (same file system: atomic rename)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) content and metadata to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomic(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target`` after flushing it; flush the folder entry after."""
    fsync_path(source)
    os.replace(source, target)
    fsync_path(target.parent)


def write_atomic(target: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``target``, then rename it into place.

    The temporary file is removed if ``write`` fails; ``target`` is untouched then.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(target)
    try:
        write(tmp)
        replace_atomic(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    return write_atomic(target, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(target: Path, text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
