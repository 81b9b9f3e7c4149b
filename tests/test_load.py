"""``subjectdb load``: raw extract → landing zone + load quarantine + reconciliation.

Hand-made files pin the edge cases (BOM, CRLF, quoted newlines, GBK, blank lines, bad bytes,
wrong format, missing columns); the generated session sample checks the loader against the
generator's defect manifest.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import duckdb
import opencc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from subjectdb import ingest
from subjectdb.config import Paths
from subjectdb.ingest import (
    EXTRACT_COLUMNS,
    FileReport,
    LoadError,
    framing,
    load_paths,
    print_reports,
    read_reconciliation,
    reader,
    reconcile,
    standardise,
)

CASE_COLS = list(EXTRACT_COLUMNS["cases"])


def cid(i: int) -> str:
    """Case number ``i`` in the contract's shape: province code, year, 8-digit sequence."""
    return f"3300002024{i:08d}"


def case_row(i: int, **values: str) -> list[str]:
    row = {
        "case_id": cid(i),
        "item_code": "330100001",
        "applicant_type": "自然人",
        "applicant_id": "33010619900101001X",
        "applicant_name": "张伟",
        "applicant_phone": "13800000000",
        "residence_region": "330106",
        "dept_name": "杭州市市场监督管理局",
        "dept_region": "330100",
        "channel": "网上办事大厅",
        "submitted_at": "2024-01-05 09:00:00",
        "accepted_at": "2024-01-05 10:00:00",
        "completed_at": "2024-01-09 16:30:00",
        "status": "已办结",
        "outcome": "准予",
        "promised_days": "5",
        "visits": "0",
        "elicence_reused": "是",
        "rating": "5",
        "updated_at": "2024-01-09 16:30:00",
    }
    row.update(values)
    return [row[c] for c in CASE_COLS]


