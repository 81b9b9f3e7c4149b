"""Great Expectations raw suites and publication gates (subjectdb.quality), and the release's
open-data gate (subjectdb.release.checks).

Three layers: the vectorised standards against python-stdnum; the raw suites and gates on small
hand-made landing batches / warehouses (exact rows and reasons); and the generator's defect
manifest through the real loader and build (the session fixtures).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import SAMPLE, copy_data
from stdnum.cn import ric, uscc

from subjectdb import quality as v
from subjectdb.config import SEEDS_DIR, Paths
from subjectdb.contract import QUARANTINE_SCHEMA
from subjectdb.quality import expectations as custom_expectations
from subjectdb.quality import raw_suites
from subjectdb.quality.expectations import (
    reference,
    starts_formula,
    valid_gb11643_values,
    valid_gb32100_values,
)
from subjectdb.release import checks

# Manifest defect kind → the expectation that must catch it (reason in the quarantine).
STANDARD_KINDS = {
    "bad_id_check_digit": "expect_column_values_to_be_valid_gb11643_resident_id",
    "bad_credit_code_check_digit": "expect_column_values_to_be_valid_gb32100_credit_code",
    "unknown_item_code": "expect_column_values_to_be_in_service_catalog",
    "accepted_before_submitted": "expect_column_pair_values_a_to_be_greater_than_b",
    "future_date": "expect_column_values_to_not_be_after_batch_cutoff",
    "missing_required": "expect_column_values_to_not_be_null",
    "formula_text": "expect_column_values_to_not_start_a_spreadsheet_formula",
}
# Kinds other owners handle: the loader (structure, standardisation), dbt staging (retired
# codes are mapped, re-sent duplicates resolved by latest state). The raw suites must not flag.
NOT_MINE = (
    "row_cut_short",
    "extra_delimiter",
    "traditional_chars",
    "fullwidth_digits",
    "duplicate_resent",
    "retired_region_code",
)


# ------------------------------------------------------------------------------------------
# Vectorised standards agree with python-stdnum
# ------------------------------------------------------------------------------------------


def test_gb11643_matches_stdnum() -> None:
    rnd = random.Random(11643)
    codes = ["330106", "110105", "440305", "330102", "330104", "999999", "110103"]
    ids = []
    for _ in range(5000):
        y, m, d = rnd.randint(1900, 2025), rnd.randint(1, 13), rnd.randint(1, 31)
        base = f"{rnd.choice(codes)}{y:04d}{m:02d}{d:02d}{rnd.randint(0, 999):03d}"
        check = ric.calc_check_digit(base + "0")
        if rnd.random() < 0.3:
            check = rnd.choice("0123456789X")
        if rnd.random() < 0.05:
            check = check.lower()
        ids.append(base + check)
    ids += ["", "abc", "33010619800101001", "3301061980010100123", "33010619800101001Y"]
    valid = valid_gb11643_values(pd.Series(ids))
    assert 500 < len(valid) < 5000
    assert [i for i in ids if (i in valid) != ric.is_valid(i)] == []


def test_gb32100_matches_stdnum() -> None:
    rnd = random.Random(32100)
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    codes = []
    for _ in range(5000):
        base = "".join(rnd.choice("0123456789") for _ in range(8))
        base += "".join(rnd.choice(alphabet) for _ in range(9))
        check = uscc.calc_check_digit(base)
        if rnd.random() < 0.3:
            check = rnd.choice(alphabet)
        codes.append(base + check if rnd.random() > 0.05 else (base + check).lower())
    codes += ["91330106MA2AAAAA0I", "", "9133010"]
    valid = valid_gb32100_values(pd.Series(codes))
    assert 500 < len(valid) < 5000
    assert [c for c in codes if (c in valid) != uscc.is_valid(c)] == []


def test_address_code_years_match_stdnum_birth_place() -> None:
    """The address-code table is read once per code; the year rule must stay stdnum's."""
    from stdnum.exceptions import ValidationError

    checked = 0
    for code in [f"33{a:02d}{b:02d}" for a in range(12) for b in range(30)] + ["999999"]:
        for year in (1949, 1983, 1996, 2005, 2015, 2024):
            try:
                ric.get_birth_place(f"{code}{year:04d}01010000")
                expected = True
            except ValidationError:
                expected = False
            except KeyError:  # stdnum: an entry without a county level
                expected = False
            assert custom_expectations._address_code_valid(code, year) == expected, (code, year)
            checked += expected
    assert checked > 100


def test_per_value_checks_agree_on_categoricals_and_across_chunks() -> None:
    """The runner hands text to GX as categoricals and the ID check is cached per chunk's
    categories: row results must equal the plain-object path, chunk after chunk."""
    good = "33010619900101" + "001"
    good += ric.calc_check_digit(good)
    other = "11010519851231" + "002"
    other += ric.calc_check_digit(other)
    chunks = [
        pd.Series([good, "330106199001010010", None, good, other.lower()]),
        pd.Series([other, good[:-1] + "Y", "", None]),
    ]
    for values in chunks:
        expected = [isinstance(x, str) and ric.is_valid(x) for x in values]
        as_category = values.astype("category")
        assert custom_expectations.valid_gb11643_resident_id(values).tolist() == expected
        assert custom_expectations.valid_gb11643_resident_id(as_category).tolist() == expected
        assert custom_expectations.valid_gb11643_resident_id(as_category).tolist() == expected
        formula = pd.Series(["=x", "x", None, "-1"] * 2)
        assert (
            starts_formula(formula.astype("category")).tolist() == starts_formula(formula).tolist()
        )
    custom_expectations.clear_cache()


