"""The raw extract contract as the loader reads it (``docs/extract-contract.md``): file names
(extract and batch), the columns of each extract and the landing type of each, the landing
Parquet schema with its lineage columns, and the load-quarantine reasons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from subjectdb.config import EXTRACTS
from subjectdb.contract import COLUMNS, MAX_FIELD_BYTES, mask_name
from subjectdb.ingest.framing import MAX_LINE_BYTES, MAX_RECORD_LINES
from subjectdb.ingest.report import FileRejected

ColumnKind = Literal["text", "timestamp", "date", "integer", "decimal"]


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


def dictionary_columns(extract: str) -> list[str]:
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
    "quote_error": (
        "a quoted value runs past the end of its line and does not close properly (a stray "
        f"or unclosed quote, or a record over {MAX_RECORD_LINES} lines): the line is taken "
        "out and the lines after it are read as rows again"
    ),
    "line_too_long": f"a line longer than {MAX_LINE_BYTES:,} bytes: taken out unread",
    "field_too_long": f"a value longer than {MAX_FIELD_BYTES:,} bytes",
    "nul_byte": "a value holding a NUL byte (binary content)",
    "bad_timestamp": "not a timestamp YYYY-MM-DD HH:MM:SS",
    "bad_date": "not a date YYYY-MM-DD",
    "bad_integer": "not an integer (or out of the INTEGER range)",
    "bad_decimal": "not a decimal number that fits DECIMAL(18,2) without rounding",
    "bad_identifier": (
        "an identifier not in the contract's shape (case_id: province code, year, 8-digit "
        "sequence; a spreadsheet's 3.30000E+17 is not one)"
    ),
    "undecodable_text": "bytes that are not valid text in the file's encoding",
}
"""Load-quarantine reason codes and what they mean."""

ROW_REASONS = frozenset({"too_many_fields", "quote_error", "line_too_long"})
"""Reasons about a whole line, whose quarantine ``column`` is NULL (the fields of the line are
not known); every other reason names the column (``too_few_fields``: the first missing one,
NULL only for a blank line)."""

TYPE_REASON: dict[ColumnKind, str] = {
    "timestamp": "bad_timestamp",
    "date": "bad_date",
    "integer": "bad_integer",
    "decimal": "bad_decimal",
}

FILE_PATTERN = re.compile(
    r"^(?P<extract>[a-z]+)_(?P<batch>[^.]+)\.(?P<fmt>csv|parquet)$", re.IGNORECASE
)
BATCH_PATTERN = re.compile(r"^\d{8}$")


@dataclass
class Source:
    path: Path
    extract: str
    batch_id: str
    fmt: str


BATCH_ZONE = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Today in the extracts' time zone: the latest cut-off date a batch can have."""
    return datetime.now(BATCH_ZONE).date()


def parse_name(path: Path, latest: date | None = None) -> Source:
    """Extract and batch from a file name such as ``cases_20240131.csv``.

    The batch is the extract's cut-off date: a date later than ``latest`` (default: today in
    Asia/Shanghai) cannot have been cut off yet, and is refused.
    """
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
        cutoff = datetime.strptime(batch, "%Y%m%d").date()
    except ValueError:
        raise FileRejected(f"batch {batch!r} in the file name is not a real date") from None
    latest = latest or today()
    if cutoff > latest:
        raise FileRejected(
            f"batch {batch} in the file name is a cut-off date later than today ({latest:%Y%m%d}):"
            " a batch cannot be cut off in the future (is the file name mistyped?)"
        )
    return Source(path, extract, batch, m["fmt"].lower())


def match_columns(extract: str, header: Sequence[str]) -> dict[str, str]:
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
        shown = ", ".join(repr(mask_name(u)) for u in unexpected[:5])
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        problems.append(f"unexpected column(s) {shown}{more}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(mask_name(r) for r in repeated)}")
    if problems:
        hint = ""
        if len(header) == 1 and missing:
            hint = " (is the delimiter a comma, and is this a CSV file?)"
        elif len(missing) == len(expected):
            hint = " (does the file lack its header line? names that look like data are masked)"
        detail = "; ".join(problems)
        raise FileRejected(f"line 1 (header) does not match the {extract} contract: {detail}{hint}")
    return mapping
