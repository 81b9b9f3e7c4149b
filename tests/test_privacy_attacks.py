"""Privacy under attack: what an analyst, a crafted link or a curious query can get.

Every open-data release built here — the generator's sample through the whole pipeline and
the hand-made warehouse of test_publish — is attacked from its published files alone, as the
protection standard of docs/opendata.md says an analyst could:

(a) derived statistics: indirect standardisation's ``expected_cases`` is Σ_a rate(a) ×
    residents(county, a), so an analyst with several counties' expected cases solves for the
    warehouse's age × theme rates — and so for the province cells — by least squares; none of
    the cells recovered may be a suppressed one;
(b) linear programming over every published margin, roll-up and cross-table equation, with
    every published derived statistic (rates, shares, expected cases, ratios, age-standardised
    rates) entered as the interval its rounding leaves: every suppressed count's feasible
    interval is at least the release's protection range;
(c) no published count is 1–9 and no published rate, share or quantile rests on fewer than
    100 residents (enterprises, cases, ratings).

Each attack is shown to be able to fail: published leakily (expected cases for every county,
or the complementary suppressions' true values), the same attack recovers suppressed cells.

The dashboard: filter values in a link are text, never Markdown or HTML (AppTest and a real
browser); the serving connection cannot read or write files, attach databases or install
extensions; the access audit names who, with one session id across page loads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from subjectdb.config import PROJECT_DIR, Paths

TABLES = (
    "demand_region_age_theme",
    "demand_standardised",
    "service_performance",
    "enterprise_demand",
    "digital_divide",
    "population",
)
DEMAND, STD, PERF, ENT, DIV, POP = TABLES
D_KEYS = ["year", "region_level", "region_code", "age_group_code", "theme_code"]
E_KEYS = ["year", "region_level", "region_code", "industry_section"]
N_KEYS = ["year", "region_level", "region_code", "age_group_code", "sex"]
G_KEYS = ["year", "age_group_code", "urban_rural"]
COUNTS = {  # every published count column (value column, its status column)
    DEMAND: [("cases", "cases_status")],
    ENT: [("cases", "cases_status"), ("active_enterprises", "active_enterprises_status")],
    POP: [("population", "population_status")],
    DIV: [
        ("cases", "cases_status"),
        ("online_cases", "online_cases_status"),
        ("offline_cases", "offline_cases_status"),
    ],
    PERF: [
        ("cases", "status"),
        ("completed_cases", "completed_cases_status"),
        ("rated_cases", "rated_cases_status"),
    ],
}
MIN_COUNT = 10
MIN_DENOMINATOR = 100


def read_table(release: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(release / "data" / f"{name}.parquet")


def published_parameters(release: Path) -> tuple[int, float]:
    """The release's threshold and protection range, as its datapackage states them."""
    control = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))[
        "disclosure_control"
    ]
    return int(control["threshold"]), float(control["protection_range"])


# --------------------------------------------------------------------------- the attacker


@dataclass
class Row:
    """``lo <= Σ coef · x + const <= hi`` over the unknown (suppressed) counts."""

    coef: dict[int, float]
    const: float
    lo: float
    hi: float
    label: str


