"""The sharing API's access audit (数据访问审计): one JSON line per call, append-only.

Every request — answered, refused or failed — is written to ``data/sharing/audit.jsonl`` with
its client (department and key id, or none), client address, method and path, resource,
filters, rows returned, status code, duration and the process id of the API worker that
answered it (``source: "api"``, ``pid``). Identifiers submitted for verification are never
logged: only their count and keyed hashes (or, for a large batch, one digest of them).

Written through the shared audit leaf (:mod:`subjectdb.audit`): whole lines under an
exclusive ``flock`` (the workers of ``subjectdb api --workers N`` are separate processes), each
on disk before its request is answered, with one ``fsync`` per group of concurrent requests
(:class:`subjectdb.audit.GroupCommit`). The file is never rewritten. ``subjectdb audit`` and
the dashboard read it back (:func:`query_audit`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subjectdb import audit as leaf

SOURCE = "api"


@dataclass
class AuditLog:
    """Append-only JSON Lines log of API calls."""

    path: Path

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"source": SOURCE, "pid": os.getpid(), **record}

    def submit(self, **record: Any) -> Future:
        """Queue one record for the next group commit; the future is done once it is on disk."""
        return leaf.group_commit(self.path).submit(self._record(record))

    def write(self, **record: Any) -> dict[str, Any]:
        """Append one record (``time`` added in UTC) and wait until it is on disk."""
        return leaf.group_commit(self.path).write(self._record(record))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first (a torn last line, after a crash, is skipped)."""
        return leaf.records(self.path)


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
