"""Cross-verification (交互核验) of the approval data against the registers, on a real build.

The generator's sample gets planted mismatches: raw rows appended to the last batch of each
extract before loading (cloned from valid rows, with fresh identifiers whose check characters
are computed, so they pass the raw suites): one case for each of the six checks. After the full
pipeline (load, raw suites, dbt build, gates, swap), the planted cases must carry their check,
and ``subj_cross_verification`` must equal an independent computation in pandas over the
staged tables (latest case state, register versions, rules written again from the definition
in docs/sharing.md).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from stdnum.cn import ric, uscc

from subjectdb.config import Paths

LAST = "20251231"
# planted case ids have the contract's shape (province, year, 8-digit sequence): the loader
# quarantines any other; the 9999xxxx sequences are far above the generator's
PLANTED = {
    "330000202599990001": "person_not_registered",
    "330000202599990002": "person_deceased",
    "330000202599990003": "person_not_resident",
    "330000202599990004": "enterprise_not_registered",
    "330000202599990005": "enterprise_closed",
    "330000202599990006": "enterprise_other_region",
}


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows by physical line: the generator writes unquoted CSV, one record a line,
    and its injected stray-quote defects would make a CSV parser swallow the following lines."""
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = [line.split(",") for line in lines if line]
    return rows[0], rows[1:]


def _append(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for row in rows:
            writer.writerow([row[c] for c in header])


def _defect_rows(raw: Path) -> set[tuple[str, int]]:
    with (raw / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["file"], int(r["row"])) for r in csv.DictReader(fh)}


def _clean_rows(raw: Path, extract: str) -> tuple[list[str], list[dict[str, str]]]:
    """The rows of the last batch that no defect touches (line numbers as in the manifest)."""
    name = f"{extract}_{LAST}.csv"
    header, rows = _read(raw / extract / name)
    bad = _defect_rows(raw)
    out = []
    for line, values in enumerate(rows, start=2):
        if (name, line) in bad or len(values) != len(header):
            continue
        out.append(dict(zip(header, values, strict=True)))
    return header, out


def _new_resident_id(template: str, taken: set[str]) -> str:
    for seq in range(int(template[14:17]) % 2, 1000, 2):  # same sex digit parity
        body = f"{template[:14]}{seq:03d}"
        candidate = body + ric.calc_check_digit(body + "0")
        if candidate not in taken and ric.is_valid(candidate):
            taken.add(candidate)
            return candidate
    raise AssertionError("no free resident ID")


def _new_credit_code(template: str, taken: set[str]) -> str:
    """A valid GB 32100 code in ``template``'s region, not yet used."""
    for n in range(1, 100_000):
        body = f"{template[:8]}{n:09d}"
        candidate = body + uscc.calc_check_digit(body)
        if candidate not in taken and uscc.is_valid(candidate):
            taken.add(candidate)
            return candidate
    raise AssertionError("no free credit code")