class Attacker:
    """The linear system an analyst can build from the published files of a release alone:
    additive equations between counts, and the rounded derived statistics as intervals."""

    def __init__(self, release: Path, tables: dict[str, pd.DataFrame] | None = None) -> None:
        self.tables = tables or {t: read_table(release, t) for t in TABLES}
        self.var: dict[tuple, int] = {}
        self.rows: list[Row] = []
        self.skipped: list[str] = []  # published statistics the attack could not linearise
        self._value: dict[tuple, float] = {}
        self._index()

    # ---- cells: a published number, an unknown, or a known zero (no row)
    def _index(self) -> None:
        for table, cols in COUNTS.items():
            df = self.tables[table]
            keys = {
                DEMAND: D_KEYS,
                ENT: E_KEYS,
                POP: N_KEYS,
                DIV: G_KEYS,
                PERF: ["year", "item_code"],
            }[table]
            key_frame = df[keys].astype(str)
            for value, _status in cols:
                for key, v in zip(key_frame.itertuples(index=False), df[value], strict=True):
                    self._value[(table, value, *key)] = np.nan if pd.isna(v) else float(v)

    def cell(self, table: str, value: str, *key: object) -> tuple[int | None, float]:
        """(unknown id, 0) for a suppressed count, (None, value) for a published one, and
        (None, 0) for a missing row (a count of zero)."""
        full = (table, value, *(str(k) for k in key))
        v = self._value.get(full, 0.0)
        if np.isnan(v):
            if full not in self.var:
                self.var[full] = len(self.var)
            return self.var[full], 0.0
        return None, v

    def add(self, terms: list[tuple[float, tuple]], lo: float, hi: float, label: str) -> None:
        """``lo <= Σ weight · cell <= hi``; terms are (weight, (table, value, *key))."""
        coef: dict[int, float] = {}
        const = 0.0
        for weight, key in terms:
            j, v = self.cell(*key)
            if j is None:
                const += weight * v
            else:
                coef[j] = coef.get(j, 0.0) + weight
        coef = {j: c for j, c in coef.items() if abs(c) > 1e-12}
        if coef:
            self.rows.append(Row(coef, const, lo, hi, label))
        else:
            assert lo - 1e-6 <= const <= hi + 1e-6, f"published numbers contradict: {label}"

    def equal(self, totals: list[tuple], parts: list[tuple], label: str) -> None:
        self.add([(1.0, k) for k in totals] + [(-1.0, k) for k in parts], 0.0, 0.0, label)

    def ratio(
        self,
        num: list[tuple[float, tuple]],
        den: list[tuple[float, tuple]],
        shown: float,
        half: float,
        label: str,
    ) -> None:
        """A published ratio ``num / den`` rounded to ``shown ± half`` (two linear rows)."""
        self.add(num + [(-(shown + half) * w, k) for w, k in den], -np.inf, 0.0, label)
        self.add(num + [(-(shown - half) * w, k) for w, k in den], 0.0, np.inf, label)

    # ---- the published relations
    def margins(self, table: str, value: str, keys: list[str], dims: list[str]) -> None:
        """The ``ALL`` row of each dimension = Σ its other rows, per value of the other keys."""
        df = self.tables[table].astype({k: str for k in keys})
        cells = self._keys(table, value, df, keys)
        for dim in dims:
            others = [k for k in keys if k != dim]
            groups: dict[tuple, tuple[list[tuple], list[tuple]]] = {}
            for key, d, *rest in zip(cells, df[dim], *(df[k] for k in others), strict=True):
                totals, parts = groups.setdefault(tuple(rest), ([], []))
                (totals if d == "ALL" else parts).append(key)
            for totals, parts in groups.values():
                if totals and parts:
                    self.equal(totals, parts, f"{table}.{value} {dim}")

    def hierarchy(self, table: str, value: str, keys: list[str]) -> None:
        """A parent region's row = Σ its children's rows (``parent_code``), per other key."""
        df = self.tables[table].astype({k: str for k in keys})
        others = [k for k in keys if k not in ("region_level", "region_code")]
        cells = self._keys(table, value, df, keys)
        kids: dict[tuple, list[tuple]] = {}
        for key, level, parent, *rest in zip(
            cells, df["region_level"], df["parent_code"].astype(str),
            *(df[k] for k in others), strict=True,
        ):  # fmt: skip
            if level in ("prefecture", "county"):
                kids.setdefault((parent, level, *rest), []).append(key)
        for key, level, code, *rest in zip(
            cells, df["region_level"], df["region_code"], *(df[k] for k in others), strict=True
        ):
            below = {"prefecture": ["county"], "province": ["prefecture", "county"]}.get(level)
            if below:
                parts = [k for lvl in below for k in kids.get((code, lvl, *rest), [])]
                if parts:
                    self.equal([key], parts, f"{table}.{value} roll-up")

    @staticmethod
    def _keys(table: str, value: str, rows: pd.DataFrame, keys: list[str]) -> list[tuple]:
        cols = [rows[k].astype(str).tolist() for k in keys]
        return [(table, value, *key) for key in zip(*cols, strict=True)]

    def build(self, derived: bool = True) -> Attacker:
        self.margins(DEMAND, "cases", D_KEYS, ["age_group_code", "theme_code"])
        self.hierarchy(DEMAND, "cases", D_KEYS)
        for value in ("cases", "active_enterprises"):
            self.margins(ENT, value, E_KEYS, ["industry_section"])
            self.hierarchy(ENT, value, E_KEYS)
        self.margins(POP, "population", N_KEYS, ["age_group_code", "sex"])
        self.hierarchy(POP, "population", N_KEYS)
        g = self.tables[DIV].astype({k: str for k in G_KEYS})
        for value in ("cases", "online_cases", "offline_cases"):
            self.margins(DIV, value, G_KEYS, ["age_group_code", "urban_rural"])
        d = self.tables[DEMAND].astype({k: str for k in D_KEYS})
        d_all = d[d["theme_code"] == "ALL"]
        for _, r in g.iterrows():
            key = [r[k] for k in G_KEYS]
            self.equal(
                [(DIV, "cases", *key)],
                [(DIV, "online_cases", *key), (DIV, "offline_cases", *key)],
                "online+offline",
            )
            if r["urban_rural"] == "ALL":
                parts = d_all[d_all["region_level"] == "province"]
            else:
                parts = d_all[
                    (d_all["region_level"] == "county")
                    & (d_all["urban_rural"].astype(str) == r["urban_rural"])
                ]
            parts = parts[
                (parts["year"] == r["year"]) & (parts["age_group_code"] == r["age_group_code"])
            ]
            self.equal(
                [(DIV, "cases", *key)], self._keys(DEMAND, "cases", parts, D_KEYS), "divide=demand"
            )
        p = self.tables[PERF].astype({"year": str})
        e = self.tables[ENT].astype({k: str for k in E_KEYS})
        for year, items in p.groupby("year"):
            item_keys = [(PERF, "cases", year, i) for i in items["item_code"]]
            prov = d[
                (d["year"] == year)
                & (d["region_level"] == "province")
                & (d["age_group_code"] == "ALL")
            ]
            e_prov = e[
                (e["year"] == year)
                & (e["region_level"] == "province")
                & (e["industry_section"] == "ALL")
            ]
            d_total = self._keys(DEMAND, "cases", prov[prov["theme_code"] == "ALL"], D_KEYS)
            e_total = self._keys(ENT, "cases", e_prov, E_KEYS)
            self.equal(item_keys, d_total + e_total, "items = persons + enterprises")
            for kind, total in (("person", d_total), ("enterprise", e_total)):
                sel = items[items["applicant_type"] == kind]
                self.equal(
                    total, [(PERF, "cases", year, i) for i in sel["item_code"]], f"{kind} items"
                )
            for theme, t_items in items[items["applicant_type"] == "person"].groupby("theme_code"):
                self.equal(
                    [(PERF, "cases", year, i) for i in t_items["item_code"]],
                    self._keys(DEMAND, "cases", prov[prov["theme_code"] == theme], D_KEYS),
                    "theme items",
                )
        if derived:
            self.derived()
        return self

    def derived(self) -> None:
        """Every published derived statistic as the interval its rounding leaves."""
        d = self.tables[DEMAND].astype({k: str for k in D_KEYS})
        for _, r in d[d["rate_per_1000"].notna()].iterrows():
            key = [r[k] for k in D_KEYS]
            pop = (
                POP,
                "population",
                r["year"],
                r["region_level"],
                r["region_code"],
                r["age_group_code"],
                "ALL",
            )
            self.ratio(
                [(1000.0, (DEMAND, "cases", *key))],
                [(1.0, pop)],
                float(r["rate_per_1000"]),
                5e-4,
                "rate",
            )
        e = self.tables[ENT].astype({k: str for k in E_KEYS})
        for _, r in e[e["rate_per_1000"].notna()].iterrows():
            key = [r[k] for k in E_KEYS]
            self.ratio(
                [(1000.0, (ENT, "cases", *key))],
                [(1.0, (ENT, "active_enterprises", *key))],
                float(r["rate_per_1000"]),
                5e-4,
                "enterprise rate",
            )
        g = self.tables[DIV].astype({k: str for k in G_KEYS})
        for _, r in g[g["online_share"].notna()].iterrows():
            key = [r[k] for k in G_KEYS]
            self.ratio(
                [(1.0, (DIV, "online_cases", *key))],
                [(1.0, (DIV, "cases", *key))],
                float(r["online_share"]),
                5e-5,
                "online share",
            )
        self._standardised()

    def _population(self, year: str, level: str, region: str, age: str) -> float | None:
        j, v = self.cell(POP, "population", year, level, region, age, "ALL")
        return None if j is not None else v

    def _standardised(self) -> None:
        std = self.tables[STD].astype({"year": str})
        pop = self.tables[POP].astype({"year": str})
        prov = pop[
            (pop["region_level"] == "province")
            & (pop["sex"] == "ALL")
            & (pop["age_group_code"] != "ALL")
        ]
        provinces = sorted(
            pop.loc[pop["region_level"] == "province", "region_code"].astype(str).unique()
        )
        per_year: dict[str, tuple[list[str], dict[str, float | None]]] = {}
        for y in std["year"].unique():
            ages = sorted(prov.loc[(prov["year"] == y), "age_group_code"].astype(str).unique())
            standard = {a: [self._population(y, "province", p, a) for p in provinces] for a in ages}
            per_year[y] = (
                ages,
                {a: None if any(v is None for v in vs) else sum(vs) for a, vs in standard.items()},
            )
        for _, r in std.iterrows():
            y, county, theme = r["year"], str(r["region_code"]), str(r["theme_code"])
            ages, big_n = per_year[y]
            county_all = (DEMAND, "cases", y, "county", county, "ALL", theme)
            if pd.notna(r["crude_rate"]):
                self.ratio(
                    [(1000.0, county_all)],
                    [(1.0, (POP, "population", y, "county", county, "ALL", "ALL"))],
                    float(r["crude_rate"]),
                    5e-4,
                    "crude rate",
                )
            n_county = {a: self._population(y, "county", county, a) for a in ages}
            known = all(big_n[a] is not None and n_county[a] is not None for a in ages)
            if pd.notna(r["expected_cases"]):
                if not known:
                    self.skipped.append(f"expected_cases {y} {county} {theme}")
                else:
                    terms = [
                        (n_county[a] / big_n[a], (DEMAND, "cases", y, "province", p, a, theme))
                        for a in ages
                        if big_n[a]
                        for p in provinces
                    ]
                    e = float(r["expected_cases"])
                    self.add(terms, e - 0.005, e + 0.005, "expected cases")
                    if pd.notna(r["standardised_ratio"]):
                        s = float(r["standardised_ratio"])
                        self.add(
                            [(1.0, county_all)],
                            (s - 5e-5) * (e - 0.005),
                            (s + 5e-5) * (e + 0.005),
                            "SDR",
                        )
            if pd.notna(r["age_standardised_rate"]):
                if not known:
                    self.skipped.append(f"age_standardised_rate {y} {county} {theme}")
                    continue
                total = sum(big_n[a] for a in ages if big_n[a])
                terms = [
                    (
                        1000.0 * big_n[a] / total / n_county[a],
                        (DEMAND, "cases", y, "county", county, a, theme),
                    )
                    for a in ages
                    if big_n[a] and n_county[a]
                ]
                asr = float(r["age_standardised_rate"])
                self.add(terms, asr - 5e-4, asr + 5e-4, "age-standardised rate")

    # ---- the attack: each unknown's feasible interval
    def intervals(self, width: float) -> dict[tuple, tuple[float, float]]:
        """Each unknown's feasible range (every count >= 1): exact min and max for every cell
        that random feasible points do not already show at least ``width`` wide."""
        import highspy

        n = len(self.var)
        if n == 0:
            return {}
        ri, ci, vals = [], [], []
        for i, row in enumerate(self.rows):
            for j, c in row.coef.items():
                ri.append(i)
                ci.append(j)
                vals.append(c)
        a_all = sparse.csr_matrix((vals, (ri, ci)), shape=(len(self.rows), n))
        lo_b = np.array([r.lo - r.const for r in self.rows])
        hi_b = np.array([r.hi - r.const for r in self.rows])
        finite = np.concatenate([np.abs(lo_b[np.isfinite(lo_b)]), np.abs(hi_b[np.isfinite(hi_b)])])
        cap = 2 * float(finite.sum()) + 1e6  # no count exceeds everything published, twice
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        _, comp = connected_components((a_all.T @ a_all).tocsr(), directed=False)
        row_comp = comp[a_all.indices[a_all.indptr[:-1]]]
        rng = np.random.default_rng(11)
        for k in np.unique(comp):
            cols = np.flatnonzero(comp == k)
            rows = np.flatnonzero(row_comp == k)
            if rows.size == 0:  # in no relation: anything goes
                lo[cols], hi[cols] = 1.0, np.inf
                continue
            a = a_all[rows][:, cols].tocsc()
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("presolve", "off")
            h.setOptionValue("threads", 1)
            h.passModel(
                cols.size,
                rows.size,
                a.nnz,
                1,
                1,
                0.0,
                np.zeros(cols.size),
                np.ones(cols.size),
                np.full(cols.size, cap),
                np.where(np.isfinite(lo_b[rows]), lo_b[rows], -highspy.kHighsInf),
                np.where(np.isfinite(hi_b[rows]), hi_b[rows], highspy.kHighsInf),
                a.indptr.astype(np.int32),
                a.indices.astype(np.int32),
                a.data.astype(np.float64),
                np.zeros(cols.size, dtype=np.int32),
            )

            def solve(c: np.ndarray, h: highspy.Highs = h, size: int = cols.size) -> np.ndarray:
                h.changeColsCost(size, np.arange(size, dtype=np.int32), c.astype(np.float64))
                h.run()
                # from the optimal basis of one objective the next starts primal feasible
                h.setOptionValue("simplex_strategy", 4)
                status = h.getModelStatus()
                assert status == highspy.HighsModelStatus.kOptimal, h.modelStatusToString(status)
                return np.asarray(h.getSolution().col_value)

            klo = np.full(cols.size, np.inf)
            khi = np.full(cols.size, -np.inf)
            for attempt in range(10):  # feasible points moving the cells not yet wide enough
                todo = khi - klo < width - 1e-6
                if todo.sum() < 8:
                    break
                signs = np.ones(cols.size) if attempt == 0 else rng.choice([-1.0, 1.0], cols.size)
                c = np.where(todo, signs, 0.0) + 1e-3 * rng.standard_normal(cols.size)
                for sign in (1, -1):
                    x = solve(sign * c)
                    klo, khi = np.minimum(klo, x), np.maximum(khi, x)
            for j in np.flatnonzero(khi - klo < width - 1e-6):  # exact max and min for the rest
                for direction in (-1.0, 1.0):
                    if khi[j] - klo[j] >= width - 1e-6:
                        break
                    e = np.zeros(cols.size)
                    e[j] = direction
                    x = solve(e)
                    klo, khi = np.minimum(klo, x), np.maximum(khi, x)
            lo[cols], hi[cols] = klo, khi
        keys = sorted(self.var, key=self.var.get)
        return {key: (lo[self.var[key]], hi[self.var[key]]) for key in keys}


