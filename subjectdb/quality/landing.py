"""The landed batches the raw suites validate: where they are, how they are read, where their
quarantine goes.

A landed batch is one ``landing/<extract>/batch=<id>/`` folder of Parquet files. It is read with
DuckDB as pandas chunks split by a hash of the record key (every version of one record lands in
the same chunk); rows failing a standard go to ``quarantine/raw_suites/<extract>/batch=<id>/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from subjectdb.config import EXTRACTS, Paths
from subjectdb.quality.frames import CHUNK_ROWS

ROW_COUNT_FACTOR = 3.0
"""A batch is unusual when it has more than this factor more/fewer rows than previous ones."""


@dataclass(frozen=True)
class LandedBatch:
    """One landed batch of one extract: its files, in name order."""

    extract: str
    batch_id: str
    files: list[Path]

    @property
    def glob(self) -> str:
        return str(self.files[0].parent / "*.parquet")


def landed_batches(paths: Paths) -> list[LandedBatch]:
    """Every landed batch, per extract in cut-off order."""
    found: list[LandedBatch] = []
    for extract in EXTRACTS:
        root = paths.landing / extract
        if not root.is_dir():
            continue
        for part in sorted(root.glob("batch=*")):
            files = sorted(part.glob("*.parquet"))
            if files:
                found.append(LandedBatch(extract, part.name.split("=", 1)[1], files))
    return found


def row_count_range(
    counts: dict[str, int], batches: list[str], batch_id: str
) -> tuple[int, int | None, str]:
    """(min, max, note) of the usual row count for ``batch_id`` from its extract's earlier batches.

    The extract's first batch is the initial full load (persons and enterprises send the whole
    register first, changes afterwards), so it is compared with nothing and later batches are
    compared with the later batches before them only.
    """
    earlier = [b for b in batches if b < batch_id]
    history = [counts[b] for b in earlier[1:]]
    if not history:
        return 1, None, "no comparable earlier batch: only checked not empty"
    lo = max(1, math.floor(min(history) / ROW_COUNT_FACTOR))
    hi = math.ceil(max(history) * ROW_COUNT_FACTOR)
    return lo, hi, f"usual range from {len(history)} earlier batch(es): {lo:,}–{hi:,}"


def quarantine_path(paths: Paths, extract: str, batch_id: str) -> Path:
    """The raw-suite quarantine file of one landed batch (always written, even empty)."""
    return paths.suite_quarantine / extract / f"batch={batch_id}" / "part-0.parquet"


def chunks(
    con: duckdb.DuckDBPyConnection,
    batch: LandedBatch,
    columns: list[str],
    key: str,
    n: int,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The batch as pandas chunks of at most ~CHUNK_ROWS rows, split by a hash of ``key``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    source = f"read_parquet('{batch.glob}', union_by_name = true)"
    parts = max(1, math.ceil(n / (chunk_rows or CHUNK_ROWS)))
    for k in range(parts):
        where = f"WHERE hash(coalesce(\"{key}\", '')) % {parts} = {k}" if parts > 1 else ""
        table = con.execute(
            f"SELECT {cols} FROM {source} {where} ORDER BY _source_file, _source_row"
        ).to_arrow_table()
        yield frame(table)


def frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a pandas frame whose text columns are categorical.

    GX's pandas engine filters the whole frame once per metric (hundreds of times per chunk).
    Taking rows of a categorical moves integer codes; taking Arrow or object strings costs an
    order of magnitude more and dominated the run time.
    """
    arrays = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.dictionary_encode(col)
        arrays.append(col)
    df = pa.table(arrays, names=table.column_names).to_pandas()
    df.index = pd.RangeIndex(len(df))
    return df


def drop_stale_quarantine(paths: Paths, batches: list[LandedBatch]) -> None:
    """Remove raw-suite quarantine partitions whose landing batch no longer exists."""
    live = {(b.extract, b.batch_id) for b in batches}
    for extract in EXTRACTS:
        root = paths.suite_quarantine / extract
        if not root.is_dir():
            continue
        for part in root.glob("batch=*"):
            if (extract, part.name.split("=", 1)[1]) not in live:
                for f in part.glob("*"):
                    f.unlink()
                part.rmdir()
