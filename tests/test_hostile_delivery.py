"""Hostile deliveries: each kind of corruption of tests/hostile.py applied to a tiny clean
delivery (all three extracts, two batches), loaded with ``subjectdb load``'s ``load_paths``
in one command with the clean files beside it.

Each kind has its outcome: the file rejected whole with an error that names it, or loaded
with rows read = landed + quarantined, its physical lines all accounted for, and every
quarantined row naming file, row, column (NULL only for a whole-line problem) and reason.
For every kind: no other file is rejected, no row is lost (every data line of a loaded file
lands or is quarantined, exactly once), and no message shows a personal value. Value
defects land and are left to the raw suites (checked together at the end).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hostile import KINDS, Delivery, Kind, personal_values
from rich.console import Console

from subjectdb.config import EXTRACTS, Paths
from subjectdb.ingest import REASONS, ROW_REASONS, FileReport, load_paths, print_reports


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Delivery:
    from hostile import BASE

    from subjectdb.synth import generate

    out = tmp_path_factory.mktemp("clean") / "raw"
    result = generate(out=out, **BASE)  # type: ignore[arg-type]
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in result.files}


def _write(root: Path, delivery: Delivery) -> Path:
    for rel, data in delivery.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _physical_lines(data: bytes) -> int:
    breaks = len(re.findall(rb"\r\n|\r|\n", data))
    return breaks + (1 if data and not data.endswith((b"\n", b"\r")) else 0)


def _breaks(text: str | None) -> int:
    return len(re.findall(r"\r\n|\r|\n", text or ""))


def _rows(root: Path, name: str) -> list[dict]:
    """The rows of one source file in a landing or quarantine folder of one extract."""
    rows: list[dict] = []
    for f in sorted(root.glob("batch=*/part-0.parquet")):
        rows += [r for r in pq.read_table(f).to_pylist() if r["_source_file"] == name]
    return rows


def load(kind: Kind, clean: Delivery, tmp: Path):  # noqa: ANN201
    delivery, expect = kind.build(dict(clean))
    paths = Paths(tmp / "data").ensure()
    if expect.first_load is not None:
        load_paths([_write(tmp / "first", expect.first_load)], paths)
    raw = _write(tmp / "raw", delivery)
    reports = load_paths([raw], paths)
    return delivery, expect, paths, raw, reports


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_hostile_delivery(kind: Kind, clean: Delivery, tmp_path: Path) -> None:
    delivery, expect, paths, raw, reports = load(kind, clean, tmp_path)
    by_path: dict[str, FileReport] = {r.file.relative_to(raw).as_posix(): r for r in reports}
    assert set(by_path) == set(delivery), "every file is reported"

    # each file: rejected whole (naming the file), skipped, or loaded and reconciled
    for path, r in by_path.items():
        if path in expect.rejected:
            assert r.rejected, (path, r.status)
            assert str(r.file) in (r.reason or "") and expect.rejected[path] in (r.reason or ""), (
                r.reason
            )
            continue
        if path in expect.skipped:
            assert r.status == "already loaded", (path, r.status, r.reason)
            continue
        assert r.status == "loaded", (path, r.status, r.reason)
        assert r.rows_read == r.rows_landed + r.rows_quarantined
        if r.file.suffix == ".csv":
            assert r.lines == r.lines_accounted == _physical_lines(delivery[path]), path
        if path in expect.encoding:
            assert r.encoding == expect.encoding[path]
        for note_path, fragment in expect.notes.items():
            if note_path == path:
                assert any(fragment in n for n in r.notes), (path, r.notes)

    # the load quarantine: exactly the expected rows, each naming file, row, column, reason
    all_q = [
        row
        for extract in EXTRACTS
        for f in sorted((paths.load_quarantine / extract).glob("batch=*/part-0.parquet"))
        for row in pq.read_table(f).to_pylist()
    ]
    got = {(r["_source_file"], r["_source_row"], r["column"], r["reason"]) for r in all_q}
    assert got == expect.quarantined
    for r in all_q:
        assert r["_source_file"] and r["_source_row"] >= 2 and r["reason"] in REASONS, r
        blank = r["reason"] == "too_few_fields" and r["original"] == ""
        assert (r["column"] is None) == (r["reason"] in ROW_REASONS or blank), r

    # rows lost: every data line of a loaded file lands or is quarantined, exactly once
    for r in by_path.values():
        if r.status != "loaded" or r.file.suffix != ".csv":
            continue
        name = r.file.name
        landed = _rows(paths.landing / r.extract, name)  # type: ignore[operator]
        quarantined = _rows(paths.load_quarantine / r.extract, name)  # type: ignore[operator]
        assert len(landed) == r.rows_landed
        covered: list[int] = []
        for row in landed:
            span = sum(_breaks(v) for k, v in row.items() if isinstance(v, str) and k[0] != "_")
            # a value over several lines only where the kind has one: never rows swallowed
            assert (span > 0) == ((name, row["_source_row"]) in expect.spans), row
            covered += range(row["_source_row"], row["_source_row"] + span + 1)
        for line in {row["_source_row"]: row for row in quarantined}.values():
            span = _breaks(line["original"]) if line["column"] is None else 0
            covered += range(line["_source_row"], line["_source_row"] + span + 1)
        assert sorted(covered) == list(range(2, (r.lines or 1) + 1)), f"rows lost in {name}"
        for file_name, line in expect.landed:
            if file_name == name:
                assert line in {row["_source_row"] for row in landed}, (name, line)

    # no message shows a personal value (rejections, the printed table and notes)
    console = Console(record=True, width=300)
    print_reports(reports, console)
    printed = console.export_text()
    secrets = personal_values(delivery) | personal_values(expect.first_load or {})
    shown = [s for s in secrets if s in printed]
    assert shown == [], shown[:3]


def test_the_set_covers_the_issue() -> None:
    """At least 30 kinds, over the three extracts and every category issue 17 names."""
    assert len(KINDS) >= 30
    assert len({k.name for k in KINDS}) == len(KINDS)
    assert {e for k in KINDS for e in k.extracts} == set(EXTRACTS)
    categories = {k.category for k in KINDS}
    assert {
        "encoding",
        "quoting",
        "truncation",
        "types",
        "codes",
        "check digits",
        "dates",
        "duplicates",
        "batches",
        "headers",
        "line ends",
        "bytes",
        "identifiers",
    } <= categories


ONE_LINE_KINDS = (
    "stray_opening_quote",
    "row_cut_short",
    "impossible_timestamp",
    "excel_mangled_case_id",
    "nul_byte_in_first_64kb",
    "undecodable_bytes",
    "impossible_date",
    "extra_delimiter",
    "decimal_needs_rounding",
)
"""Loader kinds that change one line each, none the same: they fit in one delivery."""


def test_a_hostile_delivery_builds_on_what_landed(clean: Delivery, tmp_path: Path) -> None:
    """One delivery with a one-line loader defect of each kind above and every value defect
    the loader leaves to the standards (check digits, codes, dates, formulas, a required
    value, a resident ID a spreadsheet mangled): it loads with only the loader's rows
    quarantined, and ``build`` succeeds on what landed, with the raw suites quarantining
    exactly the value-defect rows at their column. No single row stops the build."""
    from subjectdb.warehouse.build import build

    delivery = dict(clean)
    rules: dict[str, tuple[str, int, str]] = {}
    loader_rows: set[tuple[str, int, str | None, str]] = set()
    for k in KINDS:
        _, expect = k.build(clean)
        if expect.raw_rule is not None:
            rules[k.name] = expect.raw_rule
        elif k.name in ONE_LINE_KINDS:
            loader_rows |= expect.quarantined
        else:
            continue
        delivery, _ = k.build(delivery)
    touched = [(f, line) for f, line, _ in rules.values()] + [(f, r) for f, r, _, _ in loader_rows]
    assert len(set(touched)) == len(touched) == len(rules) + len(ONE_LINE_KINDS)

    paths = Paths(tmp_path / "data").ensure()
    reports = load_paths([_write(tmp_path / "raw", delivery)], paths)
    assert all(r.status == "loaded" and r.balanced for r in reports)
    q = {
        (row["_source_file"], row["_source_row"], row["column"], row["reason"])
        for row in _all_rows(paths.load_quarantine)
    }
    assert q == loader_rows

    result = build(paths)
    assert result.ok, result.summary()
    flagged: dict[tuple[str, int], set[str]] = {}
    for row in _all_rows(paths.suite_quarantine):
        key = (row["_source_file"], row["_source_row"])
        flagged.setdefault(key, set()).update((row["column"] or "").split(","))
    for name, (file_name, line, column) in rules.items():
        assert column in flagged.get((file_name, line), set()), (
            name,
            flagged.get((file_name, line)),
        )
    assert set(flagged) == {(f, line) for f, line, _ in rules.values()}


def _all_rows(root: Path) -> list[dict]:
    return [row for f in sorted(root.rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]