def test_gate_patterns_run_on_re2_and_agree_with_python_re() -> None:
    """Personal-data patterns stay RE2-compatible (pandas runs them with pyarrow, several
    times faster than Python's re) and mean the same under both engines."""
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    texts = [
        "330106199001010011",
        "a330106199001010011",
        "号码:330106199001010011。",
        "91330106MA2AAAA01E",
        "电话13812345678",
        "x13812345678",
        "欧阳娜娜",
        "王小明",
        "王小市",
        "金华市",
        "诸葛亮亮亮",
        "",
    ]
    arr = pa.array(texts)
    for name, pattern in v.load_gates_config()["pii"]["patterns"].items():
        re2 = pc.match_substring_regex(arr, pattern).to_pylist()  # raises if not RE2 syntax
        assert re2 == [re.search(pattern, t) is not None for t in texts], name


def test_formula_prefixes() -> None:
    s = pd.Series(["=1+1", "+8613800000000", "-2", "@SUM(A1)", "\tx", "\rx", "张三", None, "a=b"])
    assert starts_formula(s).tolist() == [True] * 6 + [False] * 3


# ------------------------------------------------------------------------------------------
# Hand-made landing batches
# ------------------------------------------------------------------------------------------


def _person_id(code: str, birth: str, seq: int) -> str:
    base = f"{code}{birth}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


def _credit_code(body: str) -> str:
    return body + uscc.calc_check_digit(body)


def _items() -> tuple[str, int]:
    ref = reference()
    code = sorted(ref.promised_days)[0]
    return code, ref.promised_days[code]


def _case(i: int, **over: object) -> dict[str, object]:
    item, days = _items()
    row: dict[str, object] = dict(
        case_id=f"C{i:06d}",
        item_code=item,
        applicant_type="自然人",
        applicant_id=_person_id("330106", "19900101", 11 + 2 * i),
        applicant_name="张三",
        applicant_phone="13800000000",
        residence_region="330106",
        dept_name="杭州市西湖区市场监督管理局",
        dept_region="330106",
        channel="窗口",
        submitted_at=pd.Timestamp("2024-01-10 09:00"),
        accepted_at=pd.Timestamp("2024-01-10 10:00"),
        completed_at=pd.Timestamp("2024-01-12 16:00"),
        status="已办结",
        outcome="准予",
        promised_days=days,
        visits=1,
        elicence_reused="否",
        rating=5,
        updated_at=pd.Timestamp("2024-01-12 16:00"),
    )
    row.update(over)
    return row


def _write_landing(paths: Paths, extract: str, batch: str, rows: list[dict[str, object]]) -> None:
    df = pd.DataFrame(rows)
    df["_batch_id"] = batch
    df["_source_file"] = f"{extract}_{batch}.csv"
    df["_source_row"] = pd.Series(range(2, len(df) + 2), dtype="int64")
    df["_loaded_at"] = pd.Timestamp("2024-02-01")
    for col in ("promised_days", "visits", "rating"):
        if col in df:
            df[col] = df[col].astype("Int32")
    part = paths.landing_partition(extract, batch)
    part.mkdir(parents=True, exist_ok=True)
    df.to_parquet(part / "part-0.parquet", index=False)


def _quarantine(paths: Paths, extract: str, batch: str) -> pd.DataFrame:
    return pd.read_parquet(v.quarantine_path(paths, extract, batch))


@pytest.fixture
def hand(tmp_path: Path) -> Paths:
    """A landing zone with one cases batch: row k (line k+2) carries defect k."""
    paths = Paths(tmp_path / "data").ensure()
    good_cc = _credit_code("91330106MA2AAAA0" + "1")
    rows = [_case(i) for i in range(40)]
    rows += [_case(i, applicant_type="法人", applicant_id=good_cc) for i in range(40, 60)]
    rows[1]["applicant_id"] = rows[1]["applicant_id"][:-1] + (  # type: ignore[index]
        "0" if rows[1]["applicant_id"][-1] != "0" else "1"  # type: ignore[index]
    )
    rows[2]["residence_region"] = "999999"
    rows[3]["accepted_at"] = pd.Timestamp("2024-01-09 08:00")
    rows[4]["applicant_name"] = "=HYPERLINK(1)"
    rows[5]["promised_days"] = 999
    rows[6].update(applicant_type="法人", applicant_id=good_cc)
    rows[7].update(
        applicant_type="法人", applicant_id=good_cc[:-1] + ("0" if good_cc[-1] != "0" else "1")
    )
    rows[8]["updated_at"] = pd.Timestamp("2024-02-01 00:00:01")
    rows[9] = dict(rows[0])  # identical re-send within the batch
    rows[10]["channel"] = "传真"
    rows[11]["item_code"] = "ZZ9999"
    rows[12]["case_id"] = None
    rows[13]["completed_at"] = None  # completed without a completion time
    rows[14]["residence_region"] = "110103"  # retired (崇文区): mapped by dbt, not rejected
    rows[15]["updated_at"] = pd.Timestamp("2024-01-31 23:59:59")  # end of cut-off day: fine
    _write_landing(paths, "cases", "20240131", rows)
    return paths


EXPECTED_HAND = {
    3: ("expect_column_values_to_be_valid_gb11643_resident_id", "applicant_id"),
    4: ("expect_column_values_to_be_in_gbt2260_region_codes", "residence_region"),
    5: ("expect_column_pair_values_a_to_be_greater_than_b", "accepted_at,submitted_at"),
    6: ("expect_column_values_to_not_start_a_spreadsheet_formula", "applicant_name"),
    9: ("expect_column_values_to_be_valid_gb32100_credit_code", "applicant_id"),
    10: ("expect_column_values_to_not_be_after_batch_cutoff", "updated_at"),
    # the tie rule: of two rows with the same (case_id, updated_at) the later file row (11)
    # is kept and the earlier one (2) quarantined
    2: ("expect_record_versions_to_be_unique_within_batch", "case_id,updated_at"),
    12: ("expect_column_values_to_be_in_set", "channel"),
    13: ("expect_column_values_to_be_in_service_catalog", "item_code"),
    14: ("expect_column_values_to_not_be_null", "case_id"),
    15: ("expect_column_values_to_not_be_null", "completed_at"),
}


