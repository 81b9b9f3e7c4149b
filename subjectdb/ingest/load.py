"""``subjectdb load``: raw extract files → landing zone + load quarantine + reconciliation.

The loader owns *structure*: can a row be read, decoded and typed? It does not judge whether a
value is valid (check digits, codes, enumerations, date order, required fields): the Great
Expectations raw suites (:mod:`subjectdb.quality.validate`) do that on the landing zone.

Pipeline for one file (see ``docs/loading.md``), one streaming pass in bounded memory:

1. name → extract + batch (``cases_20240131.csv``); header → the extract's contract columns.
   A file that cannot be read as a whole (unknown extract, wrong format, missing or unexpected
   columns) is rejected and nothing of it lands;
2. pyarrow's streaming CSV reader (in a producer thread; GBK is transcoded on the fly) or
   Parquet row batches. Rows with too few / too many fields and values that are not valid text
   in the file's encoding go to the quarantine; every row gets its physical line number;
3. each batch is standardised (full-width → half-width, traditional → simplified with OpenCC
   ``t2s``, trimmed, empty → NULL) and typed with vectorised Arrow casts; rows with an
   untypable value go to the quarantine, the rest to the landing partition (written by a
   writer thread). The file's SHA-256 is computed on the way;
4. both partitions are written to temporary files, reconciled *as written* (DuckDB counts
   them: rows read = landed + distinct quarantined rows) and renamed into place; then the
   file's reconciliation row is upserted into ``reconciliation.parquet`` — the commit mark.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import decimal
import fcntl
import gc
import hashlib
import io
import os
import queue
import re
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from subjectdb.config import EXTRACTS, Paths, duckdb_connect
from subjectdb.contract import COLUMNS, QUARANTINE_SCHEMA

ColumnKind = Literal["text", "timestamp", "date", "integer", "decimal"]

# --------------------------------------------------------------------------------------------
# The raw extract contract (docs/architecture.md): column order and the landing type of each.
# --------------------------------------------------------------------------------------------


def _kind(column: str) -> ColumnKind:
    if column.endswith("_at"):
        return "timestamp"
    if column.endswith("_date"):
        return "date"
    if column in ("promised_days", "visits", "rating"):
        return "integer"
    if column == "registered_capital":
        return "decimal"
    return "text"


_COLUMN_NAMES: dict[str, tuple[str, ...]] = {e: tuple(c) for e, c in COLUMNS.items()}

EXTRACT_COLUMNS: dict[str, dict[str, ColumnKind]] = {
    extract: {c: _kind(c) for c in cols} for extract, cols in _COLUMN_NAMES.items()
}
"""extract → {column: kind}, in contract order. Kinds map to landing types below."""

LANDING_TYPES: dict[ColumnKind, pa.DataType] = {
    "text": pa.string(),  # VARCHAR
    "timestamp": pa.timestamp("us"),  # TIMESTAMP (local Asia/Shanghai time, no zone)
    "date": pa.date32(),  # DATE
    "integer": pa.int32(),  # INTEGER
    "decimal": pa.decimal128(18, 2),  # DECIMAL(18,2)
}
LINEAGE_FIELDS = [
    pa.field("_batch_id", pa.string()),
    pa.field("_source_file", pa.string()),
    pa.field("_source_row", pa.int64()),
    pa.field("_loaded_at", pa.timestamp("us")),
]


def landing_schema(extract: str) -> pa.Schema:
    """The landing-zone Parquet schema of an extract: typed contract columns + lineage."""
    fields = [pa.field(c, LANDING_TYPES[k]) for c, k in EXTRACT_COLUMNS[extract].items()]
    return pa.schema(fields + LINEAGE_FIELDS)


UNIQUE_COLUMNS = frozenset(
    ["case_id", "applicant_id", "applicant_name", "applicant_phone"]
    + ["person_id", "name", "phone", "credit_code", "registered_capital", "_source_row"]
)
"""Columns (nearly) unique per row: written without Parquet dictionary encoding, which for them
costs a hash-table insert per value and is then dropped anyway (dictionary page too large)."""


def _dictionary_columns(extract: str) -> list[str]:
    """Landing columns worth dictionary-encoding: codes, regions, enumerations, dates."""
    return [
        name
        for name in landing_schema(extract).names
        if name not in UNIQUE_COLUMNS
        and not (name in EXTRACT_COLUMNS[extract] and EXTRACT_COLUMNS[extract][name] == "timestamp")
    ]


REASONS: dict[str, str] = {
    "too_few_fields": "the row has fewer fields than the header (row cut short, or a blank line)",
    "too_many_fields": "the row has more fields than the header (an unquoted delimiter)",
    "bad_timestamp": "not a timestamp YYYY-MM-DD HH:MM:SS",
    "bad_date": "not a date YYYY-MM-DD",
    "bad_integer": "not an integer (or out of the INTEGER range)",
    "bad_decimal": "not a decimal number that fits DECIMAL(18,2) without rounding",
    "undecodable_text": "bytes that are not valid text in the file's encoding",
}
"""Load-quarantine reason codes and what they mean."""

_TYPE_REASON: dict[ColumnKind, str] = {
    "timestamp": "bad_timestamp",
    "date": "bad_date",
    "integer": "bad_integer",
    "decimal": "bad_decimal",
}

FILE_PATTERN = re.compile(
    r"^(?P<extract>[a-z]+)_(?P<batch>[^.]+)\.(?P<fmt>csv|parquet)$", re.IGNORECASE
)
BATCH_PATTERN = re.compile(r"^\d{8}$")
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
    ]
)
_CHUNK = 1 << 20
_CSV_BLOCK = 8 << 20
_PARQUET_BATCH = 65_536
_QUARANTINE_FLUSH = 20_000
_SAMPLE_BYTES = 4 << 20
_SMALL_SCREEN = 2_000
_ARROW_QUARANTINE_COUNT = 1_000_000
WORKERS_ENV = "SUBJECTDB_LOAD_WORKERS"


class LoadError(Exception):
    """A user error that stops the whole load (a path does not exist, a bad option, …)."""


class FileRejected(Exception):
    """A file that cannot be read as a whole: rejected, nothing of it lands."""


@dataclass
class FileReport:
    """What happened to one file. ``rows_read == rows_landed + rows_quarantined`` when loaded."""

    file: Path
    extract: str | None = None
    batch_id: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rejected: bool = False
    reason: str | None = None
    already_loaded: bool = False
    sha256: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_landed + self.rows_quarantined

    @property
    def status(self) -> str:
        if self.rejected:
            return "rejected"
        if self.already_loaded:
            return "already loaded"
        return "loaded" if self.balanced else "UNBALANCED"


# --------------------------------------------------------------------------------------------
# Text standardisation: full-width → half-width, traditional → simplified (OpenCC t2s), trim.
# --------------------------------------------------------------------------------------------

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2EBEF),
    (0x2F800, 0x2FA1F),
    (0x30000, 0x3134F),
)


class Standardiser:
    """Vectorised text standardisation of Arrow string arrays.

    OpenCC converts about half a million short strings a second, too slow for every value of
    a large extract, so values are first screened in C++ (one RE2 character class): only values
    holding a full-width character or a character that OpenCC's ``t2s`` could change go
    through Python. The class is derived from OpenCC itself (every character converted alone,
    plus the characters its phrase table changes), so the screen never misses a conversion;
    if the phrase table cannot be read, every non-ASCII value is converted (slower, same
    result).
    """

    def __init__(self) -> None:
        import opencc

        self._cc = opencc.OpenCC("t2s")
        self._cache: dict[str, str] = {}
        chars = self._convertible_chars()
        self.chars: frozenset[str] | None = None  # None: screen every non-ASCII value
        if chars is None:
            self.pattern = r"[^\x00-\x7F]"
        else:
            chars |= {chr(cp) for cp in _FULLWIDTH}
            self.chars = frozenset(chars)
            self.pattern = "[" + "".join(_re2_escape(c) for c in sorted(chars)) + "]"

    def _convertible_chars(self) -> set[str] | None:
        singles = [chr(cp) for lo, hi in _CJK_RANGES for cp in range(lo, hi + 1)]
        converted = self._cc.convert("\n".join(singles)).split("\n")
        if len(converted) != len(singles):
            return None
        chars = {s for s, t in zip(singles, converted, strict=True) if s != t}
        phrases = _opencc_phrases()
        if phrases is None:
            return None
        for key, value in phrases:
            if len(key) != len(value):
                chars.update(key)
            else:
                chars.update(k for k, v in zip(key, value, strict=True) if k != v)
        return chars

    def convert(self, value: str) -> str:
        hit = self._cache.get(value)
        if hit is None:
            hit = self._cc.convert(value.translate(_FULLWIDTH))
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[value] = hit
        return hit

    def __call__(self, arr: pa.Array) -> pa.Array:
        """Standardised copy of a string array: converted, trimmed, empty → null."""
        return self.many([arr])[0]

    def many(self, arrays: Sequence[pa.Array]) -> list[pa.Array]:
        """Standardised copies of several string arrays (the columns of one batch).

        Pure-ASCII columns (codes, timestamps, numbers) are only trimmed. In the others only
        the non-ASCII values can change: where they are few (an ID column with a stray
        full-width digit) just those values are screened; where they are many (names,
        departments) the column is dictionary-encoded and its distinct values are screened.
        All screened values of the batch go through one regex pass (the large character
        class is compiled once per batch, not once per column), and a column none of whose
        values changes is kept as it is rather than rebuilt.
        """
        out: list[pa.Array] = list(arrays)
        screened: list[pa.Array] = []
        plans: list[tuple[int, str, pa.Array]] = []  # (column, "sparse"/"dense", mask/indices)
        for i, arr in enumerate(arrays):
            ascii_ = pc.fill_null(pc.string_is_ascii(arr), True)
            non_ascii = len(arr) - pc.sum(ascii_).as_py() if len(arr) else 0
            if not non_ascii:
                continue
            if non_ascii * 8 < len(arr):
                mask = pc.invert(ascii_)
                screened.append(pc.filter(arr, mask))
                plans.append((i, "sparse", mask))
            else:
                encoded = arr.dictionary_encode()
                screened.append(encoded.dictionary)
                plans.append((i, "dense", encoded.indices))
        if plans:
            values = pa.concat_arrays(screened) if len(screened) > 1 else screened[0]
            converted, changed = self._convert(values)
            start = 0
            for (i, how, key), part in zip(plans, screened, strict=True):
                size = len(part)
                if changed[start : start + size].any():
                    new = converted.slice(start, size)
                    if how == "sparse":
                        out[i] = pc.replace_with_mask(arrays[i], key, new)
                    else:
                        out[i] = pc.take(new, key)
                start += size
        return [self._trim(a) for a in out]

    def _convert(self, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Converted values, and which of them changed.

        The screen is one RE2 pass; for a few values (small files, the last batch of a file)
        the same character set is checked in Python instead, since compiling the large
        character class costs about 2 ms.
        """
        if len(arr) <= _SMALL_SCREEN:
            chars = self.chars
            values = arr.to_pylist()
            flags = (
                (v is not None and not v.isascii() for v in values)
                if chars is None
                else (v is not None and not chars.isdisjoint(v) for v in values)
            )
            hits = np.fromiter(flags, dtype=bool, count=len(values))
            mask = pa.array(hits)
        else:
            mask = pc.fill_null(pc.match_substring_regex(arr, self.pattern), False)
            hits = mask.to_numpy(zero_copy_only=False)
        if not hits.any():
            return arr, hits
        originals = pc.filter(arr, mask).to_pylist()
        converted = [self.convert(v) for v in originals]
        changed = np.zeros(len(arr), dtype=bool)
        changed[np.flatnonzero(hits)] = [c != o for c, o in zip(converted, originals, strict=True)]
        replacements = pa.array(converted, pa.string())
        return pc.replace_with_mask(arr, mask, replacements), changed

    @staticmethod
    def _trim(arr: pa.Array) -> pa.Array:
        """Leading/trailing whitespace trimmed, empty → null (the text buffer is reused).

        Trimming rebuilds the whole array, so it runs only when some value may start or end
        with whitespace (:func:`_may_need_trim`, a vectorised look at each value's first and
        last character).
        """
        if _may_need_trim(arr):
            arr = pc.utf8_trim_whitespace(arr)
        nonempty = pc.fill_null(pc.greater(pc.binary_length(arr), 0), False)
        if pc.all(nonempty).as_py():
            return arr
        if arr.offset or nonempty.offset:
            return pc.if_else(nonempty, arr, pa.scalar(None, arr.type))
        return pa.Array.from_buffers(
            arr.type, len(arr), [nonempty.buffers()[1], *arr.buffers()[1:]]
        )


