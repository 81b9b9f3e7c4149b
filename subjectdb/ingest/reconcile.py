"""Reconciliation, the commit mark of a load: ``reconciliation.parquet`` (one row per extract
and batch: file, SHA-256, encoding, physical lines, rows read / landed / quarantined), and the
quarantine counts taken on the files as written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from subjectdb.config import Paths
from subjectdb.files import write_atomic

RECONCILIATION_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("extract", pa.string()),
        ("batch", pa.string()),
        ("sha256", pa.string()),
        ("encoding", pa.string()),
        ("rows_read", pa.int64()),
        ("rows_landed", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("loaded_at", pa.timestamp("us")),
        ("lines", pa.int64()),  # physical lines of a CSV file, header included (null: Parquet)
    ]
)


_ARROW_QUARANTINE_COUNT = 1_000_000


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_reconciliation(data: Paths) -> pa.Table:
    """``reconciliation.parquet`` (empty table when nothing was loaded yet)."""
    if not data.reconciliation.exists():
        return RECONCILIATION_SCHEMA.empty_table()
    # ParquetFile.read, not read_table: the latter imports pandas (most of a second).
    table = pq.ParquetFile(data.reconciliation).read()
    for name in RECONCILIATION_SCHEMA.names:  # a file written before a column was added
        if name not in table.schema.names:
            kind = RECONCILIATION_SCHEMA.field(name).type
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table.select(RECONCILIATION_SCHEMA.names).cast(RECONCILIATION_SCHEMA)


class Reconciliation:
    """``reconciliation.parquet`` held in memory during a load: read once, rewritten per commit.

    Rewriting the whole (small: one row per extract and batch) file on every commit keeps the
    temporary-file-and-rename commit mark per file, without re-reading it each time.
    """

    def __init__(self, data: Paths) -> None:
        self.data = data
        self.rows: dict[tuple[str, str], dict[str, Any]] = {
            (r["extract"], r["batch"]): r for r in read_reconciliation(data).to_pylist()
        }

    def get(self, extract: str, batch_id: str) -> dict[str, Any] | None:
        return self.rows.get((extract, batch_id))

    def upsert(self, new_rows: Sequence[dict[str, Any]]) -> None:
        rows = dict(self.rows)
        for row in new_rows:
            rows[(row["extract"], row["batch"])] = row
        new = pa.Table.from_pylist([rows[k] for k in sorted(rows)], schema=RECONCILIATION_SCHEMA)
        write_atomic(self.data.reconciliation, lambda tmp: pq.write_table(new, tmp))
        self.rows = rows


def quarantine_counts(
    path: Path, cursor: Callable[[], duckdb.DuckDBPyConnection]
) -> tuple[int, dict[str, int]]:
    """Distinct quarantined rows and problems per reason, counted in the file as written.

    A quarantine file is usually small (defects are rare) and is then counted with Arrow;
    a large one (a file full of bad rows) is counted by DuckDB in bounded memory.
    """
    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows <= _ARROW_QUARANTINE_COUNT:
        table = pf.read(columns=["_source_row", "reason"])
        rows = pc.count_distinct(table["_source_row"]).as_py() if table.num_rows else 0
        counts = pc.value_counts(table["reason"].combine_chunks()).to_pylist()
        return int(rows), {str(c["values"]): int(c["counts"]) for c in counts}
    src = f"read_parquet({_sql_str(str(path))})"
    with cursor() as con:
        row = con.execute(f"SELECT count(DISTINCT _source_row) FROM {src}").fetchone()
        by_reason = con.execute(f"SELECT reason, count(*) FROM {src} GROUP BY reason").fetchall()
    rows = int(row[0]) if row else 0
    return rows, {str(k): int(v) for k, v in by_reason}
