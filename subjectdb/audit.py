"""Access audit logs (数据访问审计): append-only JSON Lines files, written and read in one way.

A shared leaf: the dashboard (``data/audit/access.jsonl``) and the sharing API write their
access records through :func:`append`, and ``subjectdb audit`` (or anyone) reads them back
with :func:`read_audit`, without importing Streamlit or FastAPI.

**Writing.** One record is one line of UTF-8 JSON. :func:`append` adds the time (UTC, ISO 8601
with milliseconds) when the record has none, opens the file ``O_APPEND`` (created ``0600`` in
a ``0700`` folder: the log names people), takes an exclusive ``flock`` on it — so writers in
other threads and processes never interleave — writes the whole line (after a line break when
a crash left the last line torn, so the torn line stays alone), ``fsync``s it and releases
the lock. Nothing ever rewrites, truncates or reorders the file.

**Group commit.** A busy writer (the sharing API: every request is audited before it is
answered) uses :class:`GroupCommit`: a request hands its record to the log's writer thread and
waits; the thread writes every record waiting at that moment with one ``write`` and one
``fsync`` under the same lock, then releases all their waiters. Each record is still on disk
before its request is answered, but concurrent requests share one ``fsync`` (a group) instead
of queueing for one each.

**Reading.** :func:`read_audit` reads one or more logs, skips lines that are not JSON objects
(a torn last line after a crash), filters by time (``since``/``until``, inclusive/exclusive,
any ISO 8601 time or a date), user, event and session, and returns the records oldest first
(several files merged by time, a file's own order kept for equal times).

The dashboard's record fields are documented in docs/dashboard.md ("Access audit log").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

try:  # POSIX: a lock that also holds between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

_LOCK = threading.Lock()  # writers in one process (flock covers other processes)

TIME = "time"
"""The one field every record has: when it happened (UTC)."""


def now() -> str:
    """The current time as the logs write it: UTC, ISO 8601, milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _entry(record: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    entry = {TIME: now(), **_jsonable(dict(record))}
    return entry, (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def append(path: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """Append ``record`` as one line to the log at ``path``; returns what was written.

    ``time`` is set to now unless the record has it; dates, tuples and paths become JSON.
    The line is written whole, under an exclusive lock, and flushed to disk before returning.
    """
    entry, line = _entry(record)
    _write_lines(path, line)
    return entry


def _write_lines(path: Path, line: bytes) -> None:
    """Write ``line`` (one or more whole lines) at the end of ``path``, locked, then fsync."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _LOCK:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line (a crash mid-write) stays alone
            view = memoryview(line)
            while view:  # os.write may write less than asked (signals, full disk)
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class GroupCommit:
    """A log's writer thread: records submitted while a group is being written wait for the
    next group, which is written with one ``write`` and one ``fsync`` (module docstring).

    :meth:`submit` returns a :class:`concurrent.futures.Future` done (with the written entry)
    once the record is on disk, or failed with the write's error; :meth:`write` waits for it.
    One instance per log file and process (:func:`group_commit`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[bytes, dict[str, Any], Future]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"audit {path.name}", daemon=True)
        self._thread.start()
        self.groups = 0  # groups written (one fsync each), for tests and benchmarks

    def submit(self, record: Mapping[str, Any]) -> Future:
        """Queue ``record``; the future's result is the entry written (with its ``time``)."""
        entry, line = _entry(record)
        done: Future = Future()
        self._queue.put((line, entry, done))
        return done

    def write(self, record: Mapping[str, Any], timeout: float | None = 60) -> dict[str, Any]:
        """Append ``record`` and return once it is on disk (as :func:`append`)."""
        return self.submit(record).result(timeout)

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while True:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                _write_lines(self.path, b"".join(line for line, _, _ in group))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                for _, _, done in group:
                    done.set_exception(exc)
                continue
            self.groups += 1
            for _, entry, done in group:
                done.set_result(entry)


_WRITERS: dict[tuple[int, Path], GroupCommit] = {}
_WRITERS_LOCK = threading.Lock()


def group_commit(path: Path) -> GroupCommit:
    """The process's group-commit writer of the log at ``path`` (created on first use)."""
    key = (os.getpid(), Path(path).absolute())
    with _WRITERS_LOCK:
        writer = _WRITERS.get(key)
        if writer is None:
            writer = _WRITERS[key] = GroupCommit(Path(path))
    return writer


def records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of one log in file order (lines that are not JSON objects are skipped)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def _instant(value: str | dt.datetime | dt.date) -> dt.datetime:
    """A comparable UTC time from an ISO 8601 string, a datetime or a date (naive = UTC)."""
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        value = (
            dt.datetime.fromisoformat(text)
            if "T" in text or " " in text
            else (dt.date.fromisoformat(text))
        )
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def read_audit(
    paths: Path | Iterable[Path],
    since: str | dt.datetime | dt.date | None = None,
    user: str | None = None,
    *,
    until: str | dt.datetime | dt.date | None = None,
    event: str | None = None,
    session: str | None = None,
) -> list[dict[str, Any]]:
    """The records of one or more logs matching every condition given, oldest first.

    ``since`` (inclusive) and ``until`` (exclusive) compare record times as instants, so
    ``"2026-11-22"`` means midnight UTC and any UTC offset is understood. A record without a
    readable time never matches a time condition.
    """
    files = [paths] if isinstance(paths, Path) else [Path(p) for p in paths]
    lo = _instant(since) if since is not None else None
    hi = _instant(until) if until is not None else None
    out: list[tuple[dt.datetime, int, dict[str, Any]]] = []
    n = 0
    for path in files:
        for record in records(path):
            if user is not None and record.get("user") != user:
                continue
            if event is not None and record.get("event") != event:
                continue
            if session is not None and record.get("session") != session:
                continue
            try:
                when = _instant(str(record[TIME]))
            except (KeyError, ValueError, TypeError):
                if lo is not None or hi is not None:
                    continue
                when = dt.datetime.min.replace(tzinfo=dt.UTC)
            if (lo is not None and when < lo) or (hi is not None and when >= hi):
                continue
            out.append((when, n, record))
            n += 1
    out.sort(key=lambda item: (item[0], item[1]))
    return [record for _when, _n, record in out]