def test_each_standard_flags_exactly_its_row(hand: Paths) -> None:
    report = v.run_raw_suites(hand)
    assert report.errors == []
    q = _quarantine(hand, "cases", "20240131")
    got = set(zip(q["_source_row"].astype(int), q["reason"], q["column"], strict=True))
    assert got == {(row, reason, col) for row, (reason, col) in EXPECTED_HAND.items()}
    assert set(q["stage"]) == {"raw_suite"} and set(q["extract"]) == {"cases"}
    assert set(q["_source_file"]) == {"cases_20240131.csv"}
    assert q.loc[q["_source_row"] == 6, "original"].item() == "=HYPERLINK(1)"
    # a promise that differs from the catalog is a flag: the row stays, it is listed in flags/
    flags = pd.read_parquet(v.flags_path(hand, "cases", "20240131"))
    assert list(zip(flags["_source_row"], flags["reason"], strict=True)) == [
        (7, "expect_promised_days_to_match_service_catalog")
    ]
    assert set(flags["stage"]) == {v.FLAG_STAGE}
    assert json.loads(flags["original"].item())["promised_days"] == 999
    assert report.flagged_rows == 1
    # 11 of 60 rows fail, one each: under 5 % per standard → the suite passes, rows quarantined
    assert report.ok, report.failures()
    assert report.quarantined_rows == len(EXPECTED_HAND)
    by_exp = {(o.expectation, o.column): o for o in report.outcomes}
    assert by_exp[("expect_column_values_to_be_in_set", "channel")].unexpected_count == 1
    assert by_exp[("expect_column_values_to_be_in_set", "channel")].examples == ["传真"]


def test_results_table_and_data_docs(hand: Paths) -> None:
    report = v.run_raw_suites(hand)
    results = pd.read_parquet(hand.validation / "results.parquet")
    assert set(results["run_id"]) == {report.run_id}
    assert len(results) == len(report.outcomes)
    row = results[results["expectation"] == "expect_column_values_to_be_in_set"]
    assert {"channel", "status", "applicant_type"} <= set(row["column"])
    channel = row[row["column"] == "channel"]
    assert json.loads(channel["examples"].item()) == ["传真"]
    v.run_raw_suites(hand)
    assert len(set(pd.read_parquet(hand.validation / "results.parquet")["run_id"])) == 2
    index = (hand.data_docs / "index.html").read_text(encoding="utf-8")
    assert "raw_cases" in index
    pages = list((hand.data_docs / "validations").rglob("*.html"))
    assert any("cases-batch-20240131" in p.name for p in pages)
    page = next(p for p in pages if "cases-batch-20240131" in p.name).read_text(encoding="utf-8")
    assert "values must be valid GB 11643-1999 resident IDs" in page  # the custom renderer
    # Data Docs open offline: every script, stylesheet and image is a local file
    from subjectdb.quality.offline_docs import remote_assets

    for p in [hand.data_docs / "index.html", *pages]:
        html = p.read_text(encoding="utf-8")
        assert remote_assets(html) == [], p
        for ref in re.findall(r"(?:src|href)=\"([^\"]*static/vendor/[^\"]+)\"", html):
            assert (p.parent / ref).resolve().is_file(), (p, ref)
    index = (hand.data_docs / "index.html").read_text(encoding="utf-8")
    assert "static/vendor/jquery-3.7.1/jquery.min.js" in index