def expected_cases_attack(
    tables: dict[str, pd.DataFrame],
) -> dict[tuple[str, str, str], float]:
    """(a): from published expected cases, the warehouse-wide age × theme counts by least
    squares — ``{(year, age, theme): count}`` where the counties' residents by age determine
    them (full column rank)."""
    std = tables[STD].astype({"year": str})
    pop = tables[POP].astype({"year": str})
    by_sex = pop[pop["sex"] == "ALL"]
    out: dict[tuple[str, str, str], float] = {}
    for (year, theme), g in std[std["expected_cases"].notna()].groupby(["year", "theme_code"]):
        prov = by_sex[
            (by_sex["year"] == year)
            & (by_sex["region_level"] == "province")
            & (by_sex["age_group_code"] != "ALL")
        ]
        big_n = prov.groupby("age_group_code")["population"].sum(min_count=1)
        if big_n.isna().any() or big_n.empty:
            continue
        ages = list(big_n.index)
        county = by_sex[(by_sex["year"] == year) & (by_sex["region_level"] == "county")]
        # a missing row is 0 residents; a suppressed one is unknown
        n = (
            county.assign(population=county["population"].astype("Float64").fillna(-1.0))
            .set_index(["region_code", "age_group_code"])["population"]
            .unstack()
            .reindex(columns=ages)
            .astype(float)
            .fillna(0.0)
            .replace(-1.0, np.nan)
        )
        rows = g.set_index(g["region_code"].astype(str))
        common = [c for c in rows.index if c in n.index and n.loc[c].notna().all()]
        if len(common) < len(ages):
            continue
        m = n.loc[common].to_numpy(dtype=float) / big_n.to_numpy(dtype=float)
        if np.linalg.matrix_rank(m) < len(ages):
            continue
        sol, *_ = np.linalg.lstsq(m, rows.loc[common, "expected_cases"].to_numpy(float), rcond=None)
        out.update({(year, a, theme): float(v) for a, v in zip(ages, sol, strict=True)})
    return out