def plant(raw: Path) -> None:
    """Append one case for each check (and the register rows they need) to the last batch."""
    c_header, cases = _clean_rows(raw, "cases")
    p_header, persons = _clean_rows(raw, "persons")
    e_header, firms = _clean_rows(raw, "enterprises")
    taken_ids = {p["person_id"] for p in persons} | {c["applicant_id"] for c in cases}
    taken_codes = {e["credit_code"] for e in firms} | {c["applicant_id"] for c in cases}
    for extract, key in (("persons", "person_id"), ("enterprises", "credit_code")):
        for f in (raw / extract).glob("*.csv"):
            header, rows = _read(f)
            i = header.index(key)
            (taken_ids if extract == "persons" else taken_codes).update(
                r[i] for r in rows if len(r) > i
            )
    counties = sorted({c["residence_region"] for c in cases})

    def case_like(kind: str) -> dict[str, str]:
        return next(
            c
            for c in cases
            if c["applicant_type"] == kind
            and c["submitted_at"] >= "2025-06-01"
            and c["residence_region"] == c["dept_region"]
        )

    person_case, firm_case = case_like("自然人"), case_like("法人")
    submitted = dt.date.fromisoformat(person_case["submitted_at"][:10])
    base_person = next(
        p for p in persons if p["status"] == "常住" and p["residence_region"] == p["hukou_region"]
    )
    base_firm = next(e for e in firms if e["status"] == "存续" and not e["closed_date"])

    new_cases, new_persons, new_firms = [], [], []

    def person(pid: str, region: str, **extra: str) -> dict[str, str]:
        return {
            **base_person,
            "person_id": pid,
            "residence_region": region,
            "hukou_region": region,
            "birth_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}",
            "status": "常住",
            "status_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}",
            "updated_at": "2024-01-05 09:00:00",
            **extra,
        }

    region = person_case["residence_region"]
    # not registered: a fresh, valid ID that no register row holds
    new_cases.append(
        {
            **person_case,
            "case_id": "330000202599990001",
            "applicant_id": _new_resident_id(person_case["applicant_id"], taken_ids),
        }
    )
    # deceased before submission
    dead = _new_resident_id(base_person["person_id"], taken_ids)
    died = submitted - dt.timedelta(days=30)
    new_persons += [
        person(dead, region),
        person(
            dead,
            region,
            status="死亡",
            status_date=died.isoformat(),
            updated_at=f"{died + dt.timedelta(days=1)} 09:00:00",
        ),
    ]
    new_cases.append({**person_case, "case_id": "330000202599990002", "applicant_id": dead})
    # resident in another county than the case's
    away = _new_resident_id(base_person["person_id"], taken_ids)
    elsewhere = next(c for c in counties if c != region)
    new_persons.append(person(away, elsewhere))
    new_cases.append({**person_case, "case_id": "330000202599990003", "applicant_id": away})

    firm_region = firm_case["residence_region"]

    def firm(code: str, region_: str, **extra: str) -> dict[str, str]:
        return {
            **base_firm,
            "credit_code": code,
            "region": region_,
            "updated_at": "2024-01-05 09:00:00",
            **extra,
        }

    new_cases.append(
        {
            **firm_case,
            "case_id": "330000202599990004",
            "applicant_id": _new_credit_code(firm_case["applicant_id"], taken_codes),
        }
    )
    closed_code = _new_credit_code(base_firm["credit_code"], taken_codes)
    closed = dt.date.fromisoformat(firm_case["submitted_at"][:10]) - dt.timedelta(days=20)
    new_firms += [
        firm(closed_code, firm_region),
        firm(
            closed_code,
            firm_region,
            status="注销",
            closed_date=closed.isoformat(),
            updated_at=f"{closed} 10:00:00",
        ),
    ]
    new_cases.append({**firm_case, "case_id": "330000202599990005", "applicant_id": closed_code})
    far_code = _new_credit_code(base_firm["credit_code"], taken_codes)
    new_firms.append(firm(far_code, next(c for c in counties if c != firm_region)))
    new_cases.append({**firm_case, "case_id": "330000202599990006", "applicant_id": far_code})

    _append(raw / "cases" / f"cases_{LAST}.csv", new_cases, c_header)
    _append(raw / "persons" / f"persons_{LAST}.csv", new_persons, p_header)
    _append(raw / "enterprises" / f"enterprises_{LAST}.csv", new_firms, e_header)


