"""The data-quality page's files: quarantine counts, validation results and reconciliation,
read from the data folder (outside the warehouse), cached while the files are unchanged."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from subjectdb.config import duckdb_memory_limit


def _files(root: Path, pattern: str) -> list[str]:
    return sorted(str(p) for p in root.glob(pattern))


_FILE_CACHE: dict[tuple[str, tuple[tuple[str, int, int, int], ...]], pd.DataFrame] = {}
_FILE_CACHE_MAX = 16
_FILE_CACHE_LOCK = threading.Lock()


def _signature(files: Sequence[str]) -> tuple[tuple[str, int, int, int], ...]:
    """Identity of a set of files: path, inode, size and modification time of each."""
    out = []
    for name in files:
        st = Path(name).stat()
        out.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _read_files_cached(kind: str, files: Sequence[str], read: Any) -> pd.DataFrame:
    """``read(files)``, reused while none of the files changed (a load or a validation run
    rewrites them); a copy is returned."""
    try:
        key = (kind, _signature(files))
    except FileNotFoundError:  # replaced while listed: read afresh, do not cache
        return read(files)  # type: ignore[no-any-return]
    with _FILE_CACHE_LOCK:
        hit = _FILE_CACHE.get(key)
    if hit is None:
        hit = read(files)
        with _FILE_CACHE_LOCK:
            if len(_FILE_CACHE) >= _FILE_CACHE_MAX:
                _FILE_CACHE.pop(next(iter(_FILE_CACHE)))
            _FILE_CACHE[key] = hit
    return hit.copy()


def _read_quarantine_counts(files: Sequence[str]) -> pd.DataFrame:
    con = duckdb.connect(":memory:", config={"memory_limit": duckdb_memory_limit()})
    try:
        return con.execute(
            "SELECT stage, extract, _batch_id AS batch, reason, count(*) AS rows "
            "FROM read_parquet(?, union_by_name = true) GROUP BY ALL ORDER BY ALL",
            [list(files)],
        ).df()
    finally:
        con.close()


def quarantine_counts(data_root: Path) -> pd.DataFrame:
    """Quarantined rows by stage, extract, batch and reason (counts only; never the rows).

    Re-read only when a quarantine file was added, removed or rewritten.
    """
    files = _files(data_root / "quarantine", "*/*/batch=*/*.parquet")
    cols = ["stage", "extract", "batch", "reason", "rows"]
    if not files:
        return pd.DataFrame(columns=cols)
    return _read_files_cached("quarantine_counts", files, _read_quarantine_counts)


def _read_parquet(files: Sequence[str]) -> pd.DataFrame:
    con = duckdb.connect(":memory:", config={"memory_limit": duckdb_memory_limit()})
    try:
        return con.execute("SELECT * FROM read_parquet(?)", [files[0]]).df()
    finally:
        con.close()


def read_parquet_file(path: Path) -> pd.DataFrame:
    """A small parquet file (validation results, reconciliation) as a DataFrame (re-read only
    when the file changed)."""
    if not path.exists():
        return pd.DataFrame()
    return _read_files_cached("parquet", [str(path)], _read_parquet)


def quarantine_rows(data_root: Path, reason: str, limit: int = 20) -> pd.DataFrame:
    """Quarantined rows for one reason: file, row, column and the original text (steward CLI)."""
    files = _files(data_root / "quarantine", "*/*/batch=*/*.parquet")
    cols = ["stage", "extract", "_source_file", "_source_row", "column", "reason", "original"]
    select = ", ".join(f'"{c}"' for c in cols)
    if not files:
        return pd.DataFrame(columns=cols)
    con = duckdb.connect(":memory:")
    try:
        return con.execute(
            f"SELECT {select} FROM read_parquet(?, union_by_name = true) "
            "WHERE reason = ? ORDER BY _source_file, _source_row LIMIT ?",
            [files, reason, limit],
        ).df()
    finally:
        con.close()