# --------------------------------------------------------------------------- releases


@pytest.fixture(scope="module")
def sample_release(published_sample: Paths) -> tuple[Paths, Path]:
    """The generator's sample, built by the whole pipeline, published (threshold 10): the
    session's release 1.0.0, attacked from its files alone (read-only)."""
    return published_sample, published_sample.releases / "1.0.0"


@pytest.fixture(scope="module")
def handmade_release(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, Path]:
    """test_publish's hand-made warehouse, published with the real project manifest (from the
    sample's build): many residents, each county with its own age structure, few cases — so
    county populations are published while some province age × theme cells are not."""
    from test_publish import make_warehouse

    from subjectdb.release import publish

    paths = Paths(tmp_path_factory.mktemp("attack-handmade") / "data").ensure()
    make_warehouse(paths.warehouse, seed=5, persons=3000, cases=1500, skew=True)
    manifest = next(built.build_dir.glob("**/target/manifest.json"))
    (paths.build_dir / "target").mkdir(parents=True)
    shutil.copy(manifest, paths.build_dir / "target" / "manifest.json")
    return paths, publish(paths, version="1.0.0")


RELEASES = ["sample_release", "handmade_release"]


@pytest.fixture(params=RELEASES)
def release_of(request: pytest.FixtureRequest) -> tuple[Paths, Path]:
    return request.getfixturevalue(request.param)