def test_systematic_failure_fails_the_suite(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    # 60 of 120 rows: over 5 % and at least SYSTEMATIC_MIN_ROWS (50) rows
    rows = [_case(i, channel="传真" if i % 2 else "窗口") for i in range(120)]
    _write_landing(paths, "cases", "20240131", rows)
    report = v.run_raw_suites(paths)
    assert not report.ok
    [failed] = report.failures()
    assert (failed.expectation, failed.column, failed.unexpected_count) == (
        "expect_column_values_to_be_in_set",
        "channel",
        60,
    )
    assert len(_quarantine(paths, "cases", "20240131")) == 60
    # the message says it is systemic, how far over the limit, and what to do
    assert failed.note.startswith("systemic: 60 of 120 rows (50.0 %) break this standard on")
    assert "the limit is 5 % and 50 rows" in failed.note
    assert "re-deliver" in failed.note and "subjectdb quarantine" in failed.note


def test_stray_defects_in_a_small_batch_do_not_fail_the_suite(tmp_path: Path) -> None:
    """Two missing completion times in a 23-row daily batch are 8.7 %: still stray defects."""
    assert v.SYSTEMATIC_MIN_ROWS == 50
    paths = Paths(tmp_path / "data").ensure()
    rows = [_case(i) for i in range(23)]
    rows[3]["completed_at"] = None
    rows[7]["completed_at"] = None
    _write_landing(paths, "cases", "20240131", rows)
    report = v.run_raw_suites(paths)
    assert report.ok, report.failures()
    assert report.quarantined_rows == 2
    by_exp = {(o.expectation, o.column): o for o in report.outcomes}
    nulls = by_exp[("expect_column_values_to_not_be_null", "completed_at")]
    assert (nulls.success, nulls.unexpected_count) == (True, 2)
    # 49 of 60 rows failing is far over 5 % but under the minimum count: still quarantined only
    rows = [_case(i, channel="传真" if i < 49 else "窗口") for i in range(60)]
    _write_landing(paths, "cases", "20240229", rows)
    report = v.run_raw_suites(paths)
    assert report.ok
    # 50 of 60: the minimum is reached → systematic
    rows = [_case(i, channel="传真" if i < 50 else "窗口") for i in range(60)]
    _write_landing(paths, "cases", "20240331", rows)
    report = v.run_raw_suites(paths)
    [failed] = report.failures()
    assert (failed.batch, failed.column, failed.unexpected_count) == ("20240331", "channel", 50)


def _validated_batches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the batches run_raw_suites really validates (in this process)."""
    seen: list[str] = []
    real = raw_suites._run_batch_task

    def spy(task: raw_suites._BatchTask, gxs: v.GX | None = None) -> raw_suites._BatchDone:
        seen.append(f"{task.batch.extract}/{task.batch.batch_id}")
        return real(task, gxs)

    monkeypatch.setattr(raw_suites, "_run_batch_task", spy)
    return seen


def test_unchanged_batches_are_not_rechecked(
    hand: Paths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _validated_batches(monkeypatch)
    first = v.run_raw_suites(hand)
    assert seen == ["cases/20240131"]
    qfile = v.quarantine_path(hand, "cases", "20240131")
    before = qfile.stat().st_mtime_ns
    seen.clear()
    again = v.run_raw_suites(hand)
    assert seen == [] and qfile.stat().st_mtime_ns == before
    # the skipped batch keeps its earlier results, in the report and in the results table
    key = lambda o: (o.batch, o.expectation, o.column, o.unexpected_count, o.success)  # noqa: E731
    assert sorted(map(key, again.outcomes)) == sorted(map(key, first.outcomes))
    assert again.quarantined_rows == first.quarantined_rows == len(EXPECTED_HAND)
    assert all(f"unchanged since run {first.run_id}" in o.note for o in again.outcomes)
    results = pd.read_parquet(hand.validation / "results.parquet")
    assert len(results[results["run_id"] == again.run_id]) == len(first.outcomes)
    # a new batch: only it is validated
    shutil.copytree(
        hand.landing_partition("cases", "20240131"), hand.landing_partition("cases", "20240229")
    )
    seen.clear()
    report = v.run_raw_suites(hand)
    assert seen == ["cases/20240229"]
    assert {o.batch for o in report.outcomes} == {"20240131", "20240229"}
    # a missing quarantine file, a changed seed or force=True: validated again
    qfile.unlink()
    seen.clear()
    v.run_raw_suites(hand)
    assert seen == ["cases/20240131"] and qfile.exists()
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds)
    last = (SEEDS_DIR / "ref_service_items.csv").read_text(encoding="utf-8").splitlines()[-1]
    with (seeds / "ref_service_items.csv").open("a", encoding="utf-8") as fh:
        fh.write(last + "\n")  # a duplicate item row: same standards, different seed file
    monkeypatch.setattr(custom_expectations, "_seeds_dir", [seeds.resolve()])
    seen.clear()
    v.run_raw_suites(hand)
    assert sorted(seen) == ["cases/20240131", "cases/20240229"]
    seen.clear()
    v.run_raw_suites(hand, force=True)
    assert sorted(seen) == ["cases/20240131", "cases/20240229"]


def test_chunks_and_workers_give_the_same_answer(
    hand: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a second batch (same rows, a later cut-off): two batches for two worker processes
    shutil.copytree(
        hand.landing_partition("cases", "20240131"), hand.landing_partition("cases", "20240229")
    )
    batches = ("20240131", "20240229")

    def quarantined() -> dict[str, pd.DataFrame]:
        return {
            b: _quarantine(hand, "cases", b)
            .drop(columns="_quarantined_at")
            .sort_values(["_source_row", "reason", "column"])
            .reset_index(drop=True)
            for b in batches
        }

    whole_report = v.run_raw_suites(hand, workers=1)
    whole = quarantined()
    # the later cut-off accepts row 10's 2024-02-01 update: one finding fewer
    assert len(whole["20240229"]) == len(whole["20240131"]) - 1
    monkeypatch.setattr(raw_suites, "CHUNK_ROWS", 20)  # 60 rows → 3 chunks split by case_id hash
    report = v.run_raw_suites(hand, workers=2, force=True)  # two spawned processes
    chunked = quarantined()
    for b in batches:
        pd.testing.assert_frame_equal(whole[b], chunked[b])
    key = lambda o: (o.batch, o.expectation, o.column)  # noqa: E731
    assert sorted((key(o), o.unexpected_count, o.element_count) for o in report.outcomes) == sorted(
        (key(o), o.unexpected_count, o.element_count) for o in whole_report.outcomes
    )
    pages = [p.name for p in (hand.data_docs / "validations").rglob("*.html")]
    assert {"cases-batch-20240131.html", "cases-batch-20240229.html"} <= set(pages)


def test_empty_batch_still_writes_quarantine_file(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    _write_landing(paths, "cases", "20240131", [_case(i) for i in range(3)])
    report = v.run_raw_suites(paths)
    assert report.ok and report.quarantined_rows == 0
    q = _quarantine(paths, "cases", "20240131")
    assert q.empty and list(q.columns) == QUARANTINE_SCHEMA.names


def test_row_count_outside_usual_range_warns(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    sizes = {"20240131": 30, "20240229": 10, "20240331": 12, "20240430": 60}
    for batch, n in sizes.items():
        end = pd.Timestamp(batch) - pd.Timedelta(days=5)
        rows = [
            _case(i, submitted_at=end, accepted_at=end, completed_at=end, updated_at=end)
            for i in range(n)
        ]
        _write_landing(paths, "cases", batch, rows)
    report = v.run_raw_suites(paths)
    counts = {
        o.batch: o
        for o in report.outcomes
        if o.expectation == "expect_table_row_count_to_be_between"
    }
    # the first batch is compared with nothing; 20240229 only with later-than-first batches
    assert counts["20240131"].success and "no comparable" in counts["20240131"].note
    assert counts["20240229"].success and counts["20240331"].success
    assert not counts["20240430"].success  # 60 > 3 × max(10, 12)
    assert counts["20240430"].status == "warning"
    assert report.ok  # a warning does not stop the build


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    rows = [_case(i) for i in range(3)]
    for r in rows:
        del r["channel"]
    _write_landing(paths, "cases", "20240131", rows)
    report = v.run_raw_suites(paths)
    assert not report.ok
    [err] = report.errors
    assert "cases/batch=20240131/part-0.parquet" in err and "channel" in err


def test_no_landing_is_an_error(tmp_path: Path) -> None:
    report = v.run_raw_suites(Paths(tmp_path / "data").ensure())
    assert not report.ok and "subjectdb load" in report.errors[0]


def test_persons_and_enterprises(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    persons = []
    for i in range(30):
        sex = "男" if i % 2 else "女"
        pid = _person_id("330106", "19900215", 100 + i)
        persons.append(
            dict(
                person_id=pid,
                name="李四",
                phone="13900000000",
                birth_date=pd.Timestamp("1990-02-15").date(),
                sex=sex,
                hukou_region="330106",
                residence_region="330106",
                status="常住",
                status_date=pd.Timestamp("2000-01-01").date(),
                updated_at=pd.Timestamp("2024-01-05 08:00"),
            )
        )
    persons[1]["sex"] = "女"  # sequence 101 is odd → male
    persons[2]["birth_date"] = pd.Timestamp("1991-02-15").date()
    persons[3]["status"] = "失踪"
    persons[4]["status_date"] = pd.Timestamp("1980-01-01").date()  # before birth
    _write_landing(paths, "persons", "20240131", persons)
    ents = []
    for i in range(30):
        ents.append(
            dict(
                credit_code=_credit_code(f"9133010{i:02d}MA2AAA0A"[:17]),
                name="杭州某某科技有限公司",
                legal_form="有限责任公司",
                industry="I",
                size_class="小型",
                registered_capital=100.0,
                established_date=pd.Timestamp("2015-03-01").date(),
                closed_date=None,
                status="存续",
                region="330106",
                updated_at=pd.Timestamp("2024-01-05 08:00"),
            )
        )
    ents[1]["industry"] = "Z"
    ents[2]["closed_date"] = pd.Timestamp("2010-01-01").date()
    ents[3]["name"] = "@evil"
    ents[4]["registered_capital"] = -5.0
    _write_landing(paths, "enterprises", "20240131", ents)
    report = v.run_raw_suites(paths)
    assert report.errors == []
    pq_ = _quarantine(paths, "persons", "20240131")
    got = set(zip(pq_["_source_row"].astype(int), pq_["reason"], strict=True))
    assert got == {
        (3, "expect_birth_date_and_sex_to_agree_with_resident_id"),
        (4, "expect_birth_date_and_sex_to_agree_with_resident_id"),
        (5, "expect_column_values_to_be_in_set"),
        (6, "expect_column_pair_values_a_to_be_greater_than_b"),
    }
    eq_ = _quarantine(paths, "enterprises", "20240131")
    got = set(zip(eq_["_source_row"].astype(int), eq_["reason"], eq_["column"], strict=True))
    assert got == {
        (3, "expect_column_values_to_be_in_set", "industry"),
        (4, "expect_column_pair_values_a_to_be_greater_than_b", "closed_date,established_date"),
        (5, "expect_column_values_to_not_start_a_spreadsheet_formula", "name"),
        (6, "expect_column_values_to_be_between", "registered_capital"),
    }


def test_stale_quarantine_partition_is_dropped(hand: Paths) -> None:
    v.run_raw_suites(hand)
    stale = v.quarantine_path(hand, "cases", "20230131")
    stale.parent.mkdir(parents=True)
    shutil.copy(v.quarantine_path(hand, "cases", "20240131"), stale)
    v.run_raw_suites(hand)
    assert not stale.exists()
    assert v.quarantine_path(hand, "cases", "20240131").exists()


def test_suite_definitions_use_known_seed_parameters() -> None:
    params = v.suite_parameters(SEEDS_DIR)
    for extract in ("cases", "persons", "enterprises"):
        sd = v.load_suite_def(extract)
        text = json.dumps(sd.expectations)
        for name in {p for p in params if f'"{p}"' in text}:
            assert params[name], name
        v.gx_suite(sd.name, sd.row_level(), sd.meta)  # every entry is a valid expectation


# ------------------------------------------------------------------------------------------
# Gates on a hand-made warehouse
# ------------------------------------------------------------------------------------------


def _warehouse(path: Path, tamper: str = "") -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.stg_approval__cases AS "
        "SELECT 'C' || i AS case_id FROM range(20) t(i) UNION ALL SELECT 'C1'"
    )
    con.execute(
        "CREATE TABLE marts.fct_service_cases AS SELECT 'C' || i AS case_id FROM range(20) t(i)"
    )
    con.execute(
        """CREATE TABLE marts.subj_service_demand AS SELECT * FROM (VALUES
        ('330106', 'person', '25-44', 12, 10, 1000, 12.0),
        ('330106', 'enterprise', 'NA', 8, 5, NULL, NULL)) t(region_code, applicant_type,
        age_group_code, cases, distinct_applicants, population, rate_per_1000)"""
    )
    con.execute(
        "CREATE TABLE marts.subj_applicant_demand AS SELECT sha256('k' || i) AS applicant_key, "
        "'330106' AS region_code, 1 AS cases FROM range(20) t(i)"
    )
    con.execute(
        """CREATE TABLE marts.subj_service_performance AS SELECT * FROM (VALUES
        ('XK0001', '330106', 20, 15, 2.0, 5.0, 0.8, 0.5, 0.9, 10, 0.7, 0.1, 12))
        t(item_code, region_code, cases, completed_cases, median_working_days, p90_working_days,
          on_time_rate, zero_visit_rate, max_one_visit_rate, rated_cases, satisfaction_rate,
          bad_review_rate, distinct_applicants)"""
    )
    con.execute(
        """CREATE TABLE marts.subj_digital_divide AS SELECT * FROM (VALUES
        ('330106', 'web', 15, 10, 0.75, 0.9), ('330106', 'window', 5, 4, 0.25, 0.9))
        t(region_code, channel_code, cases, distinct_applicants, channel_share, online_share)"""
    )
    con.execute(
        """CREATE TABLE marts.subj_demand_standardised AS SELECT * FROM (VALUES
        (2024, '330106', 'ALL', 12, 1000, 12.0, 11.0, 14.0, 0.86, 0.44, 1.5))
        t(year, region_code, theme_code, cases, population, crude_rate, age_standardised_rate,
          expected_cases, standardised_ratio, ratio_ci_low, ratio_ci_high)"""
    )
    for t, cols in {
        "subj_population": "2024 AS year, '330106' AS region_code, 1000 AS population",
        "subj_enterprise_population": "2024 AS year, 'I' AS industry_section, "
        "5 AS active_enterprises",
        "subj_processing_time": "'XK0001' AS item_code, 2 AS working_days, 15 AS completed_cases",
        "subj_enterprise_demand": "'330106' AS region_code, 8 AS cases, 5 AS distinct_applicants, "
        "5 AS active_enterprises, 1.6 AS rate_per_1000",
    }.items():
        con.execute(f"CREATE TABLE marts.{t} AS SELECT {cols}")
    if tamper:
        con.execute(tamper)
    con.close()
    return path


def _gate_failures(report: v.SuiteReport) -> set[tuple[str, str, str]]:
    return {(o.batch.split(".")[0], o.expectation, o.column) for o in report.failures()}


def test_clean_warehouse_passes_gates(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    report = v.run_gates(
        paths, _warehouse(tmp_path / "wh.duckdb"), extra_gates=checks.RELEASE_GATES
    )
    assert report.ok, [(o.batch, o.expectation, o.column, o.note) for o in report.failures()]
    release = [o for o in report.outcomes if o.suite == "gate_open_data"]
    assert [(o.status, o.note) for o in release] == [("not checked", "no release to check")]
    assert any(o.expectation == "expect_column_pair_values_to_be_equal" for o in report.outcomes)
    assert (paths.data_docs / "index.html").exists()


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            "UPDATE marts.subj_service_demand SET cases = cases + 1 "
            "WHERE applicant_type = 'person'",
            ("warehouse", "expect_column_pair_values_to_be_equal", "subject_total,fact_total"),
        ),
        (
            "INSERT INTO staging.stg_approval__cases VALUES ('C99')",
            ("warehouse", "expect_column_pair_values_to_be_equal", "fact_total,staged_total"),
        ),
    ],
)
def test_totals_that_do_not_reconcile_fail(
    tmp_path: Path, tamper: str, expected: tuple[str, str, str]
) -> None:
    paths = Paths(tmp_path / "data").ensure()
    report = v.run_gates(paths, _warehouse(tmp_path / "wh.duckdb", tamper))
    assert not report.ok
    assert _gate_failures(report) == {expected}


def test_each_tampered_subject_table_fails_its_gate(tmp_path: Path) -> None:
    # one tamper per table, so one gate run proves each gate catches its own defect only
    tamper = """
        UPDATE marts.subj_digital_divide SET online_share = 1.2 WHERE channel_code = 'web';
        UPDATE marts.subj_digital_divide SET region_code = '330106198001010011'
            WHERE channel_code = 'window';
        UPDATE marts.subj_demand_standardised SET ratio_ci_low = 0.9;
        UPDATE marts.subj_service_demand SET population = 0 WHERE applicant_type = 'person';
        UPDATE marts.subj_service_performance SET item_code = '13812345678';
        UPDATE marts.subj_applicant_demand SET region_code = '王小明' WHERE applicant_key = (
            SELECT min(applicant_key) FROM marts.subj_applicant_demand);
        UPDATE marts.subj_enterprise_demand SET region_code = '91330106MA2AAAA01E';
    """
    paths = Paths(tmp_path / "data").ensure()
    report = v.run_gates(paths, _warehouse(tmp_path / "wh.duckdb", tamper))
    assert not report.ok
    assert _gate_failures(report) == {
        ("subj_digital_divide", "expect_column_values_to_be_between", "online_share"),
        ("subj_digital_divide", "expect_column_values_to_not_match_regex", "region_code"),
        (
            "subj_demand_standardised",
            "expect_column_pair_values_a_to_be_greater_than_b",
            "standardised_ratio,ratio_ci_low",
        ),
        ("subj_service_demand", "expect_column_values_to_be_between", "population"),
        ("subj_service_performance", "expect_column_values_to_not_match_regex", "item_code"),
        ("subj_applicant_demand", "expect_column_values_to_not_match_regex", "region_code"),
        ("subj_enterprise_demand", "expect_column_values_to_not_match_regex", "region_code"),
    }
    kinds = {(o.batch, o.note) for o in report.failures() if o.suite == "gate_personal_data"}
    assert kinds == {
        ("subj_digital_divide", "resident_id"),
        ("subj_digital_divide", "credit_code"),  # an all-digit ID also has a credit code's shape
        ("subj_service_performance", "phone"),
        ("subj_applicant_demand", "chinese_name"),
        ("subj_enterprise_demand", "credit_code"),
    }


def test_missing_subject_table_fails(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    wh = _warehouse(tmp_path / "wh.duckdb", "DROP TABLE marts.subj_processing_time")
    report = v.run_gates(paths, wh)
    assert ("subj_processing_time", "table_exists", "") in _gate_failures(report)


def test_gates_open_the_warehouse_read_only(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    wh = _warehouse(tmp_path / "wh.duckdb")
    before = wh.read_bytes()
    reader = duckdb.connect(str(wh), read_only=True)  # a served reader holds the file
    try:
        assert v.run_gates(paths, wh).ok
    finally:
        reader.close()
    assert wh.read_bytes() == before


def _release(paths: Paths, frame: pd.DataFrame, threshold: int = 10) -> Path:
    rel = paths.releases / "2026.11.0"
    (rel / "data").mkdir(parents=True)
    frame.to_parquet(rel / "data" / "service_demand.parquet", index=False)
    (rel / "datapackage.json").write_text(json.dumps({"disclosure": {"threshold": threshold}}))
    return rel


def test_release_disclosure_gate(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    assert [(o.status, o.note) for o in checks.check_open_data(paths).outcomes] == [
        ("not checked", "no release to check")
    ]
    ok = pd.DataFrame(
        {
            "region_code": ["330106", "330108", "330110"],
            "industry_name_zh": ["金融业", "金融业", "制造业"],  # seed labels, not names
            "cases": [40, None, 25],
            "cases_status": ["", "primary", ""],
            "distinct_applicants": [12, 3, 10],
        }
    )
    rel = _release(paths, ok)
    report = checks.check_open_data(paths)
    assert report.ok, [(o.batch, o.expectation, o.note) for o in report.failures()]
    checked = {(o.expectation, o.column) for o in report.outcomes if o.status == "passed"}
    assert ("expect_column_values_to_be_null", "cases (cases_status)") in checked
    assert ("expect_column_values_to_be_between", "distinct_applicants") in checked

    def failures(frame: pd.DataFrame) -> set[tuple[str, str, str]]:
        shutil.rmtree(rel)
        _release(paths, frame)
        return _gate_failures(checks.check_open_data(paths))

    # a 3-applicant cell published
    assert failures(ok.assign(cases_status=["", "", ""], cases=[40, 7, 25])) == {
        ("2026", "expect_column_values_to_be_between", "distinct_applicants")
    }
    # marked suppressed but the value still published
    assert failures(ok.assign(cases=[40, 7, 25])) == {
        ("2026", "expect_column_values_to_be_null", "cases (cases_status)")
    }
    assert failures(ok.assign(cases_status=["", "hidden", ""])) == {
        ("2026", "expect_column_values_to_be_in_set", "cases_status")
    }
    assert {f[1] for f in failures(ok.drop(columns="cases_status"))} == {
        "suppression_status_column_exists"
    }
    assert failures(ok.assign(region_code=["330106", "13912345678", "330110"])) == {
        ("2026", "expect_column_values_to_not_match_regex", "region_code")
    }


def test_quality_imports_no_later_stage() -> None:
    """quality is stage 2: the release adds its gate through GateStep, never the other way."""
    import ast

    later = ("subjectdb.warehouse", "subjectdb.release", "subjectdb.serving", "subjectdb.bench")
    later += ("subjectdb.cli", "dashboards")
    modules = sorted(Path(v.__file__).parent.glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(later), (path.name, name)


def test_personal_data_patterns_ignore_keyed_hashes() -> None:
    import hashlib
    import re

    patterns = [re.compile(p) for p in v.load_gates_config()["pii"]["patterns"].values()]
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20_000)]
    assert [k for k in keys if any(p.search(k) for p in patterns)] == []
    for text in ("330106199001010011", "91330106MA2AAAA01E", "电话13812345678", "欧阳娜娜"):
        assert any(p.search(text) for p in patterns), text
    for text in ("330106", "金华市", "XK0001", "2024-01", "出生", "web"):
        assert not any(p.search(text) for p in patterns), text


def test_no_warehouse_is_an_error(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    report = v.run_gates(paths, paths.warehouse)
    assert not report.ok and "subjectdb build" in report.errors[0]


# ------------------------------------------------------------------------------------------
# The generator's defect manifest through the real loader (session fixtures)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite_run(
    loaded: Paths, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Paths, v.SuiteReport]:

    paths = copy_data(loaded, tmp_path_factory.mktemp("validate") / "data")
    return paths, v.run_raw_suites(paths)


def _landed_manifest(raw_sample: object, paths: Paths) -> pd.DataFrame:
    manifest = pd.read_csv(raw_sample.manifest, dtype={"file": str, "column": str})  # type: ignore[attr-defined]
    manifest["file"] = manifest["file"].map(lambda f: Path(f).name)
    load_q = paths.load_quarantine
    if load_q.exists() and any(load_q.rglob("*.parquet")):
        lq = duckdb.sql(
            f"SELECT DISTINCT _source_file, _source_row FROM read_parquet('{load_q}/*/*/*.parquet')"
        ).df()
        dropped = set(zip(lq["_source_file"], lq["_source_row"], strict=True))
        manifest = manifest[
            [(f, r) not in dropped for f, r in zip(manifest["file"], manifest["row"], strict=True)]
        ]
    return manifest


def test_manifest_defects_caught_by_named_expectations(raw_sample, suite_run) -> None:  # noqa: ANN001
    paths, report = suite_run
    assert report.errors == []
    manifest = _landed_manifest(raw_sample, paths)
    q = duckdb.sql(f"SELECT * FROM read_parquet('{paths.suite_quarantine}/*/*/*.parquet')").df()
    flagged_rows = set(zip(q["_source_file"], q["_source_row"], strict=True))
    seen_kinds = set(manifest["kind"])
    assert {"bad_id_check_digit", "missing_required", "future_date", "formula_text"} <= seen_kinds
    for kind, reason in STANDARD_KINDS.items():
        expected = manifest[manifest["kind"] == kind]
        cols = set(expected["column"])
        mine = q[(q["reason"] == reason)]
        if kind == "accepted_before_submitted":
            mine = mine[mine["column"] == "accepted_at,submitted_at"]
        elif kind != "missing_required":
            mine = mine[mine["column"].isin(cols)]
        got = set(zip(mine["_source_file"], mine["_source_row"], strict=True))
        want = set(zip(expected["file"], expected["row"], strict=True))
        assert got == want, (kind, sorted(got ^ want)[:10])
        assert len(mine) == len(expected), kind
    for kind in NOT_MINE:
        rows = manifest[manifest["kind"] == kind]
        hits = set(zip(rows["file"], rows["row"], strict=True)) & flagged_rows
        assert hits == set(), (kind, sorted(hits)[:10])


def test_clean_sample_passes_every_suite(tmp_path: Path) -> None:
    from subjectdb.ingest import load_paths
    from subjectdb.synth import generate

    params = dict(SAMPLE, persons=1_500, enterprises=200, cases=4_000, defect_rate=0.0, seed=3)
    raw = generate(out=tmp_path / "raw", **params)
    paths = Paths(tmp_path / "data").ensure()
    load_paths([raw.out], paths)
    report = v.run_raw_suites(paths)
    assert report.errors == []
    # flags (rows kept) are not quarantine
    assert [
        (o.suite, o.batch, o.expectation, o.column, o.examples)
        for o in report.outcomes
        if o.unexpected_count and o.severity == "critical"
    ] == []
    assert report.ok
    batches = {(o.suite, o.batch) for o in report.outcomes}
    assert {s for s, _ in batches} == {"raw_cases", "raw_persons", "raw_enterprises"}


def test_built_warehouse_passes_gates_and_tamper_is_caught(built: Paths, tmp_path: Path) -> None:
    report = v.run_gates(built, built.warehouse)
    assert report.ok, [(o.batch, o.expectation, o.column, o.note) for o in report.failures()]
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(built.warehouse, tampered)
    con = duckdb.connect(str(tampered))
    con.execute(
        "UPDATE marts.subj_service_performance SET on_time_rate = 1.5 "
        "WHERE rowid = (SELECT min(rowid) FROM marts.subj_service_performance)"
    )
    con.close()
    failures = _gate_failures(v.run_gates(built, tampered))
    assert failures == {
        ("subj_service_performance", "expect_column_values_to_be_between", "on_time_rate")
    }


def test_build_refuses_a_warehouse_failing_a_gate(
    built: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from subjectdb.warehouse import build

    paths = copy_data(built, tmp_path / "data")
    served = paths.warehouse.read_bytes()
    real = v.run_gates

    def tampering_gates(p: Paths, warehouse: Path, *args: object, **kw: object) -> v.SuiteReport:
        con = duckdb.connect(str(warehouse))
        con.execute("UPDATE marts.subj_digital_divide SET online_share = -0.5")
        con.close()
        return real(p, warehouse, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(v, "run_gates", tampering_gates)
    result = build.build(paths, full_refresh=True)  # nothing new: "up to date" otherwise
    assert not result.ok
    assert paths.warehouse.read_bytes() == served


def test_stored_examples_never_show_personal_values(suite_run) -> None:  # noqa: ANN001
    """Results are read by the dashboard and Data Docs: personal examples are masked."""
    import re

    paths, _ = suite_run
    results = duckdb.sql(
        f"SELECT \"column\", examples FROM read_parquet('{paths.validation}/results.parquet')"
    ).df()
    flagged_id = results[results["column"] == "applicant_id"]
    assert (flagged_id["examples"] != "[]").any(), "the sample has bad IDs: examples expected"
    for text in results["examples"]:
        assert not re.search(r"\d{17}[\dXx]|1[3-9]\d{9}", text), text
    assert v.mask_example("330102199001011234") == "330102***********4"
    assert v.mask_example("张三丰") == "张**"


def test_raw_suite_workers_end_with_a_killed_parent(tmp_path: Path) -> None:
    """A killed `subjectdb build` must not leave its GX worker processes behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import concurrent.futures, multiprocessing, os, sys, time\n"
        "from subjectdb.quality import exit_with_parent\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    pool = concurrent.futures.ProcessPoolExecutor(\n"
        "        2, mp_context=ctx, initializer=exit_with_parent, initargs=(os.getpid(), 0.2))\n"
        "    pids = {pool.submit(os.getpid).result() for _ in range(20)}\n"
        "    pool.submit(time.sleep, 600)\n"
        "    print(' '.join(map(str, sorted(pids))), flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert workers and parent.pid not in workers

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"

    assert all(alive(p) for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [p for p in workers if alive(p)]
    for pid in survivors:  # leave no orphan behind, even when failing
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "workers outlived their killed parent"
