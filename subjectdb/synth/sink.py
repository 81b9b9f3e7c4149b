"""Writing the extracts: one extract's batch files (CSV, GBK CSV or Parquet) written chunk by
chunk, and the routing of a chunk's rows to their batches with defects injected on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from subjectdb.contract import COLUMNS
from subjectdb.synth.defects import Injector, Patch


class Sink:
    """One extract's batch files, written chunk by chunk."""

    def __init__(self, out: Path, extract: str, batch_ids: list[str], fmt: str) -> None:
        self.extract = extract
        self.columns = COLUMNS[extract]
        self.fmt = fmt
        folder = out / extract
        folder.mkdir(parents=True, exist_ok=True)
        ext = "parquet" if fmt == "parquet" else "csv"
        self.paths = [folder / f"{extract}_{b}.{ext}" for b in batch_ids]
        self.rows = [0] * len(batch_ids)
        self.schema = pa.schema([(c, pa.string()) for c in self.columns])
        self._pending: list[list[pa.Table]] = [[] for _ in batch_ids]
        self._pending_rows = [0] * len(batch_ids)
        self._handles: list[Any] = []
        encoding = "gbk" if fmt == "csv-gbk" else "utf-8"
        for path in self.paths:
            if fmt == "parquet":
                self._handles.append(pq.ParquetWriter(path, self.schema, compression="zstd"))
            else:
                fh = path.open("wb")
                fh.write((",".join(self.columns) + "\n").encode(encoding))
                self._handles.append(fh)

    def write(self, b: int, cols: dict[str, pa.Array], patches: dict[int, Patch]) -> None:
        table = pa.table([cols[c] for c in self.columns], schema=self.schema)
        self.rows[b] += table.num_rows
        if self.fmt == "parquet":
            self._pending[b].append(table)
            self._pending_rows[b] += table.num_rows
            if self._pending_rows[b] >= 128_000:
                self._flush(b)
            return
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        data = sink.getvalue().to_pybytes()
        if patches:
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            starts = np.r_[0, ends[:-1] + 1]
            pieces, at = [], 0
            for pos in sorted(patches):
                patch = patches[pos]
                lo, hi = int(starts[pos]), int(ends[pos])
                fields = data[lo:hi].split(b",")
                if patch.kind == "row_cut_short":
                    fields = fields[: patch.field]
                elif patch.kind == "stray_quote":  # a quote that opens the value, never closed
                    fields[patch.field] = b'"' + fields[patch.field]
                else:
                    text = fields[patch.field].decode("utf-8")
                    fields[patch.field] = (text[: patch.at] + "," + text[patch.at :]).encode()
                pieces += [data[at:lo], b",".join(fields)]
                at = hi
            pieces.append(data[at:])
            data = b"".join(pieces)
        if self.fmt == "csv-gbk":
            data = data.decode("utf-8").encode("gbk")
        self._handles[b].write(data)

    def _flush(self, b: int) -> None:
        if self._pending[b]:
            self._handles[b].write_table(pa.concat_tables(self._pending[b]))
            self._pending[b] = []
            self._pending_rows[b] = 0

    def close(self) -> None:
        for b, handle in enumerate(self._handles):
            if self.fmt == "parquet":
                self._flush(b)
            handle.close()


def route(
    sink: Sink,
    injector: Injector,
    cols: dict[str, pa.Array],
    updated: np.ndarray,
    cut_end: np.ndarray,
    np_rng: np.random.Generator,
) -> None:
    """Split one chunk's rows into batches (by updated_at), inject defects, write."""
    batch = np.searchsorted(cut_end, updated, side="left")
    order = np.lexsort((updated, batch))
    bounds = np.searchsorted(batch[order], np.arange(len(cut_end) + 1), side="left")
    sorted_cols = {c: cols[c].take(pa.array(order)) for c in sink.columns}
    pending: dict[int, list[dict[str, Any]]] = {}
    for b in range(len(cut_end)):
        lo, n_b = int(bounds[b]), int(bounds[b + 1] - bounds[b])
        table = {c: sorted_cols[c].slice(lo, n_b) for c in sink.columns}
        table, patches, found, dups = injector.apply(sink.extract, b, table, np_rng)
        base = sink.rows[b] + 2  # header = line 1, first data row = line 2
        name = sink.paths[b].name
        for pos, column, kind, detail in found:
            injector.entries.append((name, base + pos, column, kind, detail))
            injector.counts[kind] += 1
        extra = pending.pop(b, [])
        if extra:
            n0 = len(table[sink.columns[0]])
            for c in sink.columns:
                table[c] = pa.concat_arrays(
                    [table[c], pa.array([r[c] for r in extra], pa.string())]
                )
            for i, row in enumerate(extra):
                src = row.get("__source__", "")
                injector.entries.append(
                    (name, base + n0 + i, "", "duplicate_resent", f"same row as {src}")
                )
                injector.counts["duplicate_resent"] += 1
        for target, row, pos in dups:
            pending.setdefault(target, []).append({**row, "__source__": f"{name} row {base + pos}"})
        sink.write(b, table, patches)
