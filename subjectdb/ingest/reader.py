"""One file, one streaming pass in bounded memory: read (CSV in a producer thread, framed by
:mod:`~subjectdb.ingest.framing`, or Parquet row batches) → decode → screen → standardise →
type → write the landing partition; rows that cannot be read or typed go to the
load-quarantine sink with their line number, column and reason."""

from __future__ import annotations

import contextlib
import csv
import decimal
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from subjectdb.contract import IDENTIFIER_PATTERNS, MAX_FIELD_BYTES, QUARANTINE_SCHEMA, mask_text
from subjectdb.files import sha256_file
from subjectdb.ingest.encoding import InvalidRow, RowNumberer, SourceStream
from subjectdb.ingest.framing import Framer, preview
from subjectdb.ingest.report import FileRejected
from subjectdb.ingest.schema import (
    EXTRACT_COLUMNS,
    TYPE_REASON,
    ColumnKind,
    Source,
    dictionary_columns,
    landing_schema,
    match_columns,
)
from subjectdb.ingest.standardise import standardiser

_CSV_BLOCK = 8 << 20
_PARQUET_BATCH = 65_536
_QUARANTINE_FLUSH = 20_000


_HEADER_BYTES = 1 << 16


def _read_csv_header(path: Path, encoding: str) -> list[str]:
    """The header line's names. Its line ends at the first LF, CRLF or bare CR."""
    with path.open("rb") as f:
        head = f.read(_HEADER_BYTES)
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if not body.strip():
        raise FileRejected("the file is empty (no header line)")
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    if not ends and len(head) == _HEADER_BYTES:
        raise FileRejected("line 1 (header): no line break in the first 64 KB; not a CSV extract")
    first = head[: min(ends)] if ends else head
    if b"\x00" in first:
        raise FileRejected(
            "line 1 (header) holds NUL bytes: a binary file, or UTF-16 text without a "
            "byte-order mark (export the extract as UTF-8 or GBK)"
        )
    codec = "gb18030" if encoding in ("gbk", "gb18030") else "utf-8-sig"
    try:
        line = first.decode(codec)
    except UnicodeDecodeError:
        raise FileRejected(f"line 1 (header) is not valid {encoding} text") from None
    try:
        return next(csv.reader([line]))
    except csv.Error:
        raise FileRejected("line 1 (header) cannot be read as CSV") from None


class QuarantineSink:
    """Load-quarantine rows, written in chunks straight to the partition's temporary file."""

    def __init__(self, path: Path, source: Source, stamp: datetime) -> None:
        self.path = path
        self._source = source
        self._stamp = stamp
        self._rows: list[tuple[int, str | None, str, str]] = []
        self._writer = pq.ParquetWriter(path, QUARANTINE_SCHEMA, compression="zstd")

    def add(self, line: int, column: str | None, reason: str, original: str) -> None:
        self._rows.append((line, column, reason, original))
        if len(self._rows) >= _QUARANTINE_FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        n = len(self._rows)
        lines, columns, reasons, originals = zip(*self._rows, strict=True)
        src = self._source
        table = pa.Table.from_arrays(
            [
                pa.array([src.extract] * n, pa.string()),
                pa.array([src.batch_id] * n, pa.string()),
                pa.array([src.path.name] * n, pa.string()),
                pa.array(lines, pa.int64()),
                pa.array(columns, pa.string()),
                pa.array(reasons, pa.string()),
                pa.array(originals, pa.string()),
                pa.array(["load"] * n, pa.string()),
                pa.array([self._stamp] * n, pa.timestamp("us")),
            ],
            schema=QUARANTINE_SCHEMA,
        )
        self._writer.write_table(table)
        self._rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()


def _embedded_newlines(arrays: Sequence[pa.Array], n: int) -> np.ndarray:
    """Line breaks inside each row's values (quoted LF, CRLF or bare CR), counted only where a
    column holds any."""
    total = np.zeros(n, dtype=np.int64)
    for arr in arrays:
        data = arr.buffers()[2]
        if data is None or not data.size:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        has_lf, has_cr = bool((raw == 0x0A).any()), bool((raw == 0x0D).any())
        if has_lf:
            total += pc.count_substring(arr, "\n").to_numpy(zero_copy_only=False)
        if has_cr:
            total += pc.count_substring(arr, "\r").to_numpy(zero_copy_only=False)
            if has_lf:
                total -= pc.count_substring(arr, "\r\n").to_numpy(zero_copy_only=False)
    return total