# First bytes of a UTF-8 character that is certainly not whitespace: printable ASCII and the
# lead bytes of 2-, 3- and 4-byte characters, except C2 (U+0080–U+00BF: NEL, NBSP), E1
# (U+1680), E2 (U+2000–U+2FFF: the general-punctuation spaces) and E3 (U+3000).
_SAFE_LEAD = np.zeros(256, dtype=bool)
_SAFE_LEAD[0x21:0x7F] = True
_SAFE_LEAD[0xC3:0xE1] = True
_SAFE_LEAD[0xE4:0xF5] = True
_CONTINUATION = np.zeros(256, dtype=bool)
_CONTINUATION[0x80:0xC0] = True


def _may_need_trim(arr: pa.Array) -> bool:
    """Whether some value of a string array might start or end with (Unicode) whitespace.

    Looks only at the bytes around each value's boundaries: a value needs no trim when its
    first character and its last character are certainly not whitespace (see ``_SAFE_LEAD``;
    the last character is found by stepping back over up to three continuation bytes).
    Conservative: when unsure (an unusual array layout) it answers yes.
    """
    if not pa.types.is_string(arr.type) or len(arr) == 0:
        return len(arr) > 0
    _, offsets_buf, data_buf = arr.buffers()
    if data_buf is None or offsets_buf is None:
        return True
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    present = ends > starts
    if arr.null_count:
        present &= pc.is_valid(arr).to_numpy(zero_copy_only=False)
    starts, ends = starts[present], ends[present]
    if not len(starts):
        return False
    if not _SAFE_LEAD.take(data.take(starts)).all():
        return True
    # The last character starts at the last byte that is not a continuation byte.
    last = ends - 1
    for _ in range(3):
        back = _CONTINUATION.take(data.take(last)) & (last > starts)
        if not back.any():
            break
        last = last - back
    return not bool(_SAFE_LEAD.take(data.take(last)).all())