def csv_text(rows: list[list[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(CASE_COLS)
    writer.writerows(rows)
    return buf.getvalue()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def data_dir(tmp_path: Path, name: str = "data") -> Paths:
    return Paths(tmp_path / name).ensure()


def landing(paths: Paths, extract: str = "cases") -> list[dict]:
    files = sorted((paths.landing / extract).glob("batch=*/part-0.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() if files else []


def quarantine(paths: Paths, extract: str = "cases") -> list[dict]:
    files = sorted((paths.load_quarantine / extract).glob("batch=*/part-0.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() if files else []


def only(reports: list[FileReport]) -> FileReport:
    assert len(reports) == 1
    return reports[0]


# --------------------------------------------------------------------------------------------
# Structure: BOM, CRLF, quoted newlines, cut rows, extra delimiters, blank lines
# --------------------------------------------------------------------------------------------


def test_bom_crlf_quoted_newlines_and_structural_defects(tmp_path: Path) -> None:
    good = csv_text([case_row(1)], "\r\n").splitlines(keepends=True)
    lines = [good[0]]  # header = line 1
    lines.append(csv_text([case_row(1)], "\r\n").splitlines(keepends=True)[1])  # line 2
    # line 3-4: a quoted newline inside dept_name (one row over two physical lines)
    lines.append(csv_text([case_row(2, dept_name="杭州市\r\n民政局")], "\r\n").split("\r\n", 1)[1])
    lines.append(",".join(case_row(3)[:12]) + "\r\n")  # line 5: cut short
    lines.append(",".join(case_row(4, dept_name="杭州,市")) + "\r\n")  # line 6: extra delimiter
    lines.append("\r\n")  # line 7: blank line
    lines.append(csv_text([case_row(5, applicant_name="多\n行\n名")], "\r\n").split("\r\n", 1)[1])
    # lines 8-10 above; lines 11-12: a cut row whose quoted value spans two lines: not the
    # header's fields, so a quoting error on line 11, and line 12 is read as a row of its own
    lines.append(f'{cid(6)},"330\r\n100001"\r\n')
    lines.append(",".join(case_row(7)))  # line 13, no final newline
    path = write(tmp_path / "raw" / "cases_20240131.csv", "\ufeff" + "".join(lines))

    paths = data_dir(tmp_path)
    report = only(load_paths([path], paths))

    assert not report.rejected, report.reason
    assert report.encoding == "utf-8-sig"
    assert (report.rows_read, report.rows_landed, report.rows_quarantined) == (9, 4, 5)
    assert report.lines == report.lines_accounted == 13
    landed = {r["case_id"]: r for r in landing(paths)}
    assert {case: r["_source_row"] for case, r in landed.items()} == {
        cid(1): 2,
        cid(2): 3,
        cid(5): 8,
        cid(7): 13,
    }
    assert landed[cid(2)]["dept_name"] == "杭州市\r\n民政局"
    assert landed[cid(7)]["updated_at"].isoformat() == "2024-01-09T16:30:00"
    q = {(r["_source_row"], r["column"], r["reason"]) for r in quarantine(paths)}
    assert q == {
        (5, "completed_at", "too_few_fields"),  # 12 of 20 fields: the first missing column
        (6, None, "too_many_fields"),
        (7, None, "too_few_fields"),
        (11, None, "quote_error"),
        (12, "item_code", "too_few_fields"),
    }
    cut = next(r for r in quarantine(paths) if r["_source_row"] == 5)
    assert cut["original"].startswith(f"{cid(3)},330100001")
    assert cut["_source_file"] == "cases_20240131.csv" and cut["stage"] == "load"
    rec = read_reconciliation(paths).to_pylist()
    assert [
        (r["file"], r["lines"], r["rows_read"], r["rows_landed"], r["rows_quarantined"])
        for r in rec
    ] == [("cases_20240131.csv", 13, 9, 4, 5)]


def test_row_numbers_match_a_reference_parser_across_many_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random quoted newlines and broken rows, read in tiny blocks: every line number exact."""
    monkeypatch.setattr(reader, "_CSV_BLOCK", 2048)
    rng = random.Random(11)
    out = [",".join(CASE_COLS) + "\n"]
    line = 2
    expected_landed: dict[str, int] = {}
    expected_bad: dict[int, str] = {}
    for i in range(400):
        roll = rng.random()
        # quoted line breaks in good rows; the cut and lengthened rows have none (a record
        # over several lines that is not the header's width is a quoting error: see above)
        name = "王\n芳" * rng.randint(1, 2) if rng.random() < 0.2 and roll >= 0.14 else "王芳"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(case_row(i, applicant_name=name))
        text = buf.getvalue()
        if roll < 0.08:
            text = text.rstrip("\n").rsplit(",", 3)[0] + "\n"
            expected_bad[line] = "too_few_fields"
        elif roll < 0.14:
            text = text.rstrip("\n") + ",extra\n"
            expected_bad[line] = "too_many_fields"
        else:
            expected_landed[cid(i)] = line
        out.append(text)
        line += text.count("\n")
    path = write(tmp_path / "cases_20240229.csv", "".join(out))
    paths = data_dir(tmp_path)
    report = only(load_paths([path], paths))
    assert report.rows_read == 400 and report.balanced
    assert {r["case_id"]: r["_source_row"] for r in landing(paths)} == expected_landed
    assert {r["_source_row"]: r["reason"] for r in quarantine(paths)} == expected_bad


def test_unterminated_quote_and_header_only_files(tmp_path: Path) -> None:
    """A quote that is never closed takes out its own line only: the rows after it load."""
    broken = csv_text([case_row(1)]) + ",".join(case_row(2)).replace("张伟", '"张伟', 1) + "\n"
    broken += ",".join(case_row(3)) + "\n"
    raw = tmp_path / "raw"
    write(raw / "cases_20240131.csv", broken)
    write(raw / "cases_20240229.csv", ",".join(CASE_COLS) + "\r\n")
    paths = data_dir(tmp_path)
    first, empty = load_paths([raw], paths)
    assert (first.rows_read, first.rows_landed, first.rows_quarantined) == (3, 2, 1)
    assert first.lines == first.lines_accounted == 4
    (q,) = quarantine(paths)
    assert (q["_source_row"], q["reason"]) == (3, "quote_error")
    assert q["original"] == ",".join(case_row(2)).replace("张伟", '"张伟', 1)
    assert sorted(r["_source_row"] for r in landing(paths)) == [2, 4]
    assert not empty.rejected and (empty.rows_read, empty.rows_landed) == (0, 0)
    assert empty.lines == 1


# --------------------------------------------------------------------------------------------
# Framing: the quote and line rules, against a line-by-line reference and against pyarrow
# --------------------------------------------------------------------------------------------


def _quote_state(text: bytes, state: str, fields: int, spans: bool) -> tuple[str, int, bool]:
    """pyarrow's quoting, one byte at a time: (state, fields, every spanning value closed
    properly). States: start of a field, unquoted, in quotes, quote seen in quotes."""
    clean = True
    for c in text:
        if state == "start":
            state = "in" if c == 34 else "start" if c == 44 else "unquoted"
            fields += c == 44
            spans = spans and state != "in"
        elif state == "unquoted" and c == 44:
            fields, state = fields + 1, "start"
        elif state == "in" and c == 34:
            state = "quote"
        elif state == "quote":
            if c == 34:
                state = "in"
                continue
            clean &= not spans or c == 44
            state = "start" if c == 44 else "unquoted"
            fields += c == 44
    return state, fields, clean


def _reference_frame(data: bytes, fields: int, max_line: int, max_lines: int):
    """The framer's rules written line by line: (bytes out, {line: reason}, lines)."""
    import re

    lines = [(m[1], m[2]) for m in re.finditer(rb"([^\r\n]*)(\r\n|\r|\n|$)", data)]
    if lines and lines[-1] == (b"", b""):
        lines.pop()
    out, replaced, i = [], {}, 0
    while i < len(lines):
        content, term = lines[i]
        if len(content) > max_line:
            replaced[i + 1] = "line_too_long"
            out.append(term or b"\n")
            i += 1
            continue
        state, n, clean = _quote_state(content, "start", 1, False)
        k, size, ok = i, len(content), True
        while state == "in":
            if not lines[k][1] or k + 1 == len(lines):
                ok = False  # still open at the end of the file
                break
            k += 1
            size += len(lines[k - 1][1]) + len(lines[k][0])
            state, n, more = _quote_state(lines[k][0], state, n, True)
            clean &= more
        if k > i and ok:
            ok = k - i + 1 <= max_lines and size <= max_line and n == fields and clean
        if ok:
            out += [c + t for c, t in lines[i : k + 1]]
            i = k + 1
        else:
            replaced[i + 1] = "quote_error"
            out.append(term or b"\n")
            i += 1
    return b"".join(out), replaced, len(lines)


def test_framer_follows_its_rules_in_any_read_sizes() -> None:
    """Random bytes of quotes, delimiters and LF / CRLF / CR, fed in random pieces, with tiny
    limits: the same bytes out, lines taken out and line count as the line-by-line rules."""
    rng = random.Random(3)
    atoms = [b"a", b"bc", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b'x"y', b',"q",', b"z" * 16]
    weights = [6, 4, 5, 2, 1, 2, 1, 1, 1, 1, 1]
    for _ in range(1500):
        data = b"".join(rng.choices(atoms, weights, k=rng.randint(0, 100)))
        max_line, max_lines = rng.choice([8, 16, 40, 1000]), rng.choice([1, 2, 3, 64])
        framer = framing.Framer(3, max_line=max_line, max_record_lines=max_lines)
        pieces, at = [], 0
        while at < len(data):
            size = rng.randint(1, 3 * max_line)
            pieces.append(framer.feed(data[at : at + size]))
            at += size
        pieces.append(framer.feed(b"", final=True))
        got = (b"".join(pieces), {k: v[0] for k, v in framer.replaced.items()}, framer.lines)
        assert got == _reference_frame(data, 3, max_line, max_lines), data


def test_framer_quoting_agrees_with_pyarrow() -> None:
    """Whether a line leaves a quote open, and its number of fields, as pyarrow parses it."""
    import pyarrow.csv as pacsv

    rng = random.Random(5)
    atoms = [b"a", b",", b'"', b'""', b"x", b',"', b'",']
    header = ",".join(f"c{i}" for i in range(30)).encode() + b"\n"
    for _ in range(1500):
        line = b"".join(rng.choices(atoms, k=rng.randint(1, 12)))
        state, fields, _ = _quote_state(line, "start", 1, False)
        invalid: list[tuple[int, int, str]] = []

        def handler(row: object, invalid: list[tuple[int, int, str]] = invalid) -> str:
            invalid.append((row.number, row.actual_columns, row.text))  # type: ignore[attr-defined]
            return "skip"

        pacsv.read_csv(
            io.BytesIO(header + line + b"\nS\n"),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header.decode().strip().split(","), pa.binary())
            ),
        )
        swallowed = invalid[0][0] == 2 and "\nS" in invalid[0][2]
        assert swallowed == (state == "in"), line
        if not swallowed:
            assert invalid[0][1] == fields, line


def test_framer_takes_out_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    """Over-long lines and quoting errors anywhere in a file: the line goes, the rest loads."""
    rows = [case_row(i) for i in range(1, 3001)]
    lines = csv_text(rows).splitlines(keepends=True)
    lines[5] = lines[5].replace("张伟", '"张伟', 1)  # line 6: a stray opening quote
    lines[2000] = lines[2000].replace("张伟", "张" + "伟" * 400_000, 1)  # line 2001: 1.2 MB
    lines[2500] = lines[2500].replace("张伟", '"张伟', 1)  # line 2501: another stray quote
    lines[2999] = lines[2999].replace("张伟", '"张伟', 1)  # line 3000: open at the end
    path = write(tmp_path / "cases_20240131.csv", "".join(lines))
    paths = data_dir(tmp_path)
    report = only(load_paths([path], paths))
    assert report.lines == report.lines_accounted == 3001
    assert (report.rows_read, report.rows_landed, report.rows_quarantined) == (3000, 2996, 4)
    q = {r["_source_row"]: (r["column"], r["reason"]) for r in quarantine(paths)}
    assert q == {
        6: (None, "quote_error"),
        2001: (None, "line_too_long"),
        2501: (None, "quote_error"),
        3000: (None, "quote_error"),
    }
    too_long = next(r for r in quarantine(paths) if r["_source_row"] == 2001)
    assert too_long["original"].endswith(" bytes)") and len(too_long["original"]) < 300


# --------------------------------------------------------------------------------------------
# Standardisation and typing
# --------------------------------------------------------------------------------------------


def test_text_is_standardised_without_damaging_cjk(tmp_path: Path) -> None:
    rows = [
        case_row(1, applicant_name=" 劉強 ", dept_name="紹興市人力資源和社會保障局"),
        case_row(2, promised_days="１２", applicant_id="３３０１０６１９９００１０１００１Ｘ"),
        case_row(3, residence_region="\u3000330106\u3000", applicant_name="乾隆", rating=""),
        case_row(4, applicant_name="王芳", channel="移动端", outcome=""),
    ]
    paths = data_dir(tmp_path)
    report = only(load_paths([write(tmp_path / "cases_20240131.csv", csv_text(rows))], paths))
    assert report.rows_landed == 4, report
    got = {r["case_id"]: r for r in landing(paths)}
    assert got[cid(1)]["applicant_name"] == "刘强"
    assert got[cid(1)]["dept_name"] == "绍兴市人力资源和社会保障局"
    assert got[cid(2)]["promised_days"] == 12
    assert got[cid(2)]["applicant_id"] == "33010619900101001X"
    assert got[cid(3)]["residence_region"] == "330106"
    assert got[cid(3)]["applicant_name"] == "乾隆"
    assert got[cid(3)]["rating"] is None  # empty → NULL, not a load error
    assert got[cid(4)]["applicant_name"] == "王芳"
    assert got[cid(4)]["channel"] == "移动端"
    assert got[cid(4)]["outcome"] is None


def test_standardiser_screen_never_misses_an_opencc_conversion() -> None:
    """Every character OpenCC t2s changes (alone or in its phrase table) passes the screen."""
    std = ingest.standardiser()
    cc = opencc.OpenCC("t2s")
    samples = ["劉", "強", "紹興", "資源", "乾燥", "著作", "頭髮", "瞭解", "麵", "臺灣", "ＡＢ１"]
    arr = pa.array(samples)
    assert std(arr).to_pylist() == [
        cc.convert(s.translate(standardise._FULLWIDTH)) for s in samples
    ]
    assert ingest.standardise_text("乾燥") == "干燥"


def test_landing_types_and_typing_errors(tmp_path: Path) -> None:
    rows = [
        case_row(1),
        case_row(2, submitted_at="2024-02-30 09:00:00"),
        case_row(3, visits="3.5", rating="五"),
        case_row(4, promised_days="99999999999"),
        case_row(5, applicant_id="", completed_at=""),
    ]
    paths = data_dir(tmp_path)
    report = only(load_paths([write(tmp_path / "cases_20240131.csv", csv_text(rows))], paths))
    assert (report.rows_read, report.rows_landed, report.rows_quarantined) == (5, 2, 3)
    q = sorted(
        (r["_source_row"], r["column"], r["reason"], r["original"]) for r in quarantine(paths)
    )
    assert q == [
        (3, "submitted_at", "bad_timestamp", "2024-02-30 09:00:00"),
        (4, "rating", "bad_integer", "五"),
        (4, "visits", "bad_integer", "3.5"),
        (5, "promised_days", "bad_integer", "99999999999"),
    ]
    assert report.quarantine_reasons == {"bad_timestamp": 1, "bad_integer": 3}
    assert set(ingest.REASONS) == {
        "too_few_fields",
        "too_many_fields",
        "quote_error",
        "line_too_long",
        "field_too_long",
        "nul_byte",
        "bad_timestamp",
        "bad_date",
        "bad_integer",
        "bad_decimal",
        "bad_identifier",
        "undecodable_text",
    }
    con = duckdb.connect()
    part = paths.landing_partition("cases", "20240131") / "part-0.parquet"
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM '{part}'").fetchall()}
    assert types["submitted_at"] == "TIMESTAMP" and types["promised_days"] == "INTEGER"
    assert types["case_id"] == "VARCHAR" and types["_source_row"] == "BIGINT"
    assert types["_batch_id"] == "VARCHAR" and types["_loaded_at"] == "TIMESTAMP"
    row5 = next(r for r in landing(paths) if r["case_id"] == cid(5))
    assert row5["applicant_id"] is None and row5["completed_at"] is None


def test_persons_and_enterprises_dates_and_decimals(tmp_path: Path) -> None:
    persons = (
        "person_id,name,phone,birth_date,sex,hukou_region,residence_region,status,status_date,"
        "updated_at\n"
        "330106199001010011,张三,,1990-01-01,男,330106,330106,常住,1990-01-01,2024-01-01 00:00:00\n"
        "330106199001010022,李四,,1990-13-01,女,330106,330106,常住,1990-01-01,2024-01-01 00:00:00\n"
    )
    enterprises = (
        "credit_code,name,legal_form,industry,size_class,registered_capital,established_date,"
        "closed_date,status,region,updated_at\n"
        "91330106MA2B000001,甲公司,有限责任公司,I,小型,100.50,2020-05-01,,存续,330106,"
        "2024-01-01 00:00:00\n"
        "91330106MA2B000002,乙公司,有限责任公司,I,小型,12.345,2020-05-01,,存续,330106,"
        "2024-01-01 00:00:00\n"
        "91330106MA2B000003,丙公司,有限责任公司,I,小型,一百,2020-05-01,,存续,330106,"
        "2024-01-01 00:00:00\n"
    )
    raw = tmp_path / "raw"
    write(raw / "persons_20240131.csv", persons)
    write(raw / "enterprises_20240131.csv", enterprises)
    paths = data_dir(tmp_path)
    reports = load_paths([raw], paths)
    assert [r.extract for r in reports] == ["enterprises", "persons"]
    assert all(r.balanced and not r.rejected for r in reports)
    assert [(r["_source_row"], r["reason"]) for r in quarantine(paths, "persons")] == [
        (3, "bad_date")
    ]
    assert sorted((r["_source_row"], r["reason"]) for r in quarantine(paths, "enterprises")) == [
        (3, "bad_decimal"),
        (4, "bad_decimal"),
    ]
    (ent,) = landing(paths, "enterprises")
    assert str(ent["registered_capital"]) == "100.50"
    assert ent["closed_date"] is None and ent["established_date"].isoformat() == "2020-05-01"


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------


def test_gbk_and_utf8_bom_files_land_identically(tmp_path: Path) -> None:
    rows = [
        case_row(1, applicant_name="劉強", dept_name="温州市民政局"),
        case_row(2, promised_days="１５", dept_name="绍兴市\n公安局"),
        case_row(3)[:5],
        case_row(4, channel="自助终端"),
    ]
    text = csv_text(rows, "\r\n")
    gbk = write(tmp_path / "gbk" / "cases_20240131.csv", text, "gbk")
    bom = write(tmp_path / "bom" / "cases_20240131.csv", "\ufeff" + text, "utf-8")
    a, b = data_dir(tmp_path, "a"), data_dir(tmp_path, "b")
    ra, rb = only(load_paths([gbk], a)), only(load_paths([bom], b))
    assert (ra.encoding, rb.encoding) == ("gbk", "utf-8-sig")
    assert (ra.rows_read, ra.rows_landed, ra.rows_quarantined) == (4, 3, 1)

    def strip(rows: list[dict]) -> list[dict]:
        return [
            {k: v for k, v in r.items() if k not in ("_loaded_at", "_quarantined_at")} for r in rows
        ]

    assert strip(landing(a)) == strip(landing(b))
    assert strip(quarantine(a)) == strip(quarantine(b))
    assert landing(a)[0]["applicant_name"] == "刘强"


def test_stated_encoding_overrides_detection(tmp_path: Path) -> None:
    text = csv_text([case_row(1, applicant_name="刘强")])
    path = write(tmp_path / "cases_20240131.csv", text, "gbk")
    paths = data_dir(tmp_path)
    report = only(load_paths([path], paths, encoding="GB18030"))
    assert report.encoding == "gb18030" and report.rows_landed == 1
    assert landing(paths)[0]["applicant_name"] == "刘强"
    with pytest.raises(LoadError, match="unsupported --encoding"):
        load_paths([path], data_dir(tmp_path, "x"), encoding="latin-9")


def test_undecodable_bytes_quarantine_the_row_not_the_file(tmp_path: Path) -> None:
    text = csv_text([case_row(1), case_row(2, applicant_name="BAD"), case_row(3)])
    raw = text.encode("utf-8").replace(b"BAD", b"\xff\xfe\xfa")
    path = tmp_path / "cases_20240131.csv"
    path.write_bytes(raw)
    paths = data_dir(tmp_path)
    report = only(load_paths([path], paths))
    assert (report.encoding, report.rows_landed, report.rows_quarantined) == ("utf-8", 2, 1)
    (q,) = quarantine(paths)
    assert (q["_source_row"], q["column"], q["reason"]) == (3, "applicant_name", "undecodable_text")
    assert q["original"] == "\\xff\\xfe\\xfa"


# --------------------------------------------------------------------------------------------
# Parquet input
# --------------------------------------------------------------------------------------------


def test_parquet_extract_lands_like_csv(tmp_path: Path) -> None:
    rows = [case_row(1, applicant_name="劉強"), case_row(2, visits="x"), case_row(3)]
    csv_path = write(tmp_path / "csv" / "cases_20240131.csv", csv_text(rows))
    table = pa.Table.from_pylist([dict(zip(CASE_COLS, r, strict=True)) for r in rows])
    table = table.set_column(
        CASE_COLS.index("submitted_at"),
        "submitted_at",
        pa.array([None, None, None], pa.string())
        .fill_null("2024-01-05 09:00:00")
        .cast(pa.timestamp("s")),
    )
    pq_path = tmp_path / "pq" / "cases_20240131.parquet"
    pq_path.parent.mkdir()
    pq.write_table(table, pq_path)
    a, b = data_dir(tmp_path, "a"), data_dir(tmp_path, "b")
    ra, rb = only(load_paths([csv_path], a)), only(load_paths([pq_path], b))
    assert (rb.rows_read, rb.rows_landed, rb.rows_quarantined) == (3, 2, 1)
    drop = ("_loaded_at", "_source_file")
    assert [{k: v for k, v in r.items() if k not in drop} for r in landing(a)] == [
        {k: v for k, v in r.items() if k not in drop} for r in landing(b)
    ]
    assert [r["_source_row"] for r in quarantine(b)] == [3]
    assert ra.balanced and rb.balanced


# --------------------------------------------------------------------------------------------
# Rejected files, idempotency, reconciliation, CLI
# --------------------------------------------------------------------------------------------


def test_broken_files_are_rejected_whole_and_others_still_load(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    good = write(raw / "cases_20240131.csv", csv_text([case_row(1)]))
    missing = write(
        raw / "persons_20240131.csv",
        "person_id,name,birth_date\n330106199001010011,张三,1990-01-01\n",
    )
    semicolon = write(raw / "cases_20240229.csv", csv_text([case_row(2)]).replace(",", ";"))
    not_parquet = write(raw / "enterprises_20240131.parquet", "credit_code,name\n1,2\n")
    unknown = write(raw / "other" / "orders_20240131.csv", "a,b\n1,2\n")
    bad_batch = write(raw / "cases_2024013.csv", csv_text([case_row(3)]))
    paths = data_dir(tmp_path)
    reports = {r.file.name: r for r in load_paths([raw, unknown, bad_batch], paths)}

    assert not reports[good.name].rejected and reports[good.name].rows_landed == 1
    expect = {
        missing.name: "missing required column(s) phone, sex",
        semicolon.name: "is the delimiter a comma",
        not_parquet.name: "not a readable Parquet file",
        unknown.name: "unknown extract 'orders'",
        bad_batch.name: "not a cut-off date YYYYMMDD",
    }
    for name, fragment in expect.items():
        r = reports[name]
        assert r.rejected and r.rows_landed == 0 and r.rows_quarantined == 0
        assert name in (r.reason or "") and fragment in (r.reason or ""), r.reason
    assert sorted(
        p.relative_to(paths.landing).as_posix() for p in paths.landing.rglob("*") if p.is_file()
    ) == ["cases/batch=20240131/part-0.parquet"]
    assert not list(paths.load_quarantine.glob("persons/**/*.parquet"))
    assert [r["file"] for r in read_reconciliation(paths).to_pylist()] == [good.name]
    assert not (paths.root / ".load-tmp").exists()


def test_an_unexpected_error_in_one_file_never_stops_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with one file (here a parser error quoting a row, and an error the
    loader did not foresee) rejects that file only, with a message that names it and masks
    the data it quotes; the other files of the command load."""
    raw = tmp_path / "raw"
    write(raw / "cases_20240131.csv", csv_text([case_row(1)]))
    write(raw / "cases_20240229.csv", csv_text([case_row(2)]))
    write(raw / "cases_20240331.csv", csv_text([case_row(3)]))
    run = reader.FileLoader.run

    def failing(self: reader.FileLoader, *args: object) -> object:
        if self.source.batch_id == "20240229":
            raise pa.ArrowInvalid(
                "CSV parse error: Expected 20 columns, got 3: 330106199001010011,张三,13800000000"
            )
        if self.source.batch_id == "20240331":
            raise RuntimeError("unforeseen: 13912345678")
        return run(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reader.FileLoader, "run", failing)
    paths = data_dir(tmp_path)
    ok, parse_error, unforeseen = load_paths([raw], paths, workers=1)
    assert ok.status == "loaded" and ok.rows_landed == 1
    assert parse_error.rejected and unforeseen.rejected
    for report in (parse_error, unforeseen):
        assert str(report.file) in (report.reason or "")
        for secret in ("330106199001010011", "张三", "13800000000", "13912345678"):
            assert secret not in (report.reason or ""), report.reason
    assert "330106***********1" in (parse_error.reason or "")
    assert "RuntimeError" in (unforeseen.reason or "") and "other files" in (
        unforeseen.reason or ""
    )
    assert [r["batch"] for r in read_reconciliation(paths).to_pylist()] == ["20240131"]


def test_loading_twice_changes_nothing(tmp_path: Path) -> None:
    rows = [case_row(1), case_row(2)[:3], case_row(3, visits="x")]
    raw = tmp_path / "raw"
    write(raw / "cases_20240131.csv", csv_text(rows))
    write(raw / "cases_20240229.csv", csv_text([case_row(4)]))
    paths = data_dir(tmp_path)
    first = load_paths([raw], paths)
    assert [r.status for r in first] == ["loaded", "loaded"]

    def snapshot() -> dict[str, tuple[int, bytes]]:
        return {
            str(p.relative_to(paths.root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in paths.root.rglob("*.parquet")
        }

    before = snapshot()
    second = load_paths([raw, raw / "cases_20240131.csv"], paths)
    assert [r.status for r in second] == ["already loaded", "already loaded"]
    console = Console(record=True, width=200)
    print_reports(second, console)
    assert "skipped cases_20240131.csv: already loaded" in console.export_text()
    assert [(r.rows_read, r.rows_landed, r.rows_quarantined) for r in second] == [
        (3, 1, 2),
        (1, 1, 0),
    ]
    assert snapshot() == before


def test_a_different_file_for_a_loaded_batch_is_rejected(tmp_path: Path) -> None:
    paths = data_dir(tmp_path)
    path = write(tmp_path / "a" / "cases_20240131.csv", csv_text([case_row(1)]))
    only(load_paths([path], paths))
    before = (paths.landing_partition("cases", "20240131") / "part-0.parquet").read_bytes()
    changed = write(tmp_path / "b" / "cases_20240131.csv", csv_text([case_row(1), case_row(2)]))
    report = only(load_paths([changed], paths))
    assert report.rejected and "already loaded from cases_20240131.csv" in (report.reason or "")
    after = (paths.landing_partition("cases", "20240131") / "part-0.parquet").read_bytes()
    assert before == after


def test_missing_path_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file or folder"):
        load_paths([tmp_path / "nope"], data_dir(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="no extract files found"):
        load_paths([tmp_path / "empty"], data_dir(tmp_path))


def test_print_reports_shows_reconciliation(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write(raw / "cases_20240131.csv", csv_text([case_row(1), case_row(2)[:4]]))
    write(raw / "persons_20240131.csv", "x\n1\n")
    reports = load_paths([raw], data_dir(tmp_path))
    console = Console(record=True, width=200)
    print_reports(reports, console)
    out = console.export_text()
    assert "rows read = landed + quarantined" in out
    assert "cases_20240131.csv" in out and "yes" in out
    assert "rejected: " in out and "persons_20240131.csv" in out
    assert "too_few_fields 1" in out


def test_cli_exits_1_when_a_file_is_rejected(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from subjectdb.cli import app

    raw = tmp_path / "raw"
    write(raw / "cases_20240131.csv", csv_text([case_row(1)]))
    runner = CliRunner()
    ok = runner.invoke(app, ["load", str(raw), "--data-dir", str(tmp_path / "d")])
    assert ok.exit_code == 0, ok.output
    write(raw / "persons_20240131.csv", "x\n1\n")
    bad = runner.invoke(app, ["load", str(raw), "--data-dir", str(tmp_path / "d")])
    assert bad.exit_code == 1
    missing = runner.invoke(app, ["load", str(tmp_path / "nope"), "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1


# --------------------------------------------------------------------------------------------
# The generated sample (session fixtures): the loader against the generator's manifest
# --------------------------------------------------------------------------------------------


def _manifest(raw_sample) -> list[dict[str, str]]:
    with Path(raw_sample.manifest).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_generated_sample_reconciles_per_file(raw_sample, loaded: Paths) -> None:
    rec = read_reconciliation(loaded).to_pylist()
    files = sorted(Path(f).name for f in raw_sample.files if Path(f).name != "manifest.csv")
    assert sorted(r["file"] for r in rec) == files
    con = duckdb.connect()
    for r in rec:
        assert r["rows_read"] == r["rows_landed"] + r["rows_quarantined"], r
        part = loaded.landing_partition(r["extract"], r["batch"]) / "part-0.parquet"
        (n,) = con.execute(f"SELECT count(*) FROM '{part}'").fetchone()
        assert n == r["rows_landed"]
        assert len(r["sha256"]) == 64


def test_every_structural_defect_is_quarantined_at_its_row(raw_sample, loaded: Paths) -> None:
    reason = {
        "row_cut_short": "too_few_fields",
        "extra_delimiter": "too_many_fields",
        "stray_quote": "quote_error",
        "excel_mangled_id": "bad_identifier",
    }
    structural = [m for m in _manifest(raw_sample) if m["kind"] in reason]
    assert structural, "the sample should contain structural defects"
    con = duckdb.connect()
    got = set(
        con.execute(
            f"SELECT _source_file, _source_row, reason FROM "
            f"read_parquet('{loaded.load_quarantine}/*/*/part-0.parquet')"
        ).fetchall()
    )
    assert {m["kind"] for m in structural} == set(reason)
    missing = [
        m for m in structural if (Path(m["file"]).name, int(m["row"]), reason[m["kind"]]) not in got
    ]
    assert not missing, missing[:5]
    # and nothing else was quarantined at load: no false positives
    expected = {(Path(m["file"]).name, int(m["row"])) for m in structural}
    extra = {(f, r) for f, r, _ in got} - expected
    assert not extra, sorted(extra)[:5]


def test_generated_traditional_and_fullwidth_values_are_standardised(
    raw_sample, loaded: Paths
) -> None:
    kinds = ("traditional_chars", "fullwidth_digits")
    entries = [m for m in _manifest(raw_sample) if m["kind"] in kinds]
    assert entries, "the sample should contain traditional characters and full-width digits"
    con = duckdb.connect()
    cc = opencc.OpenCC("t2s")
    checked = 0
    for m in entries:
        extract = Path(m["file"]).name.split("_", 1)[0]
        column = m["column"]
        rows = con.execute(
            f'SELECT CAST("{column}" AS VARCHAR) FROM '
            f"read_parquet('{loaded.landing / extract}/*/part-0.parquet') "
            "WHERE _source_file = ? AND _source_row = ?",
            [Path(m["file"]).name, int(m["row"])],
        ).fetchall()
        if not rows:  # the same row may also carry a defect that quarantined it
            continue
        (value,) = rows[0]
        if value is None:
            continue
        assert not any("\uff10" <= ch <= "\uff19" for ch in value), (m, value)
        assert cc.convert(value) == value, (m, value)
        checked += 1
    assert checked >= len(entries) // 2


def _tiny_sample(out: Path, fmt: str):
    from subjectdb.synth import generate

    return generate(
        out=out,
        province="330000",
        persons=600,
        enterprises=80,
        cases=1500,
        years=(2024, 2025),
        batches=2,
        fmt=fmt,
        defect_rate=0.03,
        seed=5,
    )


def test_generated_gbk_and_utf8_extracts_land_identically(tmp_path: Path) -> None:
    utf8 = _tiny_sample(tmp_path / "utf8", "csv")
    gbk = _tiny_sample(tmp_path / "gbk", "csv-gbk")
    a, b = data_dir(tmp_path, "a"), data_dir(tmp_path, "b")
    ra, rb = load_paths([utf8.out], a), load_paths([gbk.out], b)
    assert {r.encoding for r in ra} == {"utf-8"} and {r.encoding for r in rb} == {"gbk"}
    assert [(r.file.name, r.rows_read, r.rows_landed, r.rows_quarantined) for r in ra] == [
        (r.file.name, r.rows_read, r.rows_landed, r.rows_quarantined) for r in rb
    ]
    con = duckdb.connect()

    def rel(p: Paths, folder: str, extract: str, stamp: str) -> str:
        glob = p.root / folder / extract / "*" / "part-0.parquet"
        return f"SELECT * EXCLUDE ({stamp}) FROM read_parquet('{glob}')"

    for extract in ("cases", "persons", "enterprises"):
        for folder, stamp in (("landing", "_loaded_at"), ("quarantine/load", "_quarantined_at")):
            x, y = rel(a, folder, extract, stamp), rel(b, folder, extract, stamp)
            diff = con.execute(
                f"SELECT count(*) FROM (({x} EXCEPT ALL {y}) UNION ALL ({y} EXCEPT ALL {x}))"
            ).fetchone()
            assert diff == (0,), (extract, folder)


def test_generated_parquet_extracts_load(tmp_path: Path) -> None:
    sample = _tiny_sample(tmp_path / "pq", "parquet")
    paths = data_dir(tmp_path)
    reports = load_paths([sample.out], paths)
    assert len(reports) == 6 and {r.encoding for r in reports} == {"parquet"}
    for r in reports:
        assert not r.rejected and r.balanced, r
        assert r.rows_read == pq.ParquetFile(r.file).metadata.num_rows
    (rows,) = landing(paths, "cases")[:1]
    assert rows["_source_row"] >= 2 and rows["submitted_at"] is not None


def test_a_second_concurrent_load_is_refused(tmp_path: Path) -> None:
    import fcntl

    paths = data_dir(tmp_path)
    path = write(tmp_path / "cases_20240131.csv", csv_text([case_row(1)]))
    with (paths.root / ".load.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(LoadError, match="another `subjectdb load` is running"):
            load_paths([path], paths)
    assert only(load_paths([path], paths)).rows_landed == 1


# --------------------------------------------------------------------------------------------
# Throughput machinery: parallel files, ordered commits, screens that must never miss
# --------------------------------------------------------------------------------------------


def _rows_without_load_time(paths: Paths) -> dict[str, list[tuple]]:
    con = duckdb.connect()
    out: dict[str, list[tuple]] = {}
    for kind, root, stamp in (
        ("landing", paths.landing, "_loaded_at"),
        ("quarantine", paths.load_quarantine, "_quarantined_at"),
    ):
        for extract in ("cases", "persons", "enterprises"):
            files = f"{root}/{extract}/batch=*/part-0.parquet"
            out[f"{kind}/{extract}"] = con.execute(
                f"SELECT * EXCLUDE ({stamp}) FROM read_parquet('{files}', hive_partitioning=false) "
                "ORDER BY ALL"
            ).fetchall()
    return out


def test_parallel_load_lands_exactly_like_one_file_at_a_time(
    raw_sample, loaded: Paths, tmp_path: Path
) -> None:
    """``loaded`` used the default workers (2); one at a time must give the very same rows."""
    serial = data_dir(tmp_path, "serial")
    reports = load_paths([raw_sample.out], serial, workers=1)
    assert all(r.balanced and not r.rejected for r in reports)
    assert _rows_without_load_time(serial) == _rows_without_load_time(loaded)
    keep = ["file", "extract", "batch", "sha256", "encoding"]
    counts = ["rows_read", "rows_landed", "rows_quarantined"]
    rec_serial = read_reconciliation(serial).select(keep + counts).to_pylist()
    assert rec_serial == read_reconciliation(loaded).select(keep + counts).to_pylist()
    assert len(rec_serial) == len(reports)


def test_parallel_reports_and_commits_follow_batch_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed: list[str] = []
    upsert = reconcile.Reconciliation.upsert

    def recording(self: reconcile.Reconciliation, rows: list[dict]) -> None:
        committed.extend(r["batch"] for r in rows)
        upsert(self, rows)

    monkeypatch.setattr(reconcile.Reconciliation, "upsert", recording)
    raw = tmp_path / "raw"
    batches = ["20240105", "20240101", "20240103", "20240102", "20240104"]
    for i, batch in enumerate(batches):
        rows = [case_row(i * 100 + k) for k in range(1 + 40 * (i % 2))]
        write(raw / f"cases_{batch}.csv", csv_text(rows))
    paths = data_dir(tmp_path)
    reports = load_paths([raw], paths, workers=2)
    assert [r.batch_id for r in reports] == sorted(batches)
    assert all(r.status == "loaded" for r in reports)
    rec = read_reconciliation(paths).to_pylist()
    assert [r["batch"] for r in rec] == sorted(batches)
    assert committed == sorted(batches)  # a later batch is never committed before an earlier
    assert all(r.rows_read == r.rows_landed for r in reports)
    leftovers = [p for p in (tmp_path / "data").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_two_files_for_one_batch_in_one_load_never_stage_together(tmp_path: Path) -> None:
    """The second file for an extract and batch is judged against the first one's commit."""
    raw = tmp_path / "raw"
    write(raw / "a" / "cases_20240131.csv", csv_text([case_row(1)]))
    write(raw / "b" / "cases_20240131.csv", csv_text([case_row(1), case_row(2)]))
    write(raw / "c" / "persons_20240131.csv", "person_id\n1\n")  # rejected: bad header
    same = write(raw / "d" / "cases_20240201.csv", csv_text([case_row(3)]))
    twin = write(tmp_path / "twin" / "cases_20240201.csv", same.read_text(encoding="utf-8"))
    paths = data_dir(tmp_path)
    reports = load_paths([raw, twin], paths, workers=2)
    by_status = sorted((r.file.parent.name, r.file.name, r.status) for r in reports)
    assert by_status == [
        ("a", "cases_20240131.csv", "loaded"),
        ("b", "cases_20240131.csv", "rejected"),
        ("c", "persons_20240131.csv", "rejected"),
        ("d", "cases_20240201.csv", "loaded"),
        ("twin", "cases_20240201.csv", "already loaded"),
    ]
    assert [r["case_id"] for r in landing(paths)] == [cid(1), cid(3)]
    assert list(paths.landing.glob("persons/*/*")) == []


def test_load_workers_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ingest.WORKERS_ENV, "3")
    assert ingest.load_workers() == 3
    monkeypatch.setenv(ingest.WORKERS_ENV, "many")
    with pytest.raises(LoadError, match="SUBJECTDB_LOAD_WORKERS"):
        ingest.load_workers()
    monkeypatch.setenv(ingest.WORKERS_ENV, "0")
    with pytest.raises(LoadError, match="at least 1"):
        ingest.load_workers()
    monkeypatch.delenv(ingest.WORKERS_ENV)
    assert 1 <= ingest.load_workers() <= 2
    path = write(tmp_path / "raw" / "cases_20240131.csv", csv_text([case_row(1)]))
    with pytest.raises(LoadError, match="at least 1"):
        load_paths([path], data_dir(tmp_path), workers=0)


def test_quarantine_counts_agree_in_arrow_and_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small quarantine files are counted with Arrow, large ones with DuckDB: same answer."""
    rows = [case_row(1), case_row(2, visits="x", rating="y"), case_row(3)[:5], case_row(4)]
    rows.append(case_row(5, submitted_at="2024-02-30 00:00:00"))
    text = csv_text(rows)
    results = []
    for limit in (reconcile._ARROW_QUARANTINE_COUNT, 0):
        monkeypatch.setattr(reconcile, "_ARROW_QUARANTINE_COUNT", limit)
        path = write(tmp_path / f"raw{limit}" / "cases_20240131.csv", text)
        report = only(load_paths([path], data_dir(tmp_path, f"data{limit}")))
        results.append((report.rows_read, report.rows_quarantined, report.quarantine_reasons))
    assert results[0] == results[1]
    assert results[0] == (
        5,
        3,
        {"bad_integer": 2, "too_few_fields": 1, "bad_timestamp": 1},
    )


def test_trim_screen_never_misses_whitespace() -> None:
    """``_may_need_trim`` may say yes needlessly, never no when Arrow's trim changes a value."""
    points = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    singles = pa.array(points, pa.string())
    trimmed = pc.utf8_trim_whitespace(singles)
    spaces = [p for p, t in zip(points, trimmed.to_pylist(), strict=True) if t != p]
    assert " " in spaces and "\u3000" in spaces and "\u00a0" in spaces
    for space in spaces:
        for value in (space, "中" + space, space + "中", "a" + space, space + "𠀀", "ab" + space):
            assert standardise._may_need_trim(pa.array(["x", value, None])), repr(value)
    plain = ["中文", "abc", "é", "𠀀", "！", "ａ", "", None]
    # U+3000–U+3FFF share their first byte with the ideographic space: a needless yes.
    assert standardise._may_need_trim(pa.array(["a、"]))
    assert not standardise._may_need_trim(pa.array(plain, pa.string()))
    assert not standardise._may_need_trim(pa.array(plain, pa.string()).slice(1))
    std = ingest.standardiser()
    assert std(pa.array(["  中文 ", "\u3000ａ\u3000", "", "x"])).to_pylist() == [
        "中文",
        "a",
        None,
        "x",
    ]


def test_small_and_large_screens_convert_the_same() -> None:
    """Few values are screened in Python, many with RE2: both must convert the same values."""
    std = ingest.standardiser()
    values = ["乾燥", "乾隆", "門診", "ＡＢＣ１２３", "中文", "abc", None, "後臺", "台灣"]
    small = std(pa.array(values, pa.string())).to_pylist()
    large_input = pa.array(values * (standardise._SMALL_SCREEN // len(values) + 1), pa.string())
    large = std(large_input).to_pylist()[: len(values)]
    assert small == large
    assert small[:4] == ["干燥", "乾隆", "门诊", "ABC123"]