def province_truth(warehouse: Path) -> dict[tuple[str, str, str], float]:
    """Warehouse-wide natural-person cases by year × age group × theme (and theme ALL)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("""
            select year, age_group_code,
                   case when grouping(theme_code) = 1 then 'ALL' else theme_code end, sum(cases)
            from marts.subj_applicant_demand where applicant_type = 'person'
            group by grouping sets ((year, age_group_code, theme_code), (year, age_group_code))
        """).fetchall()
    finally:
        con.close()
    return {(str(y), str(a), str(t)): float(n) for y, a, t, n in rows}


def suppressed_province_cells(tables: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    d = tables[DEMAND]
    prov = d[(d["region_level"] == "province") & (d["age_group_code"] != "ALL")]
    assert prov["region_code"].nunique() == 1, "one province: its cells are the warehouse's"
    hidden = prov[prov["cases"].isna()]
    return [
        (str(y), str(a), str(t))
        for y, a, t in zip(
            hidden["year"], hidden["age_group_code"], hidden["theme_code"], strict=True
        )
    ]


def recovered(tables: dict[str, pd.DataFrame], truth: dict) -> list[tuple[str, str, str]]:
    solved = expected_cases_attack(tables)
    return [
        k
        for k in suppressed_province_cells(tables)
        if k in solved and abs(solved[k] - truth[k]) < 0.5
    ]


# --------------------------------------------------------------------------- (a) derived statistics


def test_expected_cases_reveal_no_suppressed_cell(release_of: tuple[Paths, Path]) -> None:
    """No suppressed province cell comes out of the published expected cases (the exact
    version of this attack, with the rounding as an interval, is part of the linear programs
    of (b))."""
    paths, release = release_of
    tables = {t: read_table(release, t) for t in TABLES}
    assert not recovered(tables, province_truth(paths.warehouse))
    assert suppressed_province_cells(tables), "the release must have suppressed province cells"


def test_expected_cases_attack_recovers_cells_from_a_leaky_release(
    handmade_release: tuple[Paths, Path],
) -> None:
    """The attack is not vacuous: with expected cases published for every county (as the
    warehouse has them, rounded as a release rounds them), it recovers suppressed province
    cells exactly — what the issue found."""
    paths, release = handmade_release
    tables = {t: read_table(release, t) for t in TABLES}
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        raw = con.execute(
            "select year, region_code, theme_code, expected_cases "
            "from marts.subj_demand_standardised"
        ).df()
    finally:
        con.close()
    leaky = (
        tables[STD]
        .drop(columns="expected_cases")
        .merge(
            raw.assign(expected_cases=raw["expected_cases"].round(2)),
            on=["year", "region_code", "theme_code"],
        )
    )
    found = recovered({**tables, STD: leaky}, province_truth(paths.warehouse))
    assert len(found) >= 3, found
    # and the linear programs of (b), given the same expected cases, narrow them too
    _threshold, width = published_parameters(release)
    intervals = Attacker(release, {**tables, STD: leaky}).build().intervals(width)
    narrow = [k for k, (lo, hi) in intervals.items() if hi - lo < width - 1e-6]
    assert any(k[:3] == (DEMAND, "cases", k[2]) and k[3] == "province" for k in narrow), narrow


# --------------------------------------------------------------------------- (b) linear programs


def test_no_suppressed_count_is_narrower_than_the_protection_range(
    release_of: tuple[Paths, Path],
) -> None:
    """Every suppressed count's interval, under every published equation and derived
    statistic (with every count >= 1), is at least the release's protection range."""
    _paths, release = release_of
    threshold, width = published_parameters(release)
    assert width >= threshold - 1 >= 9
    attacker = Attacker(release).build()
    assert not attacker.skipped, attacker.skipped[:5]  # every derived statistic modelled
    intervals = attacker.intervals(width)
    assert len(intervals) > 100, "the release must have suppressed counts to attack"
    narrow = {k: v for k, v in intervals.items() if v[1] - v[0] < width - 1e-6}
    assert not narrow, f"{len(narrow)} suppressed counts narrowed: {list(narrow.items())[:5]}"
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    assert package["disclosure_control"]["narrowest_interval"] >= width - 1e-6


