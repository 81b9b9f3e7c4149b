"""The raw-extract generator: determinism, valid identifiers, the defect manifest and the
realism claims of docs/extract-contract.md (each within the tolerance stated there)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import chinese_calendar
import opencc
import pyarrow.parquet as pq
import pytest
from contract_rules import violations
from stdnum.cn import ric, uscc

from subjectdb.config import SEEDS_DIR
from subjectdb.synth import (
    COLUMNS,
    DEFECT_KINDS,
    STRUCTURAL_KINDS,
    GenerateError,
    generate,
    parse_years,
)
from subjectdb.synth import profiles as prof

SMALL = dict(
    province="330000",
    persons=600,
    enterprises=120,
    cases=1_500,
    years=(2024, 2025),
    batches=3,
    fmt="csv",
    defect_rate=0.03,
    seed=5,
)
TS = "%Y-%m-%d %H:%M:%S"


# --------------------------------------------------------------------------------------------
# helpers: read a generated folder as {file name: {line number: fields}}
# --------------------------------------------------------------------------------------------
def read_file(path: Path) -> tuple[list[str], dict[int, list[str | None]]]:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        rows = table.to_pylist()
        header = table.column_names
        return header, {i + 2: [r[c] for c in header] for i, r in enumerate(rows)}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gbk")
    lines = text.split("\n")
    header = lines[0].split(",")
    return header, {i + 1: line.split(",") for i, line in enumerate(lines) if i and line}


class Folder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, tuple[list[str], dict[int, list[str | None]]]] = {}
        for extract in COLUMNS:
            for path in sorted((out / extract).iterdir()):
                self.files[path.name] = read_file(path)
        with (out / "manifest.csv").open(encoding="utf-8", newline="") as fh:
            self.manifest = list(csv.DictReader(fh))
        self.defective = {(m["file"], int(m["row"])) for m in self.manifest}

    def rows(self, extract: str, clean: bool = True) -> list[dict[str, str | None]]:
        """Rows of an extract as dicts (clean = without manifest entries), in file order."""
        out = []
        for name, (header, rows) in self.files.items():
            if not name.startswith(extract + "_"):
                continue
            for line, fields in rows.items():
                if clean and (name, line) in self.defective:
                    continue
                if len(fields) != len(header):
                    continue
                row = dict(zip(header, fields, strict=True))
                row["_file"] = name
                out.append(row)
        return out

    def latest(self, extract: str, key: str) -> dict[str, dict[str, str | None]]:
        best: dict[str, dict[str, str | None]] = {}
        for row in self.rows(extract):
            k = row[key]
            if k and (k not in best or (row["updated_at"] or "") >= (best[k]["updated_at"] or "")):
                best[k] = row
        return best


def seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def id_birth(resident_id: str) -> dt.date:
    return dt.date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))


@pytest.fixture(scope="module")
def sample(raw_sample) -> Folder:
    """The shared session sample (tests/conftest.py SAMPLE: CSV, 12,000 cases, 2 % defects)."""
    return Folder(raw_sample.out)


# --------------------------------------------------------------------------------------------
# determinism, arguments, layout
# --------------------------------------------------------------------------------------------
def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate(out=tmp_path / "a", **SMALL)
    b = generate(out=tmp_path / "b", **SMALL)
    c = generate(out=tmp_path / "c", **{**SMALL, "seed": 6})
    names = sorted(p.relative_to(a.out) for p in a.files) + [Path("manifest.csv")]
    assert len(names) == 3 * 3 + 1
    for name in names:
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes(), name
    assert any((a.out / n).read_bytes() != (c.out / n).read_bytes() for n in names)


def test_parse_years_and_errors(tmp_path: Path) -> None:
    assert parse_years("2024-2025") == (2024, 2025)
    assert parse_years("2025") == (2025, 2025)
    for bad in ("2025-2024", "twenty", "2024-2025-2026"):
        with pytest.raises(GenerateError):
            parse_years(bad)
    with pytest.raises(GenerateError, match="2004"):
        generate(out=tmp_path / "x", **{**SMALL, "years": (2003, 2004)})
    with pytest.raises(GenerateError, match="calendar"):
        generate(out=tmp_path / "x", **{**SMALL, "years": (2026, 2027)})
    with pytest.raises(GenerateError, match="province"):
        generate(out=tmp_path / "x", **{**SMALL, "province": "999999"})
    with pytest.raises(GenerateError, match="format"):
        generate(out=tmp_path / "x", **{**SMALL, "fmt": "xlsx"})
    with pytest.raises(GenerateError, match="defect-rate"):
        generate(out=tmp_path / "x", **{**SMALL, "defect_rate": 2.0})


def test_other_province_works(tmp_path: Path) -> None:
    res = generate(out=tmp_path / "sc", **{**SMALL, "province": "510000", "defect_rate": 0.0})
    folder = Folder(res.out)
    counties = {
        r["region_code"]
        for r in seed_rows("ref_regions")
        if r["level"] == "county" and r["province_code"] == "510000"
    }
    regions = {r["residence_region"] for r in folder.rows("persons")}
    assert regions and regions <= counties
    assert folder.manifest == []


def test_layout_batches_and_cutoffs(sample: Folder, raw_sample) -> None:
    names = sorted(sample.files)
    batch_ids = sorted({n.split("_")[1].split(".")[0] for n in names})
    assert len(batch_ids) == 3 and batch_ids[-1] == "20251231"
    for extract, columns in COLUMNS.items():
        for b in batch_ids:
            header, _ = sample.files[f"{extract}_{b}.csv"]
            assert header == columns
    # every clean row was updated by its batch's cut-off
    for extract in COLUMNS:
        for row in sample.rows(extract):
            cutoff = row["_file"].split("_")[1][:8]
            assert row["updated_at"][:10].replace("-", "") <= cutoff, row
    # the first register batch is the full register: every person appears there or is new
    first = {r["person_id"] for r in sample.rows("persons") if batch_ids[0] in r["_file"]}
    later_new = [
        r
        for r in sample.rows("persons")
        if batch_ids[0] not in r["_file"] and r["person_id"] not in first
    ]
    assert len(first) > 0.9 * raw_sample.counts["persons"]
    # births and arrivals during the period (a person whose first row carries a defect
    # may also show up here)
    odd = [r for r in later_new if not (r["status_date"] >= "2024-01-01" and r["status"] == "常住")]
    first_defects = [m for m in sample.manifest if m["file"] == f"persons_{batch_ids[0]}.csv"]
    assert later_new and len(odd) <= len(first_defects)
    # a case re-appears in a later batch only with a changed status
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in sample.rows("cases"):
        seen[r["case_id"]].append((r["_file"], r["status"]))
    multi = [v for v in seen.values() if len({f for f, _ in v}) > 1]
    assert multi, "some cases should span batches"
    for v in multi:
        statuses = [s for _, s in sorted(v)]
        assert len(set(statuses)) == len(statuses)


# --------------------------------------------------------------------------------------------
# identifiers
# --------------------------------------------------------------------------------------------
def test_ids_and_credit_codes_validate(sample: Folder) -> None:
    persons = sample.rows("persons")
    assert len(persons) > 3_000
    for r in persons:
        pid = r["person_id"]
        assert ric.is_valid(pid), pid
        assert r["birth_date"] == id_birth(pid).isoformat()
        assert r["sex"] == ("男" if int(pid[16]) % 2 else "女")
        if r["phone"]:
            assert len(r["phone"]) == 11 and r["phone"][0] == "1" and r["phone"][1] in "3456789"
    for r in sample.rows("enterprises"):
        assert uscc.is_valid(r["credit_code"]), r["credit_code"]
        assert r["credit_code"][2:8] == r["region"]
    n_person = n_ent = 0
    for r in sample.rows("cases"):
        if r["applicant_type"] == "自然人":
            assert ric.is_valid(r["applicant_id"]), r["applicant_id"]
            n_person += 1
        else:
            assert uscc.is_valid(r["applicant_id"]), r["applicant_id"]
            n_ent += 1
    assert n_person > 0 and n_ent > 0


def test_case_applicants_come_from_the_registers(sample: Folder) -> None:
    persons = {r["person_id"]: r for r in sample.rows("persons")}
    residences = defaultdict(set)
    for r in sample.rows("persons"):
        residences[r["person_id"]].add(r["residence_region"])
    # persons with a defective register row (e.g. the row before a move) are not checked; a
    # defect in the ID itself hides the row's person: the manifest's detail has the true ID
    person_defects = [m for m in sample.manifest if m["file"].startswith("persons_")]
    defective_ids = {sample.files[m["file"]][1][int(m["row"])][0] for m in person_defects}
    defective_ids |= {m["detail"] for m in person_defects if m["column"] == "person_id"}
    ents = {r["credit_code"]: r for r in sample.rows("enterprises")}
    p_cases = [r for r in sample.rows("cases") if r["applicant_type"] == "自然人"]
    in_register = [r for r in p_cases if r["applicant_id"] in persons]
    assert len(in_register) / len(p_cases) > 0.95
    assert all(
        r["residence_region"] in residences[r["applicant_id"]]
        for r in in_register
        if r["applicant_id"] not in defective_ids
    )
    e_cases = [r for r in sample.rows("cases") if r["applicant_type"] == "法人"]
    assert all(
        ents[r["applicant_id"]]["region"] == r["residence_region"]
        for r in e_cases
        if r["applicant_id"] in ents
    )
    known = {  # every line's first field: a row cut short still names its enterprise
        fields[0]
        for name, (_, lines) in sample.files.items()
        if name.startswith("enterprises_")
        for fields in lines.values()
    }
    known |= {m["detail"] for m in sample.manifest if m["file"].startswith("enterprises_")}
    assert all(r["applicant_id"] in known for r in e_cases)


# --------------------------------------------------------------------------------------------
# the defect manifest
# --------------------------------------------------------------------------------------------
def _check_entry(folder: Folder, m: dict[str, str], items: set[str], retired: set[str]) -> None:
    header, rows = folder.files[m["file"]]
    kind, col, line = m["kind"], m["column"], int(m["row"])
    if kind == "gbk_encoding":
        assert line == 0
        raw = (folder.out / m["file"].split("_")[0] / m["file"]).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        raw.decode("gbk")
        return
    fields = rows[line]
    if kind == "row_cut_short":
        assert len(fields) < len(header)
        return
    if kind == "extra_delimiter":
        assert len(fields) == len(header) + 1
        return
    if kind == "stray_quote":
        assert len(fields) == len(header)
        value = fields[header.index(col)]
        assert value == '"' + m["detail"], (value, m)
        return
    assert len(fields) == len(header)
    row = dict(zip(header, fields, strict=True))
    value = row.get(col)
    if kind == "traditional_chars":
        assert value != m["detail"] and opencc.OpenCC("t2s").convert(value) == m["detail"]
    elif kind == "fullwidth_digits":
        assert any("０" <= ch <= "９" for ch in value)
    elif kind == "retired_region_code":
        assert value in retired and value != m["detail"]
    elif kind == "bad_id_check_digit":
        assert len(value) == 18 and not ric.is_valid(value)
        assert ric.is_valid(m["detail"])
    elif kind == "bad_credit_code_check_digit":
        assert len(value) == 18 and not uscc.is_valid(value) and uscc.is_valid(m["detail"])
    elif kind == "unknown_item_code":
        assert value and value not in items
    elif kind == "accepted_before_submitted":
        assert value < row["submitted_at"]
    elif kind == "future_date":
        cutoff = m["file"].split("_")[1][:8]
        assert value[:10].replace("-", "") > cutoff
    elif kind == "missing_required":
        assert value in ("", None)
    elif kind == "formula_text":
        assert value[0] in "=+-@"
    elif kind == "excel_mangled_id":
        assert (
            col == "case_id" and "E+" in value and float(value) == float(f"{int(m['detail']):.5E}")
        )
    elif kind == "duplicate_resent":
        extract = m["file"].split("_")[0]
        earlier = [n for n in folder.files if n.startswith(extract + "_") and n < m["file"]]
        assert any(fields in folder.files[n][1].values() for n in earlier)
    else:  # pragma: no cover - a kind the test does not know
        raise AssertionError(kind)


def test_every_manifest_entry_is_in_the_file(sample: Folder) -> None:
    items = {r["item_code"] for r in seed_rows("ref_service_items")}
    retired = {r["retired_code"] for r in seed_rows("ref_region_code_changes")}
    assert sample.manifest
    for m in sample.manifest:
        _check_entry(sample, m, items, retired)
    kinds = Counter(m["kind"] for m in sample.manifest)
    assert set(kinds) == set(DEFECT_KINDS), kinds
    # one defect per row
    assert len(sample.defective) == len(sample.manifest)
    # the rate: defects / rows within ±30 % of the configured 2 %
    total = sum(len(rows) for _, rows in sample.files.values())
    assert 0.014 < len(sample.manifest) / total < 0.026


@pytest.mark.parametrize(
    ("province", "fmt", "years", "batches", "seed"),
    [("330000", "csv", (2024, 2025), 6, 11), ("510000", "parquet", (2025, 2025), 1, 3)],
)
def test_clean_delivery_breaks_no_contract_rule(
    tmp_path: Path, province: str, fmt: str, years: tuple[int, int], batches: int, seed: int
) -> None:
    """Every row rule of the contract (tests/contract_rules.py, written apart from the loader
    and the raw suites) holds on every row of a delivery without defects: dates in order
    (``updated_at`` the latest), "only when" fields, completion on a working day, residence
    in the province, identifiers of the right shape and check characters."""
    params = dict(SMALL, province=province, persons=1_500, enterprises=200, cases=6_000)
    params.update(fmt=fmt, years=years, batches=batches, seed=seed, defect_rate=0.0)
    res = generate(out=tmp_path / "raw", **params)
    assert violations(res.out, province) == []


def test_defects_break_exactly_the_manifest_rows(sample: Folder, raw_sample) -> None:
    """Every row that breaks a contract rule is listed in the manifest, at the column it
    breaks; every listed row breaks one, except re-sent duplicates (which break none: consumers
    de-duplicate) and the structural kinds (rows of the wrong width or framing: the loader's,
    tests/test_load.py)."""
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for v in violations(raw_sample.out, SMALL["province"]):
        found[(v.file, v.row)].add(v.column)
    listed = {(m["file"], int(m["row"])): m for m in sample.manifest}
    assert [key for key in found if key not in listed] == []
    for key, m in listed.items():
        if m["kind"] == "duplicate_resent" or m["kind"] in STRUCTURAL_KINDS:
            assert m["kind"] == "stray_quote" or key not in found, m
            continue
        assert m["column"] in found.get(key, set()), m


@pytest.mark.parametrize("fmt", ["csv-gbk", "parquet"])
def test_gbk_and_parquet(tmp_path: Path, fmt: str) -> None:
    res = generate(out=tmp_path / fmt, **{**SMALL, "fmt": fmt, "defect_rate": 0.05})
    folder = Folder(res.out)
    items = {r["item_code"] for r in seed_rows("ref_service_items")}
    retired = {r["retired_code"] for r in seed_rows("ref_region_code_changes")}
    for m in folder.manifest:
        _check_entry(folder, m, items, retired)
    kinds = {m["kind"] for m in folder.manifest}
    if fmt == "parquet":
        assert not kinds & {"row_cut_short", "extra_delimiter", "stray_quote", "gbk_encoding"}
        assert all(p.suffix == ".parquet" for p in res.files)
    else:
        gbk = [m for m in folder.manifest if m["kind"] == "gbk_encoding"]
        assert sorted(m["file"] for m in gbk) == sorted(p.name for p in res.files)
    for r in folder.rows("persons"):
        assert ric.is_valid(r["person_id"])


# --------------------------------------------------------------------------------------------
# realism: the claims of docs/extract-contract.md, with the tolerances stated there
# --------------------------------------------------------------------------------------------
def test_age_structure_matches_the_census(sample: Folder) -> None:
    ref = dt.date(2024, 7, 1)
    residents = _residents_on(sample, ref)
    ages = [age_on(dt.date.fromisoformat(r["birth_date"]), ref) for r in residents]
    n = len(ages)
    shares = {
        "00-14": sum(a <= 14 for a in ages) / n * 100,
        "15-59": sum(15 <= a <= 59 for a in ages) / n * 100,
        "60+": sum(a >= 60 for a in ages) / n * 100,
        "65+": sum(a >= 65 for a in ages) / n * 100,
    }
    for group, target in prof.CENSUS_AGGREGATES.items():
        assert abs(shares[group] - target) < 2.5, (group, shares[group], target)


def _residents_on(folder: Folder, day: dt.date) -> list[dict[str, str | None]]:
    limit = day.isoformat() + " 00:00:00"
    best: dict[str, dict[str, str | None]] = {}
    for row in folder.rows("persons"):
        if row["updated_at"] <= limit:
            k = row["person_id"]
            if k not in best or row["updated_at"] >= best[k]["updated_at"]:
                best[k] = row
    return [r for r in best.values() if r["status"] == "常住"]


def _cases_with_age(folder: Folder) -> list[tuple[dict[str, str | None], int]]:
    out = []
    for r in folder.latest("cases", "case_id").values():
        if r["applicant_type"] != "自然人":
            continue
        sub = dt.datetime.strptime(r["submitted_at"], TS).date()
        out.append((r, age_on(id_birth(r["applicant_id"]), sub)))
    return out


def test_online_share_falls_with_age_and_rurality(sample: Folder) -> None:
    groups = [(15, 24), (25, 44), (45, 59), (60, 74), (75, 200)]
    online = {"网上办事大厅", "移动端"}
    shares = []
    for lo, hi in groups:
        sel = [r for r, a in _cases_with_age(sample) if lo <= a <= hi]
        assert len(sel) > 150, (lo, hi, len(sel))
        shares.append(sum(r["channel"] in online for r in sel) / len(sel))
    assert all(a > b for a, b in zip(shares, shares[1:], strict=False)), shares
    assert shares[0] - shares[-1] > 0.3
    urban = {r["region_code"] for r in seed_rows("ref_regions") if r["urban_rural"] == "urban"}
    cases = [r for r, _ in _cases_with_age(sample)]
    u = [r["channel"] in online for r in cases if r["residence_region"] in urban]
    ru = [r["channel"] in online for r in cases if r["residence_region"] not in urban]
    assert sum(u) / len(u) - sum(ru) / len(ru) > 0.04


def test_life_event_demand_by_age(sample: Folder) -> None:
    theme = {r["item_code"]: r["theme_code"] for r in seed_rows("ref_service_items")}
    by_theme: dict[str, list[int]] = defaultdict(list)
    for r, a in _cases_with_age(sample):
        by_theme[theme.get(r["item_code"], "")].append(a)

    def share(t: str, lo: int, hi: int) -> float:
        ages = by_theme[t]
        assert len(ages) > 100, t
        return sum(lo <= a <= hi for a in ages) / len(ages)

    assert share("birth", 20, 40) > 0.85  # parents aged 20-39
    assert share("marriage", 20, 38) > 0.75  # marriage registration 22-35
    assert share("pension", 50, 120) > 0.75  # pensions from 55 / 60
    assert share("education", 26, 55) > 0.65  # parents of school-age children
    all_ages = [a for ages in by_theme.values() for a in ages]
    assert sum(a <= 14 for a in all_ages) / len(all_ages) < 0.05


def test_seasonality(sample: Folder) -> None:
    theme = {r["item_code"]: r["theme_code"] for r in seed_rows("ref_service_items")}
    cases = list(sample.latest("cases", "case_id").values())
    days = [dt.datetime.strptime(r["submitted_at"], TS).date() for r in cases]
    edu = [d for r, d in zip(cases, days, strict=True) if theme.get(r["item_code"]) == "education"]
    assert sum(d.month in (7, 8, 9) for d in edu) / len(edu) > 0.45  # uniform: 0.25
    per_day = Counter(days)
    n_days = 731
    mean = len(days) / n_days
    spring = [
        d
        for d in (dt.date(2024, 1, 1) + dt.timedelta(i) for i in range(n_days))
        if chinese_calendar.get_holiday_detail(d)[1] == "Spring Festival"
    ]
    assert sum(per_day[d] for d in spring) / len(spring) < 0.6 * mean
    december = [d for d in days if d.month == 12]
    assert len(december) / 62 > mean * 1.05


def test_processing_times_on_working_days(sample: Folder) -> None:
    done = [r for r in sample.latest("cases", "case_id").values() if r["status"] == "已办结"]
    assert len(done) > 5_000
    on_time = 0
    for r in done:
        acc = dt.datetime.strptime(r["accepted_at"], TS)
        comp = dt.datetime.strptime(r["completed_at"], TS)
        assert acc <= comp and comp.year <= 2025
        assert chinese_calendar.is_workday(comp.date())
        days = (
            chinese_calendar.get_workdays(acc.date() + dt.timedelta(1), comp.date())
            if comp.date() > acc.date()
            else []
        )
        on_time += len(days) <= int(r["promised_days"])
    assert 0.78 < on_time / len(done) < 0.97
    open_cases = [
        r
        for r in sample.latest("cases", "case_id").values()
        if r["status"] in ("已受理", "办理中", "已提交")
    ]
    assert open_cases and all(not r["completed_at"] for r in open_cases)


def test_ratings_worsen_with_delay(sample: Folder) -> None:
    fast, slow = [], []
    for r in sample.latest("cases", "case_id").values():
        if r["status"] != "已办结" or not r["rating"]:
            continue
        acc = dt.datetime.strptime(r["accepted_at"], TS).date()
        comp = dt.datetime.strptime(r["completed_at"], TS).date()
        wd = len(chinese_calendar.get_workdays(acc + dt.timedelta(1), comp)) if comp > acc else 0
        (slow if wd > int(r["promised_days"]) else fast).append(int(r["rating"]))
    assert len(fast) > 500 and len(slow) > 30
    assert sum(fast) / len(fast) - sum(slow) / len(slow) > 0.4


def test_enterprise_demand_by_size(sample: Folder) -> None:
    ents = {r["credit_code"]: r for r in sample.rows("enterprises")}
    per_size = Counter(r["size_class"] for r in ents.values())
    cases = Counter(
        ents[r["applicant_id"]]["size_class"]
        for r in sample.latest("cases", "case_id").values()
        if r["applicant_type"] == "法人" and r["applicant_id"] in ents
    )
    rate = {s: cases[s] / per_size[s] for s in per_size if per_size[s] >= 10}
    assert rate["小型"] > rate["微型"]
    assert max(rate.get("中型", 0), rate.get("大型", 0)) > rate["小型"]


# --------------------------------------------------------------------------------------------
# unit checks of the vectorised identifier code
# --------------------------------------------------------------------------------------------
def test_resident_id_matrix_writes_stdnum_check_characters() -> None:
    """The generator's ID matrix (check characters from subjectdb.standards, whose own
    cross-check against python-stdnum is tests/test_standards.py)."""
    import numpy as np

    from subjectdb.synth import resident_id_matrix

    rng = np.random.default_rng(1)
    id17 = 330106 * 10**11 + 19900101 * 1000 + rng.integers(0, 1000, 500)
    for row in resident_id_matrix(id17):
        number = row.tobytes().decode()
        assert number[-1] == ric.calc_check_digit(number)


def test_id_address_codes_follow_boundary_history() -> None:
    from subjectdb.synth import address_code_table, all_region_names

    table = address_code_table(
        ["330112", "330113"], all_region_names(), {"330112": ["330185"]}, range(1980, 2026)
    )
    linan = dict(zip(range(1980, 2026), table[0].tolist(), strict=True))
    assert linan[1990] == 330124 and linan[2000] == 330185 and linan[2020] == 330112
    # 临平区 (2021) is unknown to python-stdnum's history: a code valid then is used instead
    for year, code in zip(range(1980, 2026), table[1].tolist(), strict=True):
        number = f"{code}{year}0101001"
        assert ric.is_valid(number + ric.calc_check_digit(number + "0")), (year, code)