def _re2_escape(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


def _opencc_phrases() -> list[tuple[str, str]] | None:
    """OpenCC's traditional → simplified phrase table, dumped with its own ``opencc_dict``."""
    import opencc

    base = Path(opencc.__file__).parent / "clib"
    tool = base / "bin" / "opencc_dict"
    table = base / "share" / "opencc" / "TSPhrases.ocd2"
    if not tool.exists() or not table.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phrases.txt"
        try:
            subprocess.run(
                [str(tool), "-i", str(table), "-o", str(out), "-f", "ocd2", "-t", "text"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            lines = out.read_text(encoding="utf-8").splitlines()
        except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
            return None
    pairs: list[tuple[str, str]] = []
    for line in lines:
        key, _, values = line.partition("\t")
        for value in values.split(" ") if values else []:
            pairs.append((key, value))
    return pairs


_STANDARDISER: Standardiser | None = None
_STANDARDISER_LOCK = threading.Lock()


def standardiser() -> Standardiser:
    """The process-wide :class:`Standardiser` (built once: about half a second)."""
    global _STANDARDISER
    with _STANDARDISER_LOCK:
        if _STANDARDISER is None:
            _STANDARDISER = Standardiser()
        return _STANDARDISER


def standardise_text(value: str) -> str | None:
    """One value standardised as the loader does it (for tests and ad-hoc use)."""
    out = standardiser()(pa.array([value], pa.string()))[0].as_py()
    return out


# --------------------------------------------------------------------------------------------
# Reading: encoding detection, a hashing (and transcoding) byte stream, physical row numbers.
# --------------------------------------------------------------------------------------------

_ASCII_BYTES = bytes(range(0x80))
_ENCODING_ALIASES = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gbk": "gbk",
    "gb2312": "gbk",
    "cp936": "gbk",
    "gb18030": "gb18030",
}


def _normalise_encoding(encoding: str) -> str:
    key = encoding.strip().lower().replace("_", "-")
    if key not in _ENCODING_ALIASES:
        raise LoadError(
            f"unsupported --encoding {encoding!r}: use one of utf-8, utf-8-sig, gbk, gb18030"
        )
    return _ENCODING_ALIASES[key]


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` or ``gbk``, judged on the first megabytes of the file.

    Valid UTF-8 is very unlikely by chance in GBK text with Chinese characters, so a sample
    that decodes as UTF-8 (or nearly: a few corrupt bytes are row defects) is UTF-8.
    """
    with path.open("rb") as f:
        head = f.read(_SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("UTF-16 text is not supported: export the extract as UTF-8 or GBK")
    try:  # the common case, checked in C: the sample is valid UTF-8 (or plain ASCII)
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SAMPLE_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    non_ascii = len(head) - len(head.translate(None, _ASCII_BYTES))
    text = head.decode("utf-8", errors="replace")
    utf8_errors = text.count("\ufffd") - head.decode("utf-8", errors="ignore").count("\ufffd")
    if utf8_errors <= max(2, non_ascii // 1000):
        return "utf-8"
    gbk_text = head.decode("gb18030", errors="replace")
    gbk_errors = gbk_text.count("\ufffd")
    return "gbk" if gbk_errors < utf8_errors else "utf-8"


class _SourceStream(io.RawIOBase):
    """The file's bytes as UTF-8, hashed and counted on the way.

    UTF-8 files pass through as read (``read`` hands pyarrow the very bytes object it hashed:
    no copy). GBK/GB18030 input is transcoded chunk by chunk; bytes that do not decode are
    kept as they are (``surrogateescape``), so they reach the reader as invalid UTF-8 and
    their values are quarantined as ``undecodable_text`` instead of failing the whole file.
    """

    def __init__(
        self, path: Path, encoding: str, on_bytes: Callable[[int], None] | None = None
    ) -> None:
        super().__init__()
        self._file = path.open("rb", buffering=0)
        self.sha256 = hashlib.sha256()
        self._on_bytes = on_bytes
        self._decoder = (
            codecs.getincrementaldecoder("gb18030")(errors="surrogateescape")
            if encoding in ("gbk", "gb18030")
            else None
        )
        self._pending = bytearray()
        self._eof = False
        self._lock = threading.Lock()  # reads must stay in file order (hash, transcoding)

    def readable(self) -> bool:
        return True

    def _raw(self, size: int) -> bytes:
        data = self._file.read(size)
        while data is not None and 0 < len(data) < size:  # a short read is not the end
            more = self._file.read(size - len(data))
            if not more:
                break
            data += more
        data = data or b""
        if data:
            self.sha256.update(data)
            if self._on_bytes is not None:
                self._on_bytes(len(data))
        return data

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            return self._read(size)

    def _read(self, size: int) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        if self._decoder is None:
            return self._raw(min(size, 1 << 30))
        while len(self._pending) < size and not self._eof:
            raw = self._raw(_CHUNK)
            self._eof = not raw
            text = self._decoder.decode(raw, final=not raw)
            self._pending += text.encode("utf-8", errors="surrogateescape")
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass
class _Invalid:
    record: int  # record ordinal from pyarrow (header = 1)
    newlines: int  # embedded newlines in the row's text
    text: str
    actual: int
    expected: int


class _RowNumberer:
    """Physical line numbers of CSV rows, header = line 1, in one streaming pass.

    pyarrow numbers records (a quoted newline does not start a new record) and skips invalid
    rows from its batches, reporting them to a handler with their record number. The physical
    line of a record is its record number plus the newlines embedded in all earlier records,
    so every good row's and every invalid row's first line follows from the newline counts.
    """

    def __init__(self) -> None:
        self.pending: list[_Invalid] = []
        self.good = 0  # good rows numbered so far
        self.good_newlines = 0  # newlines embedded in them
        self.resolved = 0  # invalid rows numbered so far
        self.resolved_newlines = 0

    def handler(self, row: Any) -> str:
        if row.number is None:  # pragma: no cover - only with a multi-threaded reader
            raise RuntimeError("pyarrow did not report the invalid row's number")
        text = row.text or ""
        self.pending.append(
            _Invalid(row.number, text.count("\n"), text, row.actual_columns, row.expected_columns)
        )
        return "skip"

    def number(self, newlines: np.ndarray) -> tuple[np.ndarray, list[tuple[int, _Invalid]]]:
        """Lines of the next ``len(newlines)`` good rows, and the invalid rows now numbered."""
        m = len(newlines)
        k = self.good + np.arange(m, dtype=np.int64)
        cum = np.concatenate(([0], np.cumsum(newlines, dtype=np.int64)))
        good_before = self.good_newlines + cum[:-1]
        p = len(self.pending)
        if p:
            records = np.fromiter((r.record for r in self.pending), np.int64, p)
            inv_nl = np.fromiter((r.newlines for r in self.pending), np.int64, p)
            c = records - 2 - (self.resolved + np.arange(p, dtype=np.int64))
            inv_cum = np.concatenate(([0], np.cumsum(inv_nl)))
            nb = np.searchsorted(c, k, side="right")
            lines = k + 2 + self.resolved + nb + good_before + self.resolved_newlines + inv_cum[nb]
            done = int(np.searchsorted(c, self.good + m, side="right"))
            numbered: list[tuple[int, _Invalid]] = []
            for i in range(done):
                before = int(c[i]) - self.good  # good rows of this batch before it
                line = (
                    int(records[i])
                    + self.resolved_newlines
                    + int(inv_cum[i])
                    + self.good_newlines
                    + int(cum[before])
                )
                numbered.append((line, self.pending[i]))
            self.resolved += done
            self.resolved_newlines += int(inv_cum[done])
            del self.pending[:done]
        else:
            lines = k + 2 + self.resolved + good_before + self.resolved_newlines
            numbered = []
        self.good += m
        self.good_newlines += int(cum[-1])
        return lines, numbered

    def finish(self) -> list[tuple[int, _Invalid]]:
        _, numbered = self.number(np.zeros(0, dtype=np.int64))
        return numbered


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


@dataclass
class _Source:
    path: Path
    extract: str
    batch_id: str
    fmt: str


def parse_name(path: Path) -> _Source:
    """Extract and batch from a file name such as ``cases_20240131.csv``."""
    m = FILE_PATTERN.match(path.name)
    if not m:
        raise FileRejected(
            "the file name does not say which extract it is: expected "
            "<cases|persons|enterprises>_<YYYYMMDD>.csv or .parquet"
        )
    extract = m["extract"].lower()
    if extract not in EXTRACTS:
        known = ", ".join(EXTRACTS)
        raise FileRejected(f"unknown extract {m['extract']!r}: expected one of {known}")
    batch = m["batch"]
    if not BATCH_PATTERN.match(batch):
        raise FileRejected(f"batch {batch!r} in the file name is not a cut-off date YYYYMMDD")
    try:
        datetime.strptime(batch, "%Y%m%d")
    except ValueError:
        raise FileRejected(f"batch {batch!r} in the file name is not a real date") from None
    return _Source(path, extract, batch, m["fmt"].lower())


def _match_columns(extract: str, header: Sequence[str]) -> dict[str, str]:
    """header name → contract column; rejects missing, unexpected or repeated columns."""
    expected = list(EXTRACT_COLUMNS[extract])
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    repeated: list[str] = []
    unexpected: list[str] = []
    for name in header:
        key = name.strip().lower()
        if key in seen:
            repeated.append(name)
        seen.add(key)
        if key in EXTRACT_COLUMNS[extract]:
            mapping[name] = key
        else:
            unexpected.append(name)
    missing = [c for c in expected if c not in seen]
    problems = []
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if unexpected:
        shown = ", ".join(repr(u) for u in unexpected[:5])
        problems.append(f"unexpected column(s) {shown}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        hint = ""
        if len(header) == 1 and missing:
            hint = " (is the delimiter a comma, and is this a CSV file?)"
        detail = "; ".join(problems)
        raise FileRejected(f"header does not match the {extract} contract: {detail}{hint}")
    return mapping


def _read_csv_header(path: Path, encoding: str) -> list[str]:
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise FileRejected("the file is empty (no header line)")
    if b"\x00" in head:
        raise FileRejected("not a CSV text file (binary content)")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    codec = "gb18030" if encoding in ("gbk", "gb18030") else "utf-8-sig"
    try:
        line = first.decode(codec)
    except UnicodeDecodeError:
        raise FileRejected(f"the header line is not valid {encoding} text") from None
    return next(csv.reader([line]))


class _QuarantineSink:
    """Load-quarantine rows, written in chunks straight to the partition's temporary file."""

    def __init__(self, path: Path, source: _Source, stamp: datetime) -> None:
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
    """Newlines inside each row's values (quoted newlines), counted only where there are any."""
    total = np.zeros(n, dtype=np.int64)
    for arr in arrays:
        data = arr.buffers()[2]
        if data is None or not data.size:
            continue
        if not (np.frombuffer(data, dtype=np.uint8) == 0x0A).any():
            continue
        total += pc.count_substring(arr, "\n").to_numpy(zero_copy_only=False)
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


class _FileLoader:
    """One file, one streaming pass: read → decode → standardise → type → write."""

    def __init__(self, source: _Source, encoding: str, on_bytes: Callable[[int], None] | None):
        self.source = source
        self.encoding = encoding
        self.on_bytes = on_bytes
        self.columns = EXTRACT_COLUMNS[source.extract]
        self.std = standardiser()
        self.schema = landing_schema(source.extract)

    def run(self, landing_tmp: Path, quarantine: _QuarantineSink, loaded_at: datetime) -> _Counts:
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
                    use_dictionary=_dictionary_columns(self.source.extract),
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
        self, quarantine: _QuarantineSink, result: _Counts
    ) -> Iterator[tuple[list[str], list[pa.Array], np.ndarray]]:
        header = _read_csv_header(self.source.path, self.encoding)
        mapping = _match_columns(self.source.extract, header)
        numberer = _RowNumberer()
        stream = _SourceStream(self.source.path, self.encoding, self.on_bytes)
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
            raise FileRejected(f"cannot be read as CSV: {exc}") from None
        names = [mapping[n] for n in reader.schema.names]

        def emit_invalid(numbered: list[tuple[int, _Invalid]]) -> None:
            for line, inv in numbered:
                reason = "too_few_fields" if inv.actual < inv.expected else "too_many_fields"
                quarantine.add(line, None, reason, inv.text)

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
                    lines, numbered = numberer.number(_embedded_newlines(arrays, batch.num_rows))
                    put(("batch", arrays, lines, numbered))
                put(("end", numberer.finish(), numberer.resolved))
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
                        raise FileRejected(f"cannot be read as CSV: {exc}") from None
                    raise exc
                if item[0] == "end":
                    emit_invalid(item[1])
                    result.rows_read += item[2]
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
        sha = hashlib.sha256()
        with self.source.path.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                sha.update(chunk)
        result.sha256 = sha.hexdigest()
        try:
            pf = pq.ParquetFile(self.source.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected(f"not a readable Parquet file: {exc}") from None
        header = pf.schema_arrow.names
        mapping = _match_columns(self.source.extract, header)
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
            raise FileRejected(f"Parquet file cannot be read: {exc}") from None

    def _process(
        self,
        names: list[str],
        arrays: list[pa.Array],
        lines: np.ndarray,
        quarantine: _QuarantineSink,
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
        # A blank line parses as a row of empty fields: a structural defect, not a row.
        # Only rows whose first field is empty can be blank: check the others just for them.
        first = pc.fill_null(pc.equal(raw[names[0]], ""), True)
        if pc.any(first).as_py():
            candidates = pc.indices_nonzero(first)
            blank = np.ones(len(candidates), dtype=bool)
            for arr in raw.values():
                empty = pc.fill_null(pc.equal(pc.take(arr, candidates), ""), True)
                blank &= empty.to_numpy(zero_copy_only=False)
            for i in candidates.to_numpy()[blank]:
                if int(i) not in undecodable:
                    quarantine.add(int(lines[i]), None, "too_few_fields", "")
                keep[i] = False
        for i, (column, original) in sorted(undecodable.items()):
            quarantine.add(int(lines[i]), column, "undecodable_text", original)
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
                reason = _TYPE_REASON[kind]
                for i in np.flatnonzero(bad_np & clean):
                    quarantine.add(int(lines[i]), column, reason, raw[column][int(i)].as_py())
                keep &= ~bad_np
        out["_source_row"] = pa.array(lines, pa.int64())
        for key, value in lineage.items():
            out[key] = pa.repeat(value, n)
        table = pa.Table.from_pydict(out, schema=self.schema)
        if not keep.all():
            table = table.filter(pa.array(keep))
        return table


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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


# --------------------------------------------------------------------------------------------
# Reconciliation (the commit mark of a load)
# --------------------------------------------------------------------------------------------


def read_reconciliation(data: Paths) -> pa.Table:
    """``reconciliation.parquet`` (empty table when nothing was loaded yet)."""
    if not data.reconciliation.exists():
        return RECONCILIATION_SCHEMA.empty_table()
    # ParquetFile.read, not read_table: the latter imports pandas (most of a second).
    return pq.ParquetFile(data.reconciliation).read().cast(RECONCILIATION_SCHEMA)


class _Reconciliation:
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
        target = self.data.reconciliation
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(new, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self.rows = rows


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def discover(paths: Sequence[Path]) -> list[Path]:
    """The extract files named by ``paths`` (files as given, folders searched recursively)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise LoadError(f"{p}: no such file or folder")
        if p.is_dir():
            candidates = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in (".csv", ".parquet")
                and f.name.lower().startswith(tuple(f"{e}_" for e in EXTRACTS))
            )
        else:
            candidates = [p]
        for f in candidates:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    # Load in batch order, so a later batch never lands before an earlier one of its extract.
    return sorted(found, key=lambda f: (f.name.lower().split("_", 1)[-1], f.name.lower()))


@contextlib.contextmanager
def _load_lock(data: Paths) -> Iterator[None]:
    data.root.mkdir(parents=True, exist_ok=True)
    with (data.root / ".load.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadError(f"another `subjectdb load` is running on {data.root}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_workers() -> int:
    """Files loaded at once: ``$SUBJECTDB_LOAD_WORKERS``, else 2 (or 1 on a 1-core machine)."""
    env = os.environ.get(WORKERS_ENV)
    if env:
        try:
            workers = int(env)
        except ValueError:
            raise LoadError(f"{WORKERS_ENV}={env!r} is not a number of files") from None
        if workers < 1:
            raise LoadError(f"{WORKERS_ENV} must be at least 1, not {workers}")
        return workers
    return max(1, min(2, os.cpu_count() or 1))


def load_paths(
    paths: list[Path],
    data: Paths,
    encoding: str | None = None,
    show_progress: bool = False,
    workers: int | None = None,
) -> list[FileReport]:
    """Load every extract file under ``paths`` into ``data``'s landing zone.

    Returns one :class:`FileReport` per file, in batch order. A file that cannot be read at
    all is rejected (``rejected=True``, ``reason`` says why) and the other files still load.
    Raises :class:`LoadError` when a path does not exist or an option is wrong.

    ``workers`` files (default :func:`load_workers`) are read, typed and written at once, in
    threads (the work is in Arrow's C++ kernels, which release the GIL); each file is then
    committed — partitions moved into place, reconciliation row written — strictly in batch
    order, so a later batch is never committed before an earlier one.
    """
    forced = _normalise_encoding(encoding) if encoding else None
    workers = load_workers() if workers is None else workers
    if workers < 1:
        raise LoadError(f"workers must be at least 1, not {workers}")
    files = discover(paths)
    if not files:
        raise LoadError(
            "no extract files found (expected cases_*/persons_*/enterprises_* .csv or .parquet)"
        )
    progress = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        if show_progress
        else None
    )

    def stage(f: Path, state: _LoadState) -> _Staged:
        if progress is None:
            return _stage_file(f, state, forced, None)
        task = progress.add_task(f.name, total=f.stat().st_size)
        try:
            return _stage_file(f, state, forced, lambda n: progress.advance(task, n))
        finally:
            progress.remove_task(task)

    reports: list[FileReport] = []
    with (
        _load_lock(data),
        progress or contextlib.nullcontext(),
        _LoadState(data) as state,
        _gc_frozen(),
    ):
        if workers == 1:
            for f in files:
                reports += _commit([stage(f, state)], state)
            return reports
        # A window of staged files ahead of the next commit keeps both workers busy when a
        # large file is followed by small ones; staged files wait on disk, not in memory.
        window: collections.deque[tuple[tuple[str, str] | None, Future[_Staged]]] = (
            collections.deque()
        )

        def commit_next() -> None:
            """Commit the oldest staged file, and with it the next ones already staged."""
            ready: list[_Staged] = []
            try:
                ready.append(window.popleft()[1].result())
                while window and window[0][1].done():
                    ready.append(window.popleft()[1].result())
            except BaseException:
                for staged in ready:
                    staged.discard()
                raise
            reports.extend(_commit(ready, state))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load") as pool:
            try:
                for f in files:
                    key = _batch_key(f)
                    # Two files for one extract and batch never stage at once: the second
                    # one is checked against the first one's committed reconciliation row.
                    while window and (
                        len(window) >= 4 * workers or (key and key in {k for k, _ in window})
                    ):
                        commit_next()
                    window.append((key, pool.submit(stage, f, state)))
                while window:
                    commit_next()
            finally:  # after an unexpected error: drop whatever was staged and not committed
                for _, future in window:
                    future.cancel()
                for _, future in window:
                    with contextlib.suppress(BaseException):
                        future.result().discard()
    return reports


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Python's cyclic GC leaves the objects that existed before the load alone meanwhile.

    The load allocates few Python objects but enough to trigger full collections, each of
    which walks every object of the process (pyarrow, numpy, DuckDB…): about 3 % of the
    load's CPU in a ``perf`` profile. ``gc.freeze`` parks the existing objects for the
    duration; ``gc.unfreeze`` returns them to the collector.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def load_file(
    path: Path,
    data: Paths,
    encoding: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FileReport:
    """Load one extract file; never raises for a bad file (the report says it was rejected)."""
    forced = _normalise_encoding(encoding) if encoding else None
    with _LoadState(data) as state:
        return _commit([_stage_file(Path(path), state, forced, on_bytes)], state)[0]


class _LoadState:
    """What the files of one load share: the reconciliation rows and one DuckDB database."""

    def __init__(self, data: Paths) -> None:
        self.data = data
        self.reconciliation = _Reconciliation(data)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> _LoadState:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor for the calling thread (one bounded database for the whole load)."""
        with self._lock:
            if self._con is None:
                self._con = duckdb_connect(paths=self.data, threads=1)
            return self._con.cursor()


def _batch_key(path: Path) -> tuple[str, str] | None:
    try:
        source = parse_name(path)
    except FileRejected:
        return None
    return source.extract, source.batch_id


@dataclass
class _Staged:
    """A file read, typed and written to temporary files, reconciled, not yet committed."""

    report: FileReport
    moves: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    row: dict[str, Any] | None = None  # its reconciliation row

    def discard(self) -> None:
        for tmp, final in self.moves:
            tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # a rejected file leaves no empty folder
                final.parent.rmdir()
        self.moves = []


def _stage_file(
    path: Path,
    state: _LoadState,
    encoding: str | None,
    on_bytes: Callable[[int], None] | None,
) -> _Staged:
    """Everything but the commit; never raises for a bad file (the report says rejected)."""
    report = FileReport(file=path)
    staged = _Staged(report)
    try:
        source = parse_name(path)
        report.extract, report.batch_id = source.extract, source.batch_id
        if source.fmt == "csv":
            report.encoding = encoding or detect_encoding(path)
        else:
            report.encoding = "parquet"
        previous = state.reconciliation.get(source.extract, source.batch_id)
        if previous is not None:
            sha = _file_sha256(path)
            report.sha256 = sha
            if sha == previous["sha256"]:
                report.already_loaded = True
                report.rows_read = previous["rows_read"]
                report.rows_landed = previous["rows_landed"]
                report.rows_quarantined = previous["rows_quarantined"]
                report.reason = (
                    f"already loaded on {previous['loaded_at']:%Y-%m-%d %H:%M} UTC "
                    f"from {previous['file']} (same content): skipped"
                )
                return staged
            raise FileRejected(
                f"batch {source.batch_id} of {source.extract} was already loaded from "
                f"{previous['file']} with different content; one file per extract and batch "
                "(a correction must come as a new batch)"
            )
        _load_new(source, state, staged, on_bytes)
    except (FileRejected, pa.ArrowException, OSError) as exc:
        staged.discard()
        _reject(report, path, exc)
    except BaseException:
        staged.discard()
        raise
    return staged


def _reject(report: FileReport, path: Path, exc: BaseException) -> None:
    report.rejected = True
    if isinstance(exc, FileRejected):
        report.reason = f"{path}: {exc}"
    else:
        report.reason = f"{path}: cannot be read: {type(exc).__name__}: {exc}"
    report.rows_landed = report.rows_quarantined = 0


def _commit(group: list[_Staged], state: _LoadState) -> list[FileReport]:
    """Move staged files' partitions into place, then write their reconciliation rows.

    One rewrite of ``reconciliation.parquet`` commits the whole group (files staged one after
    another, in batch order); a crash before it leaves the group uncommitted, to be redone
    by the next load like a single file.
    """
    moved: list[_Staged] = []
    for staged in group:
        if staged.row is None:
            continue
        try:
            for tmp, final in staged.moves:
                os.replace(tmp, final)
            moved.append(staged)
        except OSError as exc:
            staged.discard()
            _reject(staged.report, staged.report.file, exc)
    if moved:
        try:
            state.reconciliation.upsert([s.row for s in moved if s.row is not None])
        except OSError as exc:
            for staged in moved:
                _reject(staged.report, staged.report.file, exc)
    return [staged.report for staged in group]


def _load_new(
    source: _Source,
    state: _LoadState,
    staged: _Staged,
    on_bytes: Callable[[int], None] | None,
) -> None:
    report = staged.report
    assert report.encoding is not None
    data = state.data
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    landing_dir = data.landing_partition(source.extract, source.batch_id)
    quarantine_dir = data.load_quarantine / source.extract / f"batch={source.batch_id}"
    landing_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    landing_tmp = landing_dir / f".part-0.{token}.tmp"
    quarantine_tmp = quarantine_dir / f".part-0.{token}.tmp"
    staged.moves = [
        (landing_tmp, landing_dir / "part-0.parquet"),
        (quarantine_tmp, quarantine_dir / "part-0.parquet"),
    ]
    sink = _QuarantineSink(quarantine_tmp, source, loaded_at)
    try:
        counts = _FileLoader(source, report.encoding, on_bytes).run(landing_tmp, sink, loaded_at)
    finally:
        sink.close()
    report.sha256 = counts.sha256
    report.rows_read = counts.rows_read
    # Reconcile on the files as written, not on the loader's own counters.
    landed = pq.ParquetFile(landing_tmp).metadata.num_rows
    q_rows, q_by_reason = _quarantine_counts(quarantine_tmp, state)
    if report.rows_read != landed + q_rows:
        raise FileRejected(
            f"reconciliation failed: {report.rows_read} rows read but {landed} landed + "
            f"{q_rows} quarantined; nothing was loaded (please report this as a bug)"
        )
    report.rows_landed = landed
    report.rows_quarantined = q_rows
    report.quarantine_reasons = q_by_reason
    staged.row = {
        "file": source.path.name,
        "extract": source.extract,
        "batch": source.batch_id,
        "sha256": report.sha256,
        "encoding": report.encoding,
        "rows_read": report.rows_read,
        "rows_landed": landed,
        "rows_quarantined": q_rows,
        "loaded_at": loaded_at,
    }


def _quarantine_counts(path: Path, state: _LoadState) -> tuple[int, dict[str, int]]:
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
    with state.cursor() as con:
        row = con.execute(f"SELECT count(DISTINCT _source_row) FROM {src}").fetchone()
        by_reason = con.execute(f"SELECT reason, count(*) FROM {src} GROUP BY reason").fetchall()
    rows = int(row[0]) if row else 0
    return rows, {str(k): int(v) for k, v in by_reason}


def print_reports(reports: Sequence[FileReport], console: Console) -> None:
    """A table of the files loaded: rows read = landed + quarantined, and each file's status."""
    table = Table(title="subjectdb load", caption="reconciled: rows read = landed + quarantined")
    table.add_column("file", overflow="fold")
    table.add_column("encoding", min_width=8)
    for name in ("read", "landed", "quarantined"):
        table.add_column(name, justify="right", min_width=len(name))
    table.add_column("reconciled", justify="center", min_width=10)
    table.add_column("status", no_wrap=True)
    styles = {
        "loaded": "green",
        "already loaded": "cyan",
        "rejected": "bold red",
        "UNBALANCED": "bold red",
    }
    for r in reports:
        reconciled = "[green]yes[/]" if r.balanced else "[bold red]NO[/]"
        if r.rejected:
            reconciled = "–"
        table.add_row(
            r.file.name,
            r.encoding or "?",
            f"{r.rows_read:,}",
            f"{r.rows_landed:,}",
            f"{r.rows_quarantined:,}",
            reconciled,
            f"[{styles.get(r.status, 'white')}]{r.status}[/]",
        )
    console.print(table)
    for r in reports:
        if r.rejected:
            console.print(f"[bold red]rejected:[/] {r.reason}")
        elif r.already_loaded:
            console.print(f"[cyan]skipped[/] {r.file.name}: {r.reason}")
        elif r.quarantine_reasons:
            parts = ", ".join(f"{k} {v:,}" for k, v in sorted(r.quarantine_reasons.items()))
            console.print(f"[yellow]quarantined[/] {r.file.name}: {parts}")
