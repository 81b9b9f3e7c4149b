"""The contract's row rules (issue 17): each lives in the raw suites and never stops a build.

A clean generated delivery breaks none of them; a delivery with one planted violation of each
has exactly those rows quarantined (or flagged and kept), and ``build`` succeeds on it — no dbt
test fails because of one row.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from subjectdb import quality as v
from subjectdb.config import Paths

CLEAN = dict(
    province="330000",
    persons=1_500,
    enterprises=200,
    cases=3_000,
    years=(2024, 2025),
    batches=2,
    fmt="csv",
    defect_rate=0.0,
    seed=3,
)
LAST = "20251231"

# (expectation, column) of each rule added for issue 17 → "quarantine" or "flag"
NEW_RULES = {
    ("expect_column_pair_values_a_to_be_greater_than_b", "updated_at,submitted_at"): "quarantine",
    ("expect_column_values_to_be_null", "accepted_at"): "quarantine",
    ("expect_column_values_to_be_null", "completed_at"): "quarantine",
    ("expect_column_values_to_be_null", "outcome"): "quarantine",
    ("expect_column_values_to_be_null", "rating"): "quarantine",
    ("expect_column_values_to_be_county_region_codes", "residence_region"): "quarantine",
    ("expect_column_values_to_be_county_region_codes", "region"): "quarantine",
    ("expect_column_values_to_be_in_province", "residence_region"): "quarantine",
    ("expect_column_values_to_be_on_working_days", "completed_at"): "flag",
    ("expect_promised_days_to_match_service_catalog", "item_code,promised_days"): "flag",
    ("expect_column_values_to_be_in_calendar", "accepted_at"): "quarantine",
    ("expect_column_values_to_be_in_calendar", "completed_at"): "quarantine",
    ("expect_applicant_to_be_born_by_submission", "applicant_id,submitted_at"): "quarantine",
}


@pytest.fixture(scope="module")
def clean_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from subjectdb.synth import generate

    out = tmp_path_factory.mktemp("clean") / "raw"
    generate(out=out, **CLEAN)
    return out


def _load(raw: Path, root: Path) -> Paths:
    from subjectdb.ingest import load_paths

    paths = Paths(root).ensure()
    load_paths([raw], paths)
    return paths


def _rows(paths: Paths, kind: str) -> pd.DataFrame:
    base = paths.suite_quarantine if kind == "quarantine" else paths.validation / "flags"
    files = sorted(base.glob("*/batch=*/part-0.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def clean_checked(clean_raw: Path, tmp_path_factory: pytest.TempPathFactory):
    paths = _load(clean_raw, tmp_path_factory.mktemp("clean-data") / "data")
    report = v.run_raw_suites(paths)
    assert report.errors == [] and report.ok, report.failures()
    return paths, report


def test_every_new_rule_is_in_the_suites() -> None:
    found: dict[tuple[str, str], str] = {}
    for extract in ("cases", "persons", "enterprises"):
        sd = v.load_suite_def(extract)
        for e in sd.row_level():
            key = (e["type"], _label(e["kwargs"]))
            if key in NEW_RULES:
                found[key] = "flag" if e.get("meta", {}).get("action") == "flag" else "quarantine"
                if found[key] == "flag":
                    assert e.get("severity") == "warning", key  # a flag never stops a build
    assert found == NEW_RULES


def _label(kwargs: dict) -> str:
    from subjectdb.quality.suites import domain_label

    return domain_label(kwargs)


@pytest.mark.parametrize("rule", NEW_RULES, ids=lambda r: f"{r[0]}[{r[1]}]")
def test_clean_delivery_breaks_no_new_rule(clean_checked, rule: tuple[str, str]) -> None:
    paths, report = clean_checked
    hits = sum(o.unexpected_count for o in report.outcomes if (o.expectation, o.column) == rule)
    assert hits == 0


def test_generator_pending_defects_are_not_in_the_manifest(clean_checked, clean_raw) -> None:
    """What the pending generator defects are today: case rows only, each listed nowhere in
    the manifest (a clean delivery's manifest is empty), so the raw suites are what finds them."""
    paths, _ = clean_checked
    manifest = pd.read_csv(clean_raw / "manifest.csv")
    assert manifest.empty
    q = _rows(paths, "quarantine")
    pending = q[q["reason"] == "expect_column_pair_values_a_to_be_greater_than_b"]
    assert set(pending["extract"]) <= {"cases"}
    assert set(pending["column"]) <= {"updated_at,submitted_at"}


# --------------------------------------------------------------------------------------------
# One planted violation of each rule
# --------------------------------------------------------------------------------------------


def _append(path: Path, rows: list[dict[str, str]]) -> list[int]:
    """Append rows to a raw CSV; returns their line numbers (the loader's _source_row)."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    first = text.count("\n") + 1
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        header = next(csv.reader([text.split("\n", 1)[0]]))
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        for r in rows:
            w.writerow(r)
    return list(range(first, first + len(rows)))


def _resident_id(birth: str, address: str = "330106", sequence: str = "123") -> str:
    from stdnum.cn import ric

    body = address + birth + sequence
    return body + ric.calc_check_digit(body)


def _template(path: Path, **where: str) -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if all(row[k] == val for k, val in where.items()):
                return row
    raise AssertionError(f"no row with {where} in {path}")


@pytest.fixture(scope="module")
def planted(clean_raw: Path, tmp_path_factory: pytest.TempPathFactory):
    raw = tmp_path_factory.mktemp("planted") / "raw"
    shutil.copytree(clean_raw, raw)
    cases = raw / "cases" / f"cases_{LAST}.csv"
    done = _template(cases, status="已办结", outcome="准予", applicant_type="自然人")
    catalog = pd.read_csv(Path(__file__).parents[1] / "seeds" / "ref_service_items.csv")
    promised = int(catalog.set_index("item_code").loc[done["item_code"], "promised_days"])

    def case(n: int, **change: str) -> dict[str, str]:
        row = dict(done, case_id=f"330000202500{990000 + n:06d}")
        row.update(change)
        return row

    open_row = dict(completed_at="", outcome="", rating="", status="办理中")
    t = "2025-06-13 10:00:00"  # a Friday, a working day
    base = dict(submitted_at="2025-06-10 09:00:00", accepted_at="2025-06-11 09:00:00")
    planted_cases = {
        "updated_before_submitted": case(
            1, **base, completed_at=t, updated_at="2025-06-09 09:00:00"
        ),
        "accepted_when_submitted": case(2, **base, **dict(open_row, status="已提交"), updated_at=t),
        "completed_when_open": case(3, **base, **dict(open_row, completed_at=t), updated_at=t),
        "outcome_when_open": case(4, **base, **dict(open_row, outcome="准予"), updated_at=t),
        "rating_when_open": case(5, **base, **dict(open_row, rating="5"), updated_at=t),
        "prefecture_residence": case(
            6, **base, completed_at=t, updated_at=t, residence_region="330100"
        ),
        "tie_first": case(7, **base, **open_row, updated_at=t),
        "tie_last": case(7, **base, **open_row, updated_at=t, dept_name="后一行"),
        "promise_differs": case(
            8, **base, completed_at=t, updated_at=t, promised_days=str(promised + 7)
        ),
        "accepted_outside_calendar": case(
            10,
            submitted_at="2003-06-10 09:00:00",
            accepted_at="2003-06-11 09:00:00",
            completed_at=t,
            updated_at=t,
        ),
        # GB 11643 address codes are known to about 2020: an ID born 1 August 2020, a case
        # submitted in June 2020
        "born_after_submission": case(
            11,
            submitted_at="2020-06-10 09:00:00",
            accepted_at="2020-06-11 09:00:00",
            completed_at="2020-06-12 10:00:00",
            updated_at="2020-06-12 10:00:00",
            applicant_id=_resident_id("20200801"),
        ),
        "weekend_completion": case(
            9, **base, completed_at="2025-06-14 10:00:00", updated_at="2025-06-14 10:00:00"
        ),
    }
    lines = dict(zip(planted_cases, _append(cases, list(planted_cases.values())), strict=True))
    persons = raw / "persons" / f"persons_{LAST}.csv"
    person = _template(persons, status="常住")
    moved = dict(person, residence_region="110101", updated_at=f"{LAST[:4]}-12-30 12:00:00")
    [lines["person_outside_province"]] = _append(persons, [moved])
    firms = raw / "enterprises" / f"enterprises_{LAST}.csv"
    # an active firm of the first batch not changed in the last one, now re-sent without its
    # (optional) size class before 1 July: it is active at mid-year with a NULL size class
    with firms.open(encoding="utf-8") as fh:
        changed = {r["credit_code"] for r in csv.DictReader(fh)}
    with sorted((raw / "enterprises").glob("enterprises_*.csv"))[0].open(encoding="utf-8") as fh:
        firm = next(
            r
            for r in csv.DictReader(fh)
            if r["status"] == "存续" and not r["closed_date"] and r["credit_code"] not in changed
        )
    no_size = dict(firm, size_class="", updated_at=f"{LAST[:4]}-03-02 10:00:00")
    [lines["firm_without_size"]] = _append(firms, [no_size])
    paths = _load(raw, tmp_path_factory.mktemp("planted-data") / "data")
    return paths, lines, person["person_id"], firm["credit_code"]


EXPECTED_QUARANTINE = {
    "updated_before_submitted": ("cases", "updated_at,submitted_at"),
    "accepted_when_submitted": ("cases", "accepted_at"),
    "completed_when_open": ("cases", "completed_at"),
    "outcome_when_open": ("cases", "outcome"),
    "rating_when_open": ("cases", "rating"),
    "prefecture_residence": ("cases", "residence_region"),
    "tie_first": ("cases", "case_id,updated_at"),
    "person_outside_province": ("persons", "residence_region"),
    "accepted_outside_calendar": ("cases", "accepted_at"),
    "born_after_submission": ("cases", "applicant_id,submitted_at"),
}
EXPECTED_FLAGS = {
    "promise_differs": ("cases", "item_code,promised_days"),
    "weekend_completion": ("cases", "completed_at"),
}


def test_planted_violations_are_quarantined_or_flagged_and_build_succeeds(planted) -> None:
    from subjectdb.warehouse.build import build

    paths, lines, person_id, credit_code = planted
    result = build(paths)
    assert result.ok, result.summary()  # no dbt test fails because of one row

    def of(kind: str, extract: str) -> set[tuple[int, str]]:
        rows = _rows(paths, kind)
        rows = rows[(rows["extract"] == extract) & (rows["_batch_id"] == LAST)]
        return set(zip(rows["_source_row"].astype(int), rows["column"], strict=True))

    planted_lines = set(lines.values())
    for kind, expected in (("quarantine", EXPECTED_QUARANTINE), ("flag", EXPECTED_FLAGS)):
        for extract in ("cases", "persons", "enterprises"):
            got = {(r, c) for r, c in of(kind, extract) if r in planted_lines}
            want = {(lines[k], col) for k, (ext, col) in expected.items() if ext == extract}
            assert got == want, (kind, extract)
    # the kept rows
    assert lines["tie_last"] not in {r for r, _ in of("quarantine", "cases")}
    assert lines["firm_without_size"] not in {r for r, _ in of("quarantine", "enterprises")}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        kept = {
            r[0]
            for r in con.execute(
                "select case_id from marts.fct_service_cases where case_id like '3300002025009900%'"
            ).fetchall()
        }
        # flagged cases count; the tie keeps its later file row; quarantined ones are absent
        assert kept == {"330000202500990007", "330000202500990008", "330000202500990009"}
        assert (
            con.execute(
                "select count(*) from marts.fct_population_midyear where region_code = '110101'"
            ).fetchone()[0]
            == 0
        )
        # an optional field left empty flags nothing and stops nothing: the firm counts
        assert (
            con.execute(
                "select sum(active_enterprises) from marts.fct_enterprise_midyear "
                f"where year = {LAST[:4]} and size_class is null"
            ).fetchone()[0]
            == 1
        )