def test_the_linear_attack_pins_cells_of_a_leaky_release(
    handmade_release: tuple[Paths, Path],
) -> None:
    """The attack is not vacuous: publish the complementary suppressions (the suppressed
    counts with at least 10 applicants) and it pins small counts — exactly at their true
    values where it pins them to one."""
    from test_publish import demand_truth

    paths, release = handmade_release
    tables = {t: read_table(release, t) for t in TABLES}
    d = tables[DEMAND].merge(demand_truth(paths.warehouse), on=D_KEYS, how="left")
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        n = con.execute("""
            with b as (select * from marts.subj_applicant_demand where applicant_type = 'person'),
            l as (select 'county' as region_level, region_code as r, * from b
                  union all select 'prefecture', prefecture_code, * from b
                  union all select 'province', province_code, * from b)
            select year, region_level, r as region_code,
                case when grouping(age_group_code) = 1 then 'ALL' else age_group_code end
                    as age_group_code,
                case when grouping(theme_code) = 1 then 'ALL' else theme_code end as theme_code,
                count(distinct applicant_key) as n
            from l group by grouping sets ((year, region_level, r, age_group_code, theme_code),
                (year, region_level, r, age_group_code), (year, region_level, r, theme_code),
                (year, region_level, r))""").df()
    finally:
        con.close()
    d = d.merge(n, on=D_KEYS, how="left")
    secondary = d["cases"].isna() & (d["n"] >= 10) & (d["true_cases"] >= 10)
    assert secondary.any()
    d.loc[secondary, "cases"] = d.loc[secondary, "true_cases"]
    _threshold, width = published_parameters(release)
    attacker = Attacker(release, {**tables, DEMAND: d.drop(columns=["true_cases", "n"])}).build()
    intervals = attacker.intervals(width)
    narrow = {k: v for k, v in intervals.items() if v[1] - v[0] < width - 1e-6}
    assert narrow, "with the complementary suppressions published, small cells are narrowed"
    truth = d.set_index(D_KEYS)["true_cases"]
    truth.index = truth.index.map(lambda k: tuple(str(x) for x in k))
    exact = [(k, v) for k, v in narrow.items() if k[0] == DEMAND and v[1] - v[0] < 1e-6]
    for key, (lo, _hi) in exact:
        assert abs(lo - truth[tuple(key[2:])]) < 1e-6


# --------------------------------------------------------------------------- (c) small numbers


def test_no_small_count_and_no_rate_on_fewer_than_100(release_of: tuple[Paths, Path]) -> None:
    _paths, release = release_of
    tables = {t: read_table(release, t) for t in TABLES}
    for table, cols in COUNTS.items():
        for value, status in cols:
            v = tables[table][value].astype("Float64")
            small = (v > 0) & (v < MIN_COUNT)
            assert not small.any(), (table, value, tables[table].loc[small.fillna(False)].head())
            assert (v.isna() == (tables[table][status] != "")).all(), (table, value)
    perf = tables[PERF]
    for rate, den in (
        ("median_working_days", "completed_cases"),
        ("p90_working_days", "completed_cases"),
        ("on_time_rate", "completed_cases"),
        ("zero_visit_rate", "cases"),
        ("max_one_visit_rate", "cases"),
        ("satisfaction_rate", "rated_cases"),
        ("bad_review_rate", "rated_cases"),
    ):
        shown = perf[rate].notna()
        assert (perf.loc[shown, den] >= MIN_DENOMINATOR).all(), rate
    ent = tables[ENT]
    assert (ent.loc[ent["rate_per_1000"].notna(), "active_enterprises"] >= MIN_DENOMINATOR).all()
    div = tables[DIV]
    assert (div.loc[div["online_share"].notna(), "cases"] >= MIN_DENOMINATOR).all()
    pop = tables[POP]
    pop = (
        pop[pop["sex"] == "ALL"]
        .astype({"year": str})
        .set_index(["year", "region_level", "region_code", "age_group_code"])["population"]
    )
    d = tables[DEMAND].astype({"year": str})
    rated = d[d["rate_per_1000"].notna()]
    keys = list(
        zip(
            rated["year"],
            rated["region_level"],
            rated["region_code"],
            rated["age_group_code"],
            strict=True,
        )
    )
    assert (pop.reindex(keys).astype("Float64") >= MIN_DENOMINATOR).all()
    std = tables[STD].astype({"year": str})
    weighed = {  # per year, the age groups the standard population weighs
        (y, a)
        for (y, level, _r, a), n in pop.items()
        if level == "province" and a != "ALL" and pd.notna(n) and n > 0
    }
    for col in ("crude_rate", "age_standardised_rate"):
        shown = std[std[col].notna()]
        for y, county in zip(shown["year"], shown["region_code"], strict=True):
            assert pop.get((y, "county", county, "ALL"), 0) >= MIN_DENOMINATOR, (col, county)
            if col == "age_standardised_rate":
                for year, a in weighed:
                    if year == y:
                        assert pop.get((y, "county", county, a), 0) >= MIN_DENOMINATOR, (county, a)