def _decode_column(arr: pa.Array, column: str, bad_rows: dict[int, tuple[str, str]]) -> pa.Array:
    """A binary column as UTF-8 strings; invalid values are recorded in ``bad_rows``."""
    try:
        return arr.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    values = arr.to_pylist()
    out: list[str | None] = []
    for i, raw in enumerate(values):
        if raw is None:
            out.append(None)
            continue
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad_rows.setdefault(i, (column, raw.decode("utf-8", errors="backslashreplace")))
            out.append(None)
    return pa.array(out, pa.string())


@dataclass
class _Counts:
    rows_read: int = 0
    sha256: str = ""
    lines: int | None = None  # physical lines of a CSV file (header included)
    lines_accounted: int | None = None  # lines the header and the rows read account for


_TS_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_INT_RE = r"^[+-]?[0-9]{1,10}$"
_DEC_RE = r"^[+-]?[0-9]{1,16}(\.[0-9]{1,2}0*)?$"
_INT32 = (-(2**31), 2**31 - 1)


def _type_column(arr: pa.Array, kind: ColumnKind) -> tuple[pa.Array, pa.Array]:
    """(typed array, mask of values that are present but cannot be typed).

    Strict to the contract's formats: a timestamp is ``YYYY-MM-DD HH:MM:SS`` and a date
    ``YYYY-MM-DD``, both existing in the calendar (2024-02-30 is bad); an integer fits INTEGER;
    a decimal fits DECIMAL(18,2) without rounding. A vectorised cast types a clean batch in
    one go; only a batch holding a bad value takes the slower value-by-value screen.
    """
    if kind == "text":
        return arr, pa.array(np.zeros(len(arr), dtype=bool))
    present = pc.is_valid(arr)
    typed: pa.Array | None = None
    if kind in ("timestamp", "date"):
        width, target = (19, pa.timestamp("s")) if kind == "timestamp" else (10, pa.date32())
        lengths = pc.binary_length(arr)
        if pc.all(pc.fill_null(pc.equal(lengths, width), True)).as_py() and not (
            kind == "timestamp" and pc.any(pc.match_substring(arr, "T")).as_py()
        ):
            with contextlib.suppress(pa.ArrowInvalid):
                typed = arr.cast(target)
        if typed is None:
            typed = _slow_temporal(arr, kind)
        if kind == "timestamp":
            typed = typed.cast(pa.timestamp("us"))
    elif kind == "integer":
        with contextlib.suppress(pa.ArrowInvalid):
            typed = arr.cast(pa.int32())
        if typed is None:
            shaped = pc.fill_null(pc.match_substring_regex(arr, _INT_RE), False)
            wide = pc.if_else(shaped, arr, pa.scalar(None, pa.string())).cast(pa.int64())
            fits = pc.and_(pc.greater_equal(wide, _INT32[0]), pc.less_equal(wide, _INT32[1]))
            typed = pc.if_else(pc.fill_null(fits, False), wide, pa.scalar(None, pa.int64()))
            typed = typed.cast(pa.int32())
    else:
        shaped = pc.fill_null(pc.match_substring_regex(arr, _DEC_RE), False)
        candidate = pc.if_else(shaped, arr, pa.scalar(None, pa.string()))
        try:
            typed = candidate.cast(pa.decimal128(18, 2))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            cents = decimal.Decimal("0.01")
            typed = pa.array(
                [
                    None if v is None else decimal.Decimal(v).quantize(cents)
                    for v in candidate.to_pylist()
                ],
                pa.decimal128(18, 2),
            )
    bad = pc.and_(present, pc.is_null(typed))
    return typed, bad


