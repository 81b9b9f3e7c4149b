"""The read-only connection to the served warehouse that follows rebuilds.

The served warehouse file is replaced by an atomic rename while a build runs, and DuckDB caches
database instances by path within one process. :class:`Warehouse` therefore opens the file
through a fresh in-memory connection with ``ATTACH … (READ_ONLY)``, watches the file's identity
(inode, size, mtime) and re-attaches when a new build has been swapped in; queries are retried
while the file is being replaced. Once attached, the connection is locked down
(:func:`lock_down`): external access disabled and the configuration locked, so no statement can
read or write other files, attach another database or install an extension.

Every relation of the warehouse a statement names (``wh.<schema>.<table>``) is reported at
DEBUG level on the logger :data:`READS` (``subjectdb.serving.reads``), so a test can record what
each dashboard page reads and compare it to the page's dbt exposure.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from subjectdb.config import duckdb_memory_limit

DB = "wh"
"""Catalog alias of the attached warehouse."""

READS = logging.getLogger("subjectdb.serving.reads")
"""DEBUG record per relation a statement reads: message ``<schema>.<table>``, and the pair as
the record's ``relation`` attribute."""
_RELATION = re.compile(rf"\b{DB}\.(\w+)\.(\w+)\b")


class WarehouseUnavailable(RuntimeError):
    """The warehouse file is missing or could not be read after retries."""


def relations(sql: str) -> list[tuple[str, str]]:
    """The (schema, table) pairs of the warehouse that ``sql`` names, in order, once each."""
    return list(dict.fromkeys(_RELATION.findall(sql)))


LOCKDOWN = ("SET enable_external_access = false", "SET lock_configuration = true")
"""What a serving connection runs once the warehouse is attached: no file, network or
extension access from SQL any more (``read_csv``, ``COPY … TO``, ``ATTACH``, ``INSTALL`` and
``LOAD`` are refused), and no setting can be changed back."""


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Disable external access on ``con`` and lock its configuration (:data:`LOCKDOWN`)."""
    for statement in LOCKDOWN:
        con.execute(statement)


@dataclass
class Warehouse:
    """A read-only view of the served warehouse that follows rebuilds.

    ``build_id`` identifies the file currently attached; it changes when a build swaps in a new
    file, and callers key their caches on it.
    """

    path: Path
    retries: int = 40
    retry_wait: float = 0.25
    _con: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _build_id: str | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _memo_build: str | None = field(default=None, init=False, repr=False)

    def _file_id(self) -> str:
        st = self.path.stat()
        return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"

    def _attach(self) -> None:
        file_id = self._file_id()
        # bounded like every DuckDB process of subjectdb (subjectdb.config); the dashboard only
        # reads, so it needs no spill folder
        con = duckdb.connect(
            ":memory:", config={"threads": 2, "memory_limit": duckdb_memory_limit()}
        )
        try:
            # The path is configuration, not user input; quotes are escaped anyway.
            quoted = str(self.path).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS {DB} (READ_ONLY)")
            lock_down(con)
        except BaseException:
            con.close()
            raise
        # The file may have been swapped between stat() and ATTACH: then the next call
        # notices a changed id and re-attaches.
        old, self._con, self._build_id = self._con, con, file_id
        if old is not None:
            with contextlib.suppress(duckdb.Error):
                old.close()

    def _current(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None or self._file_id() != self._build_id:
                self._attach()
            assert self._con is not None
            return self._con

    @property
    def build_id(self) -> str:
        """Identity of the served file (re-attaches first if a new build is in place)."""
        self._call(lambda con: None)
        assert self._build_id is not None
        return self._build_id

    def _call(self, fn: Any) -> Any:
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                con = self._current()
                cur = con.cursor()
                try:
                    return fn(cur)
                finally:
                    cur.close()
            except (FileNotFoundError, duckdb.IOException, duckdb.ConnectionException) as exc:
                last = exc
            except duckdb.Error as exc:
                # A stale handle after a swap shows up as various errors: retry once re-attached.
                if (
                    self._build_id is not None
                    and self.path.exists()
                    and (self._file_id() == self._build_id)
                ):
                    raise
                last = exc
            with self._lock:
                self._build_id = None  # force a re-attach
            time.sleep(self.retry_wait * min(attempt + 1, 4))
        raise WarehouseUnavailable(f"cannot read the warehouse at {self.path}: {last}") from last

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run one parameterised statement and return its result as a DataFrame."""
        if READS.isEnabledFor(logging.DEBUG):
            for relation in relations(sql):
                READS.debug("%s.%s", *relation, extra={"relation": relation})
        return self._call(lambda cur: cur.execute(sql, list(params or [])).df())

    def memo(self, key: str, fn: Any) -> Any:
        """``fn(self)`` computed once per served build (metadata that only a build changes).

        The value is dropped when a new build is attached; callers must not mutate it.
        """
        build = self.build_id
        with self._lock:
            if self._memo_build != build:
                self._memo, self._memo_build = {}, build
            if key in self._memo:
                return self._memo[key]
        value = fn(self)
        with self._lock:
            if self._memo_build == build:
                self._memo[key] = value
        return value

    def has_table(self, schema: str, table: str) -> bool:
        rows = self._call(
            lambda cur: cur.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = ? UNION ALL SELECT 1 FROM duckdb_views() WHERE "
                "database_name = ? AND schema_name = ? AND view_name = ?",
                [DB, schema, table, DB, schema, table],
            ).fetchall()
        )
        return bool(rows)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._build_id = None, None
            self._memo, self._memo_build = {}, None