# --------------------------------------------------------------------------- spreadsheet formulas


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cells_as_a_spreadsheet_reads_them(text: str) -> list[str]:
    """Every cell a reader may see: a proper CSV parse, and a naive one that also breaks rows
    at a bare carriage return (as spreadsheets reading an unquoted CR do)."""
    proper = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    naive = [c.strip('"') for line in re.split(r"\r\n|\r|\n", text) for c in line.split(",")]
    return proper + naive


def test_a_carriage_return_never_starts_a_formula_in_any_csv() -> None:
    """A value with a leading CR and one with an embedded CR (then a formula), through every
    CSV writer: the release's table files, the dashboard's downloads and the sharing API."""
    from dashboards.support import safe_csv
    from subjectdb.release.package import write_table
    from subjectdb.sharing.api import csv_bytes
    from subjectdb.standards import neutralise_formula

    values = ["\r=1+1", 'ok\r=HYPERLINK("http://evil.invalid")', "a\n@SUM(A1)", "正常", "-"]
    frame = pd.DataFrame({"name": values, "n": range(len(values))})
    texts = {"dashboard": safe_csv(frame).decode("utf-8-sig")}
    texts["sharing"] = csv_bytes(frame).decode("utf-8")
    release_frame = frame.assign(name=frame["name"].map(neutralise_formula).astype("string"))
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"csv-cr-{os.getpid()}"
    try:
        files = write_table(folder, "t", release_frame)
        texts["release"] = files["csv"].read_bytes().decode("utf-8")  # no newline translation
        texts["release-excel"] = files["excel"].read_bytes().decode("utf-8-sig")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for writer, text in texts.items():
        for cell in _cells_as_a_spreadsheet_reads_them(text):
            assert not cell.startswith(FORMULA), (writer, cell)
        if writer == "sharing":
            continue  # LF rows, a CR inside a field unquoted: safe, but may split the row
        # every value is one cell (a CR or LF inside a field is quoted), behind apostrophes
        parsed = [r[0] for r in csv.reader(io.StringIO(text, newline=""))][1:]
        assert [p.replace("'", "") for p in parsed] == [v.replace("'", "") for v in values]


# --------------------------------------------------------------------------- serving connection


