"""The sharing API's access audit (数据访问审计): one JSON line per call, append-only.

Every request — answered, refused or failed — is written to ``data/sharing/audit.jsonl`` with
its client (department and key id, or none), client address, method and path, resource,
filters, rows returned, status code and duration. Identifiers submitted for verification are
never logged: only their count (and, for a single identifier, its keyed hash). Lines are
appended under a process lock with one ``write`` of a whole line, so concurrent requests never
interleave; the file is never rewritten. ``subjectdb audit`` reads it back (:func:`query_audit`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


@dataclass
class AuditLog:
    """Append-only JSON Lines log of API calls."""

    path: Path
    _lock: threading.Lock = field(default_factory=lambda: _LOCK, repr=False)

    def write(self, **record: Any) -> dict[str, Any]:
        """Append one record (``time`` added in UTC); returns what was written."""
        entry = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **record}
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return entry

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first (a torn last line, after a crash, is skipped)."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def query_audit(
    log: AuditLog,
    *,
    department: str | None = None,
    resource: str | None = None,
    status: int | None = None,
    since: str | None = None,
    errors_only: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Records matching every given condition, newest first (``since``: ISO time prefix)."""
    out = []
    for r in log.records():
        if department is not None and r.get("department") != department:
            continue
        if resource is not None and r.get("resource") != resource:
            continue
        if status is not None and r.get("status") != status:
            continue
        if errors_only and int(r.get("status") or 0) < 400:
            continue
        if since is not None and str(r.get("time", "")) < since:
            continue
        out.append(r)
    out.reverse()
    return out[:limit] if limit is not None else out
