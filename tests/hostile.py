"""Hostile deliveries for tests/test_hostile_delivery.py: a tiny clean delivery (generated),
and the kinds of corruption real extracts arrive with, each applied to a copy of it together
with the outcome it must have.

A kind is a function of the clean delivery (file name → bytes) that returns the corrupted
delivery and its :class:`Expect`: the files rejected whole (with a fragment of the error,
which must also name the file), the exact load-quarantine rows ``(file, line, column,
reason)``, the lines that must land, and the raw-suite rule a landed value defect is left
to (``raw_rule``: the loader owns structure, the raw suites the standards).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Delivery = dict[str, bytes]  # "cases/cases_20240701.csv" → bytes

BASE = dict(
    province="330000",
    persons=80,
    enterprises=15,
    cases=120,
    years=(2024, 2024),
    batches=2,
    fmt="csv",
    defect_rate=0.0,
    seed=1,
)
CASES, PERSONS, ENTERPRISES = (
    "cases/cases_20240701.csv",
    "persons/persons_20240701.csv",
    "enterprises/enterprises_20240701.csv",
)
PERSONAL = ("applicant_id", "applicant_name", "applicant_phone", "person_id", "name", "phone")


@dataclass
class Expect:
    """What loading the delivery must give. Files are named by their path in the delivery,
    quarantine rows by file name (the loader's ``_source_file``)."""

    rejected: dict[str, str] = field(default_factory=dict)  # path → error fragment
    quarantined: set[tuple[str, int, str | None, str]] = field(default_factory=set)
    landed: set[tuple[str, int]] = field(default_factory=set)  # (file name, line) that land
    spans: set[tuple[str, int]] = field(default_factory=set)  # landed rows over 2+ lines
    encoding: dict[str, str] = field(default_factory=dict)  # path → encoding detected
    raw_rule: tuple[str, int, str] | None = None  # (file name, line, column) for the suites
    skipped: set[str] = field(default_factory=set)  # paths reported "already loaded"
    notes: dict[str, str] = field(default_factory=dict)  # path → note fragment
    first_load: Delivery | None = None  # loaded by an earlier command


@dataclass
class Kind:
    name: str
    category: str
    extracts: tuple[str, ...]
    build: Callable[[Delivery], tuple[Delivery, Expect]]


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def text_lines(data: bytes) -> list[str]:
    """A generated CSV's lines (LF ends, no quoting) without their ends; bytes that are not
    UTF-8 (another kind's corruption) survive the round trip through :func:`join`."""
    return data.decode("utf-8", "surrogateescape").rstrip("\n").split("\n")


def join(lines: list[str], end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode("utf-8", "surrogateescape")


def header(data: bytes) -> list[str]:
    return text_lines(data)[0].split(",")


def field_of(data: bytes, line: int, column: str) -> str:
    return text_lines(data)[line - 1].split(",")[header(data).index(column)]


def with_field(data: bytes, line: int, column: str, value: str) -> bytes:
    lines = text_lines(data)
    fields = lines[line - 1].split(",")
    fields[header(data).index(column)] = value
    lines[line - 1] = ",".join(fields)
    return join(lines)


def with_line(data: bytes, line: int, text: str) -> bytes:
    lines = text_lines(data)
    lines[line - 1] = text
    return join(lines)


def personal_values(delivery: Delivery) -> set[str]:
    """Every personal value of a delivery (IDs, names, phones): no message may show one."""
    values: set[str] = set()
    for data in delivery.values():
        lines = text_lines(data)
        cols = lines[0].split(",")
        picks = [i for i, c in enumerate(cols) if c in PERSONAL]
        for line in lines[1:]:
            fields = line.split(",")
            values |= {fields[i] for i in picks if i < len(fields) and len(fields[i]) >= 2}
    return values


# --------------------------------------------------------------------------------------------
# The kinds, by category
# --------------------------------------------------------------------------------------------
KINDS: list[Kind] = []


def kind(name: str, category: str, *extracts: str):  # noqa: ANN201
    def register(build: Callable[[Delivery], tuple[Delivery, Expect]]):  # noqa: ANN202
        KINDS.append(Kind(name, category, extracts, build))
        return build

    return register


def _one(d: Delivery, path: str, data: bytes, **expect: object) -> tuple[Delivery, Expect]:
    return {**d, path: data}, Expect(**expect)  # type: ignore[arg-type]


# encodings ---------------------------------------------------------------------------------
@kind("gbk_file", "encoding", "persons")
def _gbk(d: Delivery):  # noqa: ANN202
    data = d[PERSONS].decode("utf-8").encode("gbk")
    return _one(d, PERSONS, data, encoding={PERSONS: "gbk"})


@kind("utf8_bom", "encoding", "cases")
def _bom(d: Delivery):  # noqa: ANN202
    return _one(d, CASES, codecs.BOM_UTF8 + d[CASES], encoding={CASES: "utf-8-sig"})


@kind("utf16_with_bom", "encoding", "enterprises")
def _utf16(d: Delivery):  # noqa: ANN202
    data = d[ENTERPRISES].decode("utf-8").encode("utf-16")
    return _one(d, ENTERPRISES, data, rejected={ENTERPRISES: "UTF-16"})


@kind("utf16_without_bom", "encoding", "enterprises")
def _utf16le(d: Delivery):  # noqa: ANN202
    data = d[ENTERPRISES].decode("utf-8").encode("utf-16-le")
    return _one(d, ENTERPRISES, data, rejected={ENTERPRISES: "NUL bytes"})


@kind("undecodable_bytes", "encoding", "persons")
def _undecodable(d: Delivery):  # noqa: ANN202
    data = with_field(d[PERSONS], 5, "name", "BADNAME").replace(b"BADNAME", b"\xff\xfe\xfa")
    q = {(name_of(PERSONS), 5, "name", "undecodable_text")}
    return _one(d, PERSONS, data, quarantined=q)


@kind("gbk_row_in_utf8_file", "encoding", "cases")
def _mixed_encoding(d: Delivery):  # noqa: ANN202
    lines = d[CASES].split(b"\n")
    lines[6] = lines[6].decode("utf-8").encode("gbk")  # line 7 exported by another system
    fields = text_lines(d[CASES])[6].split(",")
    first = next(c for c, v in zip(header(d[CASES]), fields, strict=True) if not v.isascii())
    q = {(name_of(CASES), 7, first, "undecodable_text")}  # the first column it spoils
    return _one(d, CASES, b"\n".join(lines), quarantined=q)


# quoting -----------------------------------------------------------------------------------
@kind("stray_opening_quote", "quoting", "cases")
def _stray_quote(d: Delivery):  # noqa: ANN202
    value = field_of(d[CASES], 4, "applicant_name")
    data = with_field(d[CASES], 4, "applicant_name", '"' + value)
    return _one(d, CASES, data, quarantined={(name_of(CASES), 4, None, "quote_error")})


@kind("two_stray_quotes", "quoting", "persons")
def _two_quotes(d: Delivery):  # noqa: ANN202
    data = d[PERSONS]
    for line in (3, 9):
        data = with_field(data, line, "name", '"' + field_of(data, line, "name"))
    q = {(name_of(PERSONS), line, None, "quote_error") for line in (3, 9)}
    return _one(d, PERSONS, data, quarantined=q)


@kind("unclosed_quote_on_last_line", "quoting", "cases")
def _last_line_quote(d: Delivery):  # noqa: ANN202
    last = len(text_lines(d[CASES]))
    value = field_of(d[CASES], last, "dept_name")
    data = with_field(d[CASES], last, "dept_name", '"' + value)
    return _one(d, CASES, data, quarantined={(name_of(CASES), last, None, "quote_error")})


@kind("quoted_line_break", "quoting", "enterprises")
def _quoted_newline(d: Delivery):  # noqa: ANN202
    value = field_of(d[ENTERPRISES], 3, "name")
    data = with_field(d[ENTERPRISES], 3, "name", f'"{value[:2]}\n{value[2:]}"')
    # one row over lines 3-4: it lands at line 3; the next row is line 5
    landed = {(name_of(ENTERPRISES), 3), (name_of(ENTERPRISES), 5)}
    return _one(d, ENTERPRISES, data, landed=landed, spans={(name_of(ENTERPRISES), 3)})


@kind("quoted_delimiter", "quoting", "cases")
def _quoted_comma(d: Delivery):  # noqa: ANN202
    value = field_of(d[CASES], 6, "dept_name")
    data = with_field(d[CASES], 6, "dept_name", f'"{value[:2]},{value[2:]}"')
    return _one(d, CASES, data, landed={(name_of(CASES), 6)})


@kind("quote_inside_value", "quoting", "persons")
def _mid_quote(d: Delivery):  # noqa: ANN202
    value = field_of(d[PERSONS], 7, "name")
    data = with_field(d[PERSONS], 7, "name", value[:1] + '"' + value[1:])
    return _one(d, PERSONS, data, landed={(name_of(PERSONS), 7)})


# truncation --------------------------------------------------------------------------------
@kind("row_cut_short", "truncation", "cases")
def _cut(d: Delivery):  # noqa: ANN202
    fields = text_lines(d[CASES])[8].split(",")
    data = with_line(d[CASES], 9, ",".join(fields[:13]))
    return _one(d, CASES, data, quarantined={(name_of(CASES), 9, "status", "too_few_fields")})


@kind("file_cut_mid_row", "truncation", "persons")
def _truncated(d: Delivery):  # noqa: ANN202
    data = d[PERSONS].rstrip(b"\n")
    data = data[: data.rfind(b",") - 3]  # the transfer stopped inside the last row
    last = len(text_lines(d[PERSONS]))
    q = {(name_of(PERSONS), last, "updated_at", "too_few_fields")}
    return _one(d, PERSONS, data, quarantined=q)


@kind("extra_delimiter", "truncation", "enterprises")
def _extra(d: Delivery):  # noqa: ANN202
    value = field_of(d[ENTERPRISES], 4, "name")
    data = with_field(d[ENTERPRISES], 4, "name", value[:2] + "," + value[2:])
    q = {(name_of(ENTERPRISES), 4, None, "too_many_fields")}
    return _one(d, ENTERPRISES, data, quarantined=q)


@kind("blank_line", "truncation", "cases")
def _blank(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[CASES])
    data = join(lines[:5] + [""] + lines[5:])
    return _one(d, CASES, data, quarantined={(name_of(CASES), 6, None, "too_few_fields")})


# types -------------------------------------------------------------------------------------
@kind("impossible_timestamp", "types", "cases")
def _bad_ts(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 10, "submitted_at", "2024-02-30 09:00:00")
    q = {(name_of(CASES), 10, "submitted_at", "bad_timestamp")}
    return _one(d, CASES, data, quarantined=q)


@kind("iso_t_timestamp", "types", "persons")
def _iso_ts(d: Delivery):  # noqa: ANN202
    value = field_of(d[PERSONS], 4, "updated_at").replace(" ", "T")
    data = with_field(d[PERSONS], 4, "updated_at", value)
    q = {(name_of(PERSONS), 4, "updated_at", "bad_timestamp")}
    return _one(d, PERSONS, data, quarantined=q)


@kind("impossible_date", "types", "persons")
def _bad_date(d: Delivery):  # noqa: ANN202
    data = with_field(d[PERSONS], 6, "birth_date", "1990-13-01")
    return _one(d, PERSONS, data, quarantined={(name_of(PERSONS), 6, "birth_date", "bad_date")})


@kind("text_in_integer", "types", "cases")
def _bad_int(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 11, "visits", "两")
    return _one(d, CASES, data, quarantined={(name_of(CASES), 11, "visits", "bad_integer")})


@kind("decimal_needs_rounding", "types", "enterprises")
def _bad_dec(d: Delivery):  # noqa: ANN202
    data = with_field(d[ENTERPRISES], 5, "registered_capital", "12.345")
    q = {(name_of(ENTERPRISES), 5, "registered_capital", "bad_decimal")}
    return _one(d, ENTERPRISES, data, quarantined=q)


@kind("fullwidth_and_traditional", "types", "persons")
def _fullwidth(d: Delivery):  # noqa: ANN202
    value = field_of(d[PERSONS], 8, "phone") or "13800000000"
    wide = value.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    data = with_field(with_field(d[PERSONS], 8, "phone", wide), 8, "name", "劉強")
    return _one(d, PERSONS, data, landed={(name_of(PERSONS), 8)})


# identifiers and codes ----------------------------------------------------------------------
@kind("excel_mangled_case_id", "identifiers", "cases")
def _excel_case(d: Delivery):  # noqa: ANN202
    value = field_of(d[CASES], 12, "case_id")
    data = with_field(d[CASES], 12, "case_id", f"{int(value):.5E}")
    q = {(name_of(CASES), 12, "case_id", "bad_identifier")}
    return _one(d, CASES, data, quarantined=q)


@kind("case_id_with_letters", "identifiers", "cases")
def _letters_case(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 13, "case_id", "C00000013")
    q = {(name_of(CASES), 13, "case_id", "bad_identifier")}
    return _one(d, CASES, data, quarantined=q)


@kind("excel_mangled_person_id", "identifiers", "persons")
def _excel_person(d: Delivery):  # noqa: ANN202
    value = field_of(d[PERSONS], 10, "person_id")
    data = with_field(d[PERSONS], 10, "person_id", f"{int(value[:17]) * 10:.5E}")
    raw = (name_of(PERSONS), 10, "person_id")
    return _one(d, PERSONS, data, landed={raw[:2]}, raw_rule=raw)


@kind("bad_resident_id_check_digit", "check digits", "persons")
def _bad_ric(d: Delivery):  # noqa: ANN202
    value = field_of(d[PERSONS], 11, "person_id")
    wrong = value[:-1] + ("0" if value[-1] != "0" else "1")
    data = with_field(d[PERSONS], 11, "person_id", wrong)
    raw = (name_of(PERSONS), 11, "person_id")
    return _one(d, PERSONS, data, landed={raw[:2]}, raw_rule=raw)


@kind("bad_credit_code_check_digit", "check digits", "enterprises")
def _bad_uscc(d: Delivery):  # noqa: ANN202
    value = field_of(d[ENTERPRISES], 6, "credit_code")
    wrong = value[:-1] + ("0" if value[-1] != "0" else "1")
    data = with_field(d[ENTERPRISES], 6, "credit_code", wrong)
    raw = (name_of(ENTERPRISES), 6, "credit_code")
    return _one(d, ENTERPRISES, data, landed={raw[:2]}, raw_rule=raw)


@kind("unknown_item_code", "codes", "cases")
def _unknown_item(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 14, "item_code", "ZZ9999")
    raw = (name_of(CASES), 14, "item_code")
    return _one(d, CASES, data, landed={raw[:2]}, raw_rule=raw)


@kind("unknown_channel", "codes", "cases")
def _unknown_channel(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 15, "channel", "传真")
    raw = (name_of(CASES), 15, "channel")
    return _one(d, CASES, data, landed={raw[:2]}, raw_rule=raw)


@kind("unknown_region_code", "codes", "enterprises")
def _unknown_region(d: Delivery):  # noqa: ANN202
    data = with_field(d[ENTERPRISES], 7, "region", "339999")
    raw = (name_of(ENTERPRISES), 7, "region")
    return _one(d, ENTERPRISES, data, landed={raw[:2]}, raw_rule=raw)


@kind("formula_in_name", "codes", "persons")
def _formula(d: Delivery):  # noqa: ANN202
    data = with_field(d[PERSONS], 12, "name", '=HYPERLINK("x")')
    raw = (name_of(PERSONS), 12, "name")
    return _one(d, PERSONS, data, landed={raw[:2]}, raw_rule=raw)


@kind("missing_required_value", "codes", "cases")
def _missing(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 16, "submitted_at", "")
    raw = (name_of(CASES), 16, "submitted_at")
    return _one(d, CASES, data, landed={raw[:2]}, raw_rule=raw)


# dates and batches --------------------------------------------------------------------------
@kind("future_batch_id", "dates", "cases")
def _future(d: Delivery):  # noqa: ANN202
    future = "cases/cases_20991231.csv"
    return {**d, future: d[CASES]}, Expect(rejected={future: "later than today"})


@kind("impossible_batch_id", "dates", "persons")
def _impossible_batch(d: Delivery):  # noqa: ANN202
    bad = "persons/persons_20240230.csv"
    return {**d, bad: d[PERSONS]}, Expect(rejected={bad: "not a real date"})


@kind("updated_after_cutoff", "dates", "cases")
def _after_cutoff(d: Delivery):  # noqa: ANN202
    data = with_field(d[CASES], 17, "updated_at", "2030-01-01 09:00:00")
    raw = (name_of(CASES), 17, "updated_at")
    return _one(d, CASES, data, landed={raw[:2]}, raw_rule=raw)


@kind("accepted_before_submitted", "dates", "cases")
def _acc_before_sub(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[CASES])
    line = next(i for i, t in enumerate(lines[1:], start=2) if t.split(",")[11])
    data = with_field(d[CASES], line, "accepted_at", "2023-01-01 09:00:00")
    raw = (name_of(CASES), line, "accepted_at")
    return _one(d, CASES, data, landed={raw[:2]}, raw_rule=raw)


@kind("out_of_order_batches", "batches", "persons")
def _out_of_order(d: Delivery):  # noqa: ANN202
    later = {k: v for k, v in d.items() if "20241231" in k}
    earlier = {k: v for k, v in d.items() if "20241231" not in k}
    notes = {k: "arrives after batch 20241231" for k in earlier}
    return earlier, Expect(first_load=later, notes=notes)


# duplicates ---------------------------------------------------------------------------------
@kind("duplicate_row_in_file", "duplicates", "cases")
def _dup_row(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[CASES])
    data = join([*lines, lines[3]])
    return _one(d, CASES, data, landed={(name_of(CASES), 4), (name_of(CASES), len(lines) + 1)})


@kind("same_file_twice", "duplicates", "enterprises")
def _same_twice(d: Delivery):  # noqa: ANN202
    copy = "resent/enterprises_20240701.csv"
    return {**d, copy: d[ENTERPRISES]}, Expect(skipped={copy})


@kind("changed_file_for_a_loaded_batch", "duplicates", "persons")
def _changed_twice(d: Delivery):  # noqa: ANN202
    changed = with_field(d[PERSONS], 2, "status", "死亡")
    first = {**d, PERSONS: changed}
    fragment = "already loaded from persons_20240701.csv with different content"
    skipped = {k for k in d if k != PERSONS}  # the same files again: skipped
    return d, Expect(first_load=first, rejected={PERSONS: fragment}, skipped=skipped)


# headers and empty files ---------------------------------------------------------------------
@kind("header_only", "headers", "enterprises")
def _header_only(d: Delivery):  # noqa: ANN202
    data = join(text_lines(d[ENTERPRISES])[:1])
    return _one(d, ENTERPRISES, data)


@kind("zero_byte_file", "headers", "cases")
def _empty(d: Delivery):  # noqa: ANN202
    return _one(d, CASES, b"", rejected={CASES: "empty"})


@kind("unknown_column", "headers", "cases")
def _unknown_col(d: Delivery):  # noqa: ANN202
    lines = [line + ",x" for line in text_lines(d[CASES])]
    lines[0] = lines[0][:-2] + ",remark"
    return _one(d, CASES, join(lines), rejected={CASES: "unexpected column(s) 'remark'"})


@kind("missing_column", "headers", "persons")
def _missing_col(d: Delivery):  # noqa: ANN202
    lines = [",".join(t.split(",")[:-1]) for t in text_lines(d[PERSONS])]
    q = "missing required column(s) updated_at"
    return _one(d, PERSONS, join(lines), rejected={PERSONS: q})


@kind("no_header_line", "headers", "persons")
def _headerless(d: Delivery):  # noqa: ANN202
    data = join(text_lines(d[PERSONS])[1:])
    return _one(d, PERSONS, data, rejected={PERSONS: "lack its header line"})


@kind("header_reordered_and_upper_case", "headers", "enterprises")
def _reordered(d: Delivery):  # noqa: ANN202
    rows = [t.split(",") for t in text_lines(d[ENTERPRISES])]
    rows = [list(reversed(r)) for r in rows]
    rows[0] = [c.upper() for c in rows[0]]
    data = join([",".join(r) for r in rows])
    return _one(d, ENTERPRISES, data, landed={(name_of(ENTERPRISES), 2)})


@kind("semicolon_delimiter", "headers", "cases")
def _semicolon(d: Delivery):  # noqa: ANN202
    data = d[CASES].replace(b",", b";")
    return _one(d, CASES, data, rejected={CASES: "is the delimiter a comma"})


@kind("repeated_column", "headers", "enterprises")
def _repeated(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[ENTERPRISES])
    lines = [lines[0] + ",name"] + [t + ",x" for t in lines[1:]]
    return _one(d, ENTERPRISES, join(lines), rejected={ENTERPRISES: "repeated column"})


@kind("binary_file_named_csv", "headers", "cases")
def _binary(d: Delivery):  # noqa: ANN202
    data = b"PK\x03\x04" + bytes(range(256)) * 8
    return _one(d, CASES, data, rejected={CASES: "NUL bytes"})


@kind("csv_named_parquet", "headers", "persons")
def _not_parquet(d: Delivery):  # noqa: ANN202
    path = "persons/persons_20240702.parquet"
    return {**d, path: d[PERSONS]}, Expect(rejected={path: "not a readable Parquet"})


# line ends and bytes ------------------------------------------------------------------------
@kind("cr_only_line_ends", "line ends", "cases")
def _cr_only(d: Delivery):  # noqa: ANN202
    data = d[CASES].replace(b"\n", b"\r")
    last = len(text_lines(d[CASES]))
    return _one(d, CASES, data, landed={(name_of(CASES), 2), (name_of(CASES), last)})


@kind("mixed_line_ends", "line ends", "persons")
def _mixed(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[PERSONS])
    ends = ["\r\n", "\n", "\r"]
    data = "".join(t + ends[i % 3] for i, t in enumerate(lines)).encode("utf-8")
    return _one(d, PERSONS, data, landed={(name_of(PERSONS), i) for i in (2, 3, 4, len(lines))})


@kind("no_final_line_break", "line ends", "enterprises")
def _no_final(d: Delivery):  # noqa: ANN202
    data = d[ENTERPRISES].rstrip(b"\n")
    last = len(text_lines(d[ENTERPRISES]))
    return _one(d, ENTERPRISES, data, landed={(name_of(ENTERPRISES), last)})


@kind("nul_byte_in_first_64kb", "bytes", "cases")
def _nul_early(d: Delivery):  # noqa: ANN202
    value = field_of(d[CASES], 3, "dept_name")
    data = with_field(d[CASES], 3, "dept_name", value[:1] + "\x00" + value[1:])
    return _one(d, CASES, data, quarantined={(name_of(CASES), 3, "dept_name", "nul_byte")})


@kind("nul_byte_after_64kb", "bytes", "cases")
def _nul_late(d: Delivery):  # noqa: ANN202
    lines = text_lines(d[CASES])
    body = lines[1:] * (70_000 // len(d[CASES]) + 2)  # re-sent copies: land (raw suites)
    lines = [lines[0], *body]
    line = len(lines) - 2
    assert len(join(lines[: line - 1])) > 65_536
    data = with_field(join(lines), line, "dept_name", "民\x00政局")
    return _one(d, CASES, data, quarantined={(name_of(CASES), line, "dept_name", "nul_byte")})


@kind("one_megabyte_field", "bytes", "enterprises")
def _long_field(d: Delivery):  # noqa: ANN202
    data = with_field(d[ENTERPRISES], 8, "name", "企" * 340_000)  # 1.02 MB of UTF-8
    q = {(name_of(ENTERPRISES), 8, "name", "field_too_long")}
    return _one(d, ENTERPRISES, data, quarantined=q, landed={(name_of(ENTERPRISES), 9)})


@kind("twenty_megabyte_line", "bytes", "persons")
def _long_line(d: Delivery):  # noqa: ANN202
    data = with_field(d[PERSONS], 13, "name", "x" * (20 << 20))
    q = {(name_of(PERSONS), 13, None, "line_too_long")}
    return _one(d, PERSONS, data, quarantined=q, landed={(name_of(PERSONS), 14)})


def kinds_by_name() -> dict[str, Kind]:
    return {k.name: k for k in KINDS}


def line_breaks(data: bytes) -> int:
    return len(re.findall(rb"\r\n|\r|\n", data))