@pytest.fixture(scope="module")
def served_copy(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A private copy of the built data folder (the dashboard writes its audit log there)."""
    paths = Paths(tmp_path_factory.mktemp("attack-served") / "data")
    shutil.copytree(built.root, paths.root, ignore=shutil.ignore_patterns("opendata"))
    return paths


def test_the_serving_connection_cannot_touch_files(served_copy: Paths, tmp_path: Path) -> None:
    """Through the dashboard's (and the API's) connection, SQL reads the warehouse and nothing
    else: no file read, no COPY, no ATTACH, no extension, no setting changed back — also after
    a rebuild swapped a new file in and the connection re-attached."""
    from subjectdb.serving.connection import Warehouse

    secret = tmp_path / "secret.csv"
    secret.write_text("token\nsecret\n", encoding="utf-8")
    out = tmp_path / "stolen.csv"
    attempts = [
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM glob('{tmp_path}/*')",
        f"COPY (SELECT 1 AS x) TO '{out}'",
        f"COPY (SELECT * FROM wh.marts.dim_region) TO '{out}' (FORMAT parquet)",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        f"EXPORT DATABASE '{tmp_path / 'export'}'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET enable_external_access",
    ]
    wh = Warehouse(served_copy.warehouse)
    try:
        for round_ in ("first attach", "after a swap"):
            assert len(wh.df("SELECT * FROM wh.marts.dim_region")) > 0, round_
            for sql in attempts:
                with pytest.raises(duckdb.Error) as err:
                    wh.df(sql)
                assert re.search(r"disabled|locked|Permission", str(err.value)), (sql, err.value)
            assert not out.exists() and not (tmp_path / "other.duckdb").exists()
            assert not (tmp_path / "export").exists()
            # a build swaps a new file in: the dashboard re-attaches on a new connection
            fresh = served_copy.warehouse.with_suffix(".new")
            shutil.copy(served_copy.warehouse, fresh)
            os.replace(fresh, served_copy.warehouse)
    finally:
        wh.close()


# --------------------------------------------------------------------------- dashboard input


PAYLOADS = {
    "theme": "![pixel](http://evil.invalid/pixel.png)",
    "age": "[Sign in again](http://evil.invalid/login)",
    "region": '<img src="http://evil.invalid/x.png"> <a href="http://evil.invalid">x</a>',
    "cat": "`x` ``` **bold** :red[alert] $x^2$ www.evil.invalid\n\n![a](http://evil.invalid/b)",
}


def _rendered_markdown(body: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(body)


def test_url_values_are_echoed_as_text_not_markdown(
    served_copy: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invalid filter values in a link are shown in the warning as literal text: the
    warning's Markdown renders to no link or image, and no URL of them is outside a code
    span (where GitHub-flavoured Markdown could autolink it); they are audited as a rejected
    request."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SUBJECTDB_DATA", str(served_copy.root))
    at = AppTest.from_file(str(PROJECT_DIR / "dashboards" / "app.py"), default_timeout=120)
    at.query_params.update(PAYLOADS)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (warning,) = at.sidebar.warning
    html = _rendered_markdown(warning.value)
    assert "<a" not in html and "<img" not in html, html
    outside_code = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
    assert "evil.invalid" not in outside_code, outside_code
    assert html.count("<code>") == len(PAYLOADS), html
    records = [json.loads(x) for x in served_copy.audit_log.read_text("utf-8").splitlines()]
    rejected = [r for r in records if r["event"] == "rejected"]
    assert rejected and rejected[-1]["status"] == "rejected"
    assert any("evil.invalid/pixel.png" in v for v in rejected[-1]["rejected"])
    assert all("\n" not in v for v in rejected[-1]["rejected"])


# --------------------------------------------------------------------------- access audit


def test_audit_log_is_append_only_across_processes(tmp_path: Path) -> None:
    """Threads here and three other processes append at once: every record arrives whole;
    the file is private (0600); a torn last line is skipped by the reader, which filters by
    time, user, event and session."""
    import threading

    from subjectdb.audit import append, read_audit

    log = tmp_path / "audit" / "access.jsonl"
    child = (
        "import sys; from pathlib import Path; from subjectdb.audit import append\n"
        "for i in range(150):\n"
        "    append(Path(sys.argv[1]), {'user': f'p{sys.argv[2]}', 'event': 'view', 'i': i,"
        " 'pad': 'x' * 3000})\n"
    )
    procs = [subprocess.Popen([os.sys.executable, "-c", child, str(log), str(k)]) for k in range(3)]
    threads = [
        threading.Thread(
            target=lambda k=k: [
                append(log, {"user": f"t{k}", "event": "download", "i": i}) for i in range(100)
            ]
        )
        for k in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert (log.stat().st_mode & 0o777) == 0o600
    lines = log.read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]  # every line is a whole record
    assert len(records) == 3 * 150 + 4 * 100
    assert sorted(r["i"] for r in records if r["user"] == "p1") == list(range(150))
    with log.open("a", encoding="utf-8") as fh:
        fh.write('{"time": "2030-01-01T00:00:00.000+00:00", "user": "torn"')  # a crash
    everything = read_audit(log)
    assert len(everything) == len(records) and all(r["user"] != "torn" for r in everything)
    assert len(read_audit(log, user="t2")) == 100
    assert len(read_audit([log, log], event="view")) == 2 * 450
    first = everything[0]["time"]
    assert read_audit(log, since="2999-01-01") == []
    assert len(read_audit(log, since=first)) == len(records)
    assert read_audit(log, until=first) == []
    stamp = append(log, {"user": "late", "session": "s1", "time": "2031-05-01T08:00:00+08:00"})
    assert read_audit(log, since="2031-05-01", session="s1") == [stamp]


# --------------------------------------------------------------------------- in a real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard(served_copy: Paths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`subjectdb serve`'s Streamlit command on a free localhost port over a data copy."""
    from subjectdb.serving.serve import CHROMIUM, streamlit_command, streamlit_env

    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is missing at {CHROMIUM}: run `make browser-deps`")
    port = _free_port()
    log = (tmp_path_factory.mktemp("attack-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=PROJECT_DIR,
        env=streamlit_env(served_copy),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"streamlit did not start: {Path(log.name).read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.browser
def test_injected_link_renders_no_link_or_image_and_the_audit_names_the_user(
    dashboard: str, served_copy: Paths
) -> None:
    """Chromium opens a crafted link through an authenticating proxy's header: the warning
    shows the values as text — no image fetched, no link element, nothing requested from
    another host — and the audit log names the proxy's user, with one session id across a
    reload of the page."""
    from playwright.sync_api import sync_playwright

    from subjectdb.serving.serve import CHROMIUM, CHROMIUM_ARGS

    query = "&".join(f"{k}={quote(v)}" for k, v in PAYLOADS.items())
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(extra_http_headers={"X-Forwarded-User": "planner.li"})
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.on(
                "request",
                lambda req: (
                    None
                    if req.url.startswith(("data:", "blob:"))
                    or urlparse(req.url).hostname in ("127.0.0.1", "localhost")
                    else outside.append(req.url)
                ),
            )
            for _ in range(2):  # the link, then the same page reloaded
                page.goto(f"{dashboard}/?{query}")
                page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stAlert"]')
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                )
                page.wait_for_timeout(1000)
                alert = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').first
                assert alert.locator("img, a, iframe, script").count() == 0
                assert page.locator('img[src*="evil"], a[href*="evil"]').count() == 0
                text = alert.inner_text()
                assert "![pixel](http://evil.invalid/pixel.png)" in text
                assert '<img src="http://evil.invalid/x.png">' in text
        finally:
            browser.close()
    assert not outside, outside
    records = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = [json.loads(x) for x in served_copy.audit_log.read_text("utf-8").splitlines()]
        if sum(r["event"] == "rejected" and r.get("user") == "planner.li" for r in records) >= 2:
            break
        time.sleep(0.5)
    mine = [r for r in records if r.get("user") == "planner.li"]
    rejected = [r for r in mine if r["event"] == "rejected"]
    views = [r for r in mine if r["event"] == "view"]
    assert len(rejected) >= 2 and views, mine
    assert {r["user_source"] for r in mine} == {"header:X-Forwarded-User"}
    assert len({r["session"] for r in mine}) == 1, "one session id across page loads"
    assert all(r["address"] and r["time"] and r["status"] for r in mine)
