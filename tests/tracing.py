"""Recording what a piece of code reads from DuckDB: the warehouse relations of every
statement run through ``duckdb.connect`` connections while :func:`traced_reads` is open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pytest

from subjectdb.serving.connection import relations


class TracedConnection:
    """A DuckDB connection that records the warehouse relations of every statement it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seen: set[tuple[str, str]]) -> None:
        self._con, self._seen = con, seen

    def execute(self, query: str, *args: Any, **kwargs: Any) -> TracedConnection:
        self._seen.update(relations(str(query)))
        self._con.execute(query, *args, **kwargs)
        return self

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._seen.update(relations(str(query)))
        return self._con.sql(query, *args, **kwargs)

    query = sql

    def cursor(self) -> TracedConnection:
        return TracedConnection(self._con.cursor(), self._seen)

    def __enter__(self) -> TracedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@contextmanager
def traced_reads() -> Iterator[set[tuple[str, str]]]:
    """Yield the set that fills with (schema, relation) pairs read while the block runs."""
    seen: set[tuple[str, str]] = set()
    real = duckdb.connect

    def traced(*args: Any, **kwargs: Any) -> TracedConnection:
        return TracedConnection(real(*args, **kwargs), seen)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(duckdb, "connect", traced)
        yield seen