def _slow_temporal(arr: pa.Array, kind: ColumnKind) -> pa.Array:
    """Timestamps or dates of a batch holding bad values: bad ones become null."""
    pattern, fmt = (_TS_RE, "%Y-%m-%d %H:%M:%S") if kind == "timestamp" else (_DATE_RE, "%Y-%m-%d")
    shaped = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    candidate = pc.if_else(shaped, arr, pa.scalar(None, pa.string()))
    parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over to 2024-03-01: the day it read must be the day it made.
    day_text = pc.if_else(pc.is_valid(parsed), candidate, pa.scalar(None, pa.string()))
    day = pc.utf8_slice_codeunits(day_text, 8, 10).cast(pa.int64())
    same_day = pc.fill_null(pc.equal(pc.day(parsed), day), False)
    parsed = pc.if_else(same_day, parsed, pa.scalar(None, parsed.type))
    return parsed if kind == "timestamp" else parsed.cast(pa.date32())


class FileLoader:
    """One file, one streaming pass: read → decode → standardise → type → write."""

    def __init__(self, source: Source, encoding: str, on_bytes: Callable[[int], None] | None):
        self.source = source
        self.encoding = encoding
        self.on_bytes = on_bytes
        self.columns = EXTRACT_COLUMNS[source.extract]
        self.std = standardiser()
        self.schema = landing_schema(source.extract)
        self.identifiers = IDENTIFIER_PATTERNS.get(source.extract, {})
        self.framer: Framer | None = None  # CSV only

    def run(self, landing_tmp: Path, quarantine: QuarantineSink, loaded_at: datetime) -> _Counts:
        counts = _Counts()
        lineage = {
            "_batch_id": pa.scalar(self.source.batch_id, pa.string()),
            "_source_file": pa.scalar(self.source.path.name, pa.string()),
            "_loaded_at": pa.scalar(loaded_at, pa.timestamp("us")),
        }
        # Parquet encoding runs in its own thread, overlapping the next batch's processing.
        pending: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        failure: list[BaseException] = []

        def write() -> None:
            try:
                with pq.ParquetWriter(
                    landing_tmp,
                    self.schema,
                    compression="zstd",
                    use_dictionary=dictionary_columns(self.source.extract),
                ) as writer:
                    while (table := pending.get()) is not None:
                        if not failure:
                            writer.write_table(table)
            except BaseException as exc:  # handed to the main thread
                failure.append(exc)
                while pending.get() is not None:
                    pass

        writer_thread = threading.Thread(target=write, name=f"write-{self.source.path.name}")
        writer_thread.start()
        try:
            batches = (
                self._csv_batches(quarantine, counts)
                if self.source.fmt == "csv"
                else self._parquet_batches(counts)
            )
            for names, arrays, lines in batches:
                if failure:
                    break
                table = self._process(names, arrays, lines, quarantine, lineage)
                if table.num_rows:
                    pending.put(table)
        finally:
            pending.put(None)
            writer_thread.join()
        if failure:
            raise failure[0]
        return counts

    def _csv_batches(
        self, quarantine: QuarantineSink, result: _Counts
    ) -> Iterator[tuple[list[str], list[pa.Array], np.ndarray]]:
        header = _read_csv_header(self.source.path, self.encoding)
        mapping = match_columns(self.source.extract, header)
        numberer = RowNumberer()
        stream = SourceStream(self.source.path, self.encoding, self.on_bytes, fields=len(header))
        assert stream.framer is not None
        framer = self.framer = stream.framer
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=",",
                    quote_char='"',
                    double_quote=True,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=numberer.handler,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.binary() for name in header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            stream.close()
            raise FileRejected(f"cannot be read as CSV: {mask_text(str(exc))}") from None
        names = [mapping[n] for n in reader.schema.names]

        def emit_invalid(numbered: list[tuple[int, InvalidRow]]) -> None:
            for line, inv in numbered:
                if line in framer.replaced:
                    reason, original = framer.replaced[line]
                    quarantine.add(line, None, reason, original)
                elif inv.actual < inv.expected:
                    column = names[inv.actual] if 0 < inv.actual < len(names) else None
                    quarantine.add(line, column, "too_few_fields", inv.text)
                else:
                    quarantine.add(line, None, "too_many_fields", inv.text)

        # pyarrow parses (and the row numbers are counted) in a producer thread while this
        # thread standardises the previous batch; the queue bounds the batches in flight.
        chunks: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item: tuple[Any, ...]) -> None:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                while not stop.is_set():
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                    arrays = list(batch.columns)
                    embedded = (
                        _embedded_newlines(arrays, batch.num_rows)
                        if framer.quotes  # without a quote no value holds a line break
                        else np.zeros(batch.num_rows, dtype=np.int64)
                    )
                    lines, numbered = numberer.number(embedded)
                    put(("batch", arrays, lines, numbered))
                numbered = numberer.finish()
                put(("end", numbered, numberer.resolved, numberer.lines))
            except BaseException as exc:  # handed to the consuming thread
                put(("error", exc))

        producer = threading.Thread(target=produce, name=f"read-{self.source.path.name}")
        producer.start()
        try:
            while True:
                item = chunks.get()
                if item[0] == "error":
                    exc = item[1]
                    if isinstance(exc, pa.ArrowInvalid):
                        detail = mask_text(str(exc))
                        raise FileRejected(f"cannot be read as CSV: {detail}") from None
                    raise exc
                if item[0] == "end":
                    emit_invalid(item[1])
                    result.rows_read += item[2]
                    result.lines_accounted = item[3]
                    result.lines = framer.lines
                    break
                _, arrays, lines, numbered = item
                emit_invalid(numbered)
                result.rows_read += len(lines)
                yield names, arrays, lines
        finally:
            stop.set()
            producer.join()
            stream.close()
            result.sha256 = stream.sha256.hexdigest()

    def _parquet_batches(
        self, result: _Counts
    ) -> Iterator[tuple[list[str], list[pa.Array], np.ndarray]]:
        result.sha256 = sha256_file(self.source.path)
        try:
            pf = pq.ParquetFile(self.source.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected(f"not a readable Parquet file: {mask_text(str(exc))}") from None
        header = pf.schema_arrow.names
        mapping = match_columns(self.source.extract, header)
        names = [mapping[n] for n in header]
        done = 0
        size = self.source.path.stat().st_size
        reported = 0
        try:
            for batch in pf.iter_batches(batch_size=_PARQUET_BATCH):
                arrays = [_parquet_as_text(a) for a in batch.columns]
                lines = np.arange(done + 2, done + 2 + batch.num_rows, dtype=np.int64)
                done += batch.num_rows
                result.rows_read += batch.num_rows
                if self.on_bytes is not None and pf.metadata.num_rows:
                    target = size * done // pf.metadata.num_rows
                    self.on_bytes(target - reported)
                    reported = target
                yield names, arrays, lines
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected(f"Parquet file cannot be read: {mask_text(str(exc))}") from None

    def _process(
        self,
        names: list[str],
        arrays: list[pa.Array],
        lines: np.ndarray,
        quarantine: QuarantineSink,
        lineage: dict[str, pa.Scalar],
    ) -> pa.Table:
        n = len(lines)
        undecodable: dict[int, tuple[str, str]] = {}
        raw: dict[str, pa.Array] = {}
        for name, arr in zip(names, arrays, strict=True):
            if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
                arr = _decode_column(arr, name, undecodable)
            raw[name] = arr
        keep = np.ones(n, dtype=bool)
        # A blank line parses as a row of empty fields: a structural defect, not a row (so is
        # a line the framer took out, left empty). Only rows whose first field is empty can
        # be blank: check the others just for them.
        first = pc.fill_null(pc.equal(raw[names[0]], ""), True)
        if pc.any(first).as_py():
            candidates = pc.indices_nonzero(first)
            blank = np.ones(len(candidates), dtype=bool)
            for arr in raw.values():
                empty = pc.fill_null(pc.equal(pc.take(arr, candidates), ""), True)
                blank &= empty.to_numpy(zero_copy_only=False)
            for i in candidates.to_numpy()[blank]:
                line = int(lines[i])
                if self.framer is not None and line in self.framer.replaced:
                    reason, original = self.framer.replaced[line]
                    quarantine.add(line, None, reason, original)
                elif int(i) not in undecodable:
                    quarantine.add(line, None, "too_few_fields", "")
                keep[i] = False
        for i, (column, original) in sorted(undecodable.items()):
            if keep[i]:
                quarantine.add(int(lines[i]), column, "undecodable_text", original)
                keep[i] = False
        nul_possible = self.framer is None or self.framer.nul
        for i, column, reason, original in _screen(raw, keep, nul_possible):
            quarantine.add(int(lines[i]), column, reason, original)
            keep[i] = False
        clean = keep.copy()  # rows not already quarantined: report every bad value of them
        out: dict[str, pa.Array] = {}
        standardised = dict(
            zip(self.columns, self.std.many([raw[c] for c in self.columns]), strict=True)
        )
        for column, kind in self.columns.items():
            text = standardised[column]
            if kind == "text":
                out[column] = text
                continue
            typed, bad = _type_column(text, kind)
            out[column] = typed
            if pc.any(bad).as_py():
                bad_np = bad.to_numpy(zero_copy_only=False)
                reason = TYPE_REASON[kind]
                for i in np.flatnonzero(bad_np & clean):
                    quarantine.add(int(lines[i]), column, reason, raw[column][int(i)].as_py())
                keep &= ~bad_np
        for column, pattern in self.identifiers.items():
            text = standardised[column]
            shaped = pc.fill_null(pc.match_substring_regex(text, pattern), True)
            if not pc.all(shaped).as_py():
                bad_np = ~shaped.to_numpy(zero_copy_only=False)
                for i in np.flatnonzero(bad_np & clean):
                    value = raw[column][int(i)].as_py()
                    quarantine.add(int(lines[i]), column, "bad_identifier", value)
                keep &= ~bad_np
        out["_source_row"] = pa.array(lines, pa.int64())
        for key, value in lineage.items():
            out[key] = pa.repeat(value, n)
        table = pa.Table.from_pydict(out, schema=self.schema)
        if not keep.all():
            table = table.filter(pa.array(keep))
        return table


def _screen(
    raw: dict[str, pa.Array], keep: np.ndarray, nul_possible: bool
) -> list[tuple[int, str, str, str]]:
    """Values no field of the contract can hold, in rows not quarantined yet: (row, column,
    reason, original) for values longer than ``MAX_FIELD_BYTES`` and NUL bytes (looked for
    only when the framer saw one in the file, or in a Parquet file). A cheap look at each
    column's longest value or buffer first; per-value work only where it finds some."""
    found: list[tuple[int, str, str, str]] = []
    keep = keep.copy()
    for column, arr in raw.items():
        if not len(arr) or not (pa.types.is_string(arr.type) or pa.types.is_binary(arr.type)):
            continue
        lengths = pc.binary_length(arr)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > MAX_FIELD_BYTES:
            long_np = pc.fill_null(pc.greater(lengths, MAX_FIELD_BYTES), False).to_numpy(
                zero_copy_only=False
            )
            for i in np.flatnonzero(long_np & keep):
                value = arr[int(i)].as_py()
                data = value.encode("utf-8") if isinstance(value, str) else value
                found.append((int(i), column, "field_too_long", preview(data)))
                keep[i] = False
        if not nul_possible:
            continue
        data_buf = arr.buffers()[2]
        if data_buf is None or not (np.frombuffer(data_buf, dtype=np.uint8) == 0).any():
            continue
        nul = pc.fill_null(pc.match_substring(arr, "\x00"), False).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(nul & keep):
            value = arr[int(i)].as_py()
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="backslashreplace")
            found.append((int(i), column, "nul_byte", value.replace("\x00", "\\x00")))
            keep[i] = False
    return found


def _parquet_as_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A Parquet column as the text a CSV extract would carry (binary stays binary)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return arr.cast(pa.binary())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr.cast(pa.timestamp(t.unit, "Asia/Shanghai")))
        with contextlib.suppress(pa.ArrowInvalid):  # whole seconds: no fraction in the text
            arr = arr.cast(pa.timestamp("s"))
        return pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
    if pa.types.is_date(t):
        return pc.strftime(arr, format="%Y-%m-%d")
    return arr.cast(pa.string())