def _query(paths: Paths, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_planted_cases_carry_their_check(planted: Paths) -> None:
    got = _query(
        planted,
        "select case_id, check_code from intermediate.int_verification__case_checks "
        "where case_id like '3300002025999900%'",
    )
    assert dict(zip(got.case_id, got.check_code, strict=True)) == PLANTED


def _versions(frame: pd.DataFrame, key: str) -> dict[str, list[dict]]:
    """Register versions per key: re-sent rows collapsed, each valid to the next one."""
    frame = frame.sort_values([key, "updated_at", "_batch_id", "_source_row"])
    frame = frame.drop_duplicates([key, "updated_at"], keep="last")
    out: dict[str, list[dict]] = {}
    for row in frame.to_dict(orient="records"):
        out.setdefault(row[key], []).append(row)
    return out


def _at(versions: list[dict], when: pd.Timestamp) -> dict | None:
    chosen = None
    for i, v in enumerate(versions):
        if i == 0 or when >= v["updated_at"]:
            chosen = v
    return chosen


def independent_checks(paths: Paths) -> pd.DataFrame:
    """Every case's check, from the staged tables only, by the rules of docs/sharing.md."""
    cases = _query(paths, "select * from staging.stg_approval__cases")
    cases = cases.sort_values(["case_id", "updated_at", "_batch_id", "_source_row"])
    cases = cases.drop_duplicates("case_id", keep="last")
    persons = _versions(
        _query(paths, "select * from staging.stg_population__persons"), "person_key"
    )
    firms = _versions(
        _query(paths, "select * from staging.stg_enterprise__enterprises"), "enterprise_key"
    )
    deaths = {
        k: min(
            (v["status_date"] if pd.notna(v["status_date"]) else v["updated_at"].date())
            for v in vs
            if v["status_code"] == "deceased"
        )
        for k, vs in persons.items()
        if any(v["status_code"] == "deceased" for v in vs)
    }
    checks = []
    for c in cases.to_dict(orient="records"):
        when, day, check = c["submitted_at"], c["submitted_at"].date(), None
        if c["applicant_type"] == "person":
            versions = persons.get(c["applicant_key"])
            if not versions:
                check = "person_not_registered"
            elif (
                c["applicant_key"] in deaths
                and pd.Timestamp(deaths[c["applicant_key"]]).date() < day
            ):
                check = "person_deceased"
            else:
                v = _at(versions, when)
                if (
                    v["status_code"] != "resident"
                    or v["residence_region_code"] != c["residence_region_code"]
                ):
                    check = "person_not_resident"
        elif c["applicant_type"] == "enterprise":
            versions = firms.get(c["applicant_key"])
            if not versions:
                check = "enterprise_not_registered"
            else:
                v = _at(versions, when)
                closed = v["closed_date"]
                if v["status_code"] != "active" or (pd.notna(closed) and closed <= day):
                    check = "enterprise_closed"
                elif v["region_code"] != c["residence_region_code"]:
                    check = "enterprise_other_region"
        checks.append(
            {
                "case_id": c["case_id"],
                "dept_name": c["dept_name"],
                "item_code": c["item_code"],
                "applicant_type": c["applicant_type"],
                "submitted_month": day.replace(day=1),
                "check_code": check,
            }
        )
    return pd.DataFrame(checks)


def test_counts_match_an_independent_query(planted: Paths) -> None:
    checks = independent_checks(planted)
    assert set(PLANTED.values()) <= set(checks.check_code.dropna())
    cells = (
        checks.groupby(["dept_name", "item_code", "submitted_month", "applicant_type"])
        .size()
        .rename("cases")
        .reset_index()
    )
    rules = pd.DataFrame(
        [("person", c) for c in ("person_not_registered", "person_deceased", "person_not_resident")]
        + [
            ("enterprise", c)
            for c in ("enterprise_not_registered", "enterprise_closed", "enterprise_other_region")
        ],
        columns=["applicant_type", "check_code"],
    )
    mism = (
        checks.dropna(subset=["check_code"])
        .groupby(["dept_name", "item_code", "submitted_month", "check_code"])
        .size()
        .rename("mismatches")
        .reset_index()
    )
    expected = cells.merge(rules, on="applicant_type").merge(
        mism, on=["dept_name", "item_code", "submitted_month", "check_code"], how="left"
    )
    expected["mismatches"] = expected["mismatches"].fillna(0).astype(int)
    expected["mismatches_per_1000"] = expected.mismatches / expected.cases * 1000
    got = _query(planted, "select * from marts.subj_cross_verification")
    got["submitted_month"] = pd.to_datetime(got.submitted_month).dt.date
    key = ["dept_name", "item_code", "submitted_month", "check_code"]
    merged = expected.merge(got, on=key, how="outer", suffixes=("_exp", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged.cases_exp == merged.cases_got).all()
    assert (merged.mismatches_exp == merged.mismatches_got).all()
    assert merged.mismatches_per_1000_exp.to_numpy() == pytest.approx(
        merged.mismatches_per_1000_got.to_numpy()
    )
    # each planted case is counted in its department's cell
    planted_cells = checks[checks.case_id.isin(PLANTED)]
    for row in planted_cells.itertuples():
        cell = got[
            (got.dept_name == row.dept_name)
            & (got.item_code == row.item_code)
            & (got.submitted_month == row.submitted_month)
            & (got.check_code == row.check_code)
        ]
        assert int(cell.mismatches.iloc[0]) >= 1
