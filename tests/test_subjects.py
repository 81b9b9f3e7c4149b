"""Correctness of the subject tables (主题表) on the generated sample.

Every subject table is recomputed here INDEPENDENTLY from the warehouse facts
(fct_service_cases, fct_population_midyear, fct_enterprise_midyear) with pandas, numpy and
scipy, straight from the metric definitions in docs/metrics.md, and compared cell by cell:
no SQL of the models is reused. Flags derived in the fact (is_on_time, is_online, ...) are
recomputed from their raw columns (working_days vs promised_days, channel_code, visits, rating).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import copy_data
from scipy import stats

from subjectdb.config import PROJECT_DIR, Paths

SUBJECTS_DIR = PROJECT_DIR / "models" / "marts" / "subjects"
DEMAND_DIR = PROJECT_DIR / "models" / "intermediate" / "demand"
ONLINE_CHANNELS = ("web", "app")
RTOL = 1e-9

DEMAND_CELL = [
    "month",
    "region_code",
    "age_group_code",
    "category_code",
    "theme_code",
    "applicant_type",
    "channel_code",
]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wh(built: Paths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory connection with the built warehouse attached read-only as `wh`."""
    con = duckdb.connect()
    path = str(built.warehouse).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS wh (READ_ONLY)")
    yield con
    con.close()


def read(con: duckdb.DuckDBPyConnection, name: str, schema: str = "marts") -> pd.DataFrame:
    return con.sql(f"select * from wh.{schema}.{name}").df()


@pytest.fixture(scope="module")
def cases(wh: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    df = read(wh, "fct_service_cases").rename(
        columns={"submitted_month": "month", "submitted_year": "year"}
    )
    assert len(df) > 0, "the sample has no cases"
    return df


@pytest.fixture(scope="module")
def population(wh: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Mid-year residents by year × county × age group, summed over sex from the fact."""
    fact = read(wh, "fct_population_midyear")
    assert len(fact) > 0, "the sample has no population"
    return (
        fact.groupby(["year", "region_code", "age_group_code"], dropna=False)["population"]
        .sum()
        .reset_index()
    )


# ---------------------------------------------------------------------------- helpers


def assert_same_rows(
    actual: pd.DataFrame,
    expected: pd.DataFrame,
    keys: list[str],
    columns: list[str],
    what: str,
) -> None:
    """Same key set on both sides (no missing or extra cell) and equal values per column."""
    assert not actual.duplicated(keys).any(), f"{what}: duplicate keys in the subject table"
    merged = actual[keys + columns].merge(
        expected[keys + columns], on=keys, how="outer", suffixes=("_act", "_exp"), indicator=True
    )
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"{what}: {len(unmatched)} cells differ in keys:\n{unmatched.head(10)}"
    for col in columns:
        act = merged[f"{col}_act"]
        exp = merged[f"{col}_exp"]
        if pd.api.types.is_numeric_dtype(exp) or pd.api.types.is_numeric_dtype(act):
            a = pd.to_numeric(act, errors="raise").astype("float64").to_numpy()
            e = pd.to_numeric(exp, errors="raise").astype("float64").to_numpy()
            ok = np.isclose(a, e, rtol=RTOL, atol=1e-12, equal_nan=True)
        else:
            same = (act == exp).astype("boolean").fillna(False)
            ok = (same | (act.isna() & exp.isna())).to_numpy(dtype=bool)
        bad = merged.loc[~ok, keys + [f"{col}_act", f"{col}_exp"]]
        assert bad.empty, f"{what}: column {col} differs in {len(bad)} cells:\n{bad.head(10)}"


def ratio(
    num: pd.Series | np.ndarray, den: pd.Series | np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """num / den × scale, NaN where the denominator is not positive (the warehouse's NULL)."""
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num * scale / np.where(den > 0, den, 1.0), np.nan)


def load_ci_module() -> ModuleType:
    """The module computing the limits before dbt runs (both engines read its table)."""
    from subjectdb.warehouse import poisson

    return poisson


# ------------------------------------------------- exact Poisson limits (no warehouse needed)


def test_poisson_limits_satisfy_garwood_definition() -> None:
    """The limits solve P(X ≥ k | lower) = 0.025 and P(X ≤ k | upper) = 0.025 (Poisson)."""
    k = np.arange(0, 400)
    limits = load_ci_module().exact_limits(k).to_pandas()
    assert list(limits["observed_cases"]) == list(k)
    lower = limits["mean_lower"].to_numpy()
    upper = limits["mean_upper"].to_numpy()
    assert lower[0] == 0.0
    # independent characterisation through the Poisson distribution itself
    np.testing.assert_allclose(stats.poisson.sf(k[1:] - 1, lower[1:]), 0.025, rtol=1e-7)
    np.testing.assert_allclose(stats.poisson.cdf(k, upper), 0.025, rtol=1e-7)
    # textbook values (Garwood 1936; e.g. k=0 → [0, 3.689], k=10 → [4.795, 18.390])
    assert upper[0] == pytest.approx(3.6888794541, rel=1e-9)
    assert lower[10] == pytest.approx(4.7954, abs=1e-4)
    assert upper[10] == pytest.approx(18.3904, abs=1e-4)
    assert np.all(np.diff(lower) > 0) and np.all(np.diff(upper) > 0)
    # a run with nothing new to compute returns a typed, empty table (and never loads scipy)
    empty = load_ci_module().exact_limits(np.arange(5, 5))
    assert empty.num_rows == 0
    assert str(empty.schema.field("mean_upper").type) == "double"


# ------------------------------------------------------------------------------- demand


def test_service_demand_counts_every_case_once(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    demand = read(wh, "subj_service_demand")
    assert int(demand["cases"].sum()) == len(cases)
    expected = (
        cases.groupby(DEMAND_CELL, dropna=False)
        .agg(cases=("case_id", "size"), distinct_applicants=("applicant_key", "nunique"))
        .reset_index()
    )
    assert_same_rows(
        demand, expected, DEMAND_CELL, ["cases", "distinct_applicants"], "subj_service_demand"
    )


@pytest.mark.parametrize(
    "cut",
    [
        ["region_code"],
        ["prefecture_code", "theme_code"],
        ["year", "age_group_code"],
        ["channel_code", "applicant_type"],
        ["urban_rural", "category_code"],
    ],
)
def test_service_demand_any_cut_equals_the_fact(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame, cut: list[str]
) -> None:
    demand = read(wh, "subj_service_demand")
    got = demand.groupby(cut, dropna=False)["cases"].sum().rename("cases").reset_index()
    want = cases.groupby(cut, dropna=False).size().rename("cases").reset_index()
    assert_same_rows(got, want, cut, ["cases"], f"demand by {cut}")


def test_population_is_the_midyear_denominator(
    wh: duckdb.DuckDBPyConnection, population: pd.DataFrame
) -> None:
    subj = read(wh, "subj_population")
    keys = ["year", "region_code", "age_group_code"]
    assert_same_rows(subj, population, keys, ["population"], "subj_population")
    assert "NA" not in set(subj["age_group_code"])


def test_population_pyramid_matches_bands_and_groups(
    wh: duckdb.DuckDBPyConnection, population: pd.DataFrame
) -> None:
    pyramid = read(wh, "subj_population_pyramid")
    bands = read(wh, "fct_population_midyear_bands")
    keys = ["year", "region_code", "band_code", "sex"]
    assert_same_rows(pyramid, bands, keys, ["population", "age_group_code"], "pyramid")
    # the same persons as the age-group denominator
    by_group = (
        pyramid.groupby(["year", "region_code", "age_group_code"])["population"].sum().reset_index()
    )
    nonempty = population[population["population"] > 0]
    assert_same_rows(
        by_group, nonempty, ["year", "region_code", "age_group_code"], ["population"], "bands"
    )
    seed = read(wh, "ref_age_bands", schema="reference").set_index("band_code")["band_order"]
    assert (pyramid["band_order"] == pyramid["band_code"].map(seed)).all()


def test_demand_rate_is_cases_per_1000_residents(
    wh: duckdb.DuckDBPyConnection, population: pd.DataFrame
) -> None:
    demand = read(wh, "subj_service_demand")
    pop_years = set(population["year"])
    merged = demand.merge(
        population.rename(columns={"population": "pop_exp"}),
        on=["year", "region_code", "age_group_code"],
        how="left",
    )
    is_person = merged["applicant_type"] == "person"
    covered = merged["year"].isin(pop_years)
    pop_exp = np.where(is_person & covered, merged["pop_exp"].fillna(0), np.nan)
    np.testing.assert_array_equal(merged["population"].astype("float64").to_numpy(), pop_exp)
    rate_exp = ratio(merged["cases"], pop_exp, 1000)
    np.testing.assert_allclose(
        merged["rate_per_1000"].astype("float64").to_numpy(), rate_exp, rtol=RTOL, equal_nan=True
    )
    assert merged.loc[~is_person, "rate_per_1000"].isna().all()
    assert merged.loc[is_person, "rate_per_1000"].notna().any(), "no natural-person rate at all"


def test_applicant_demand_gives_exact_distinct_counts(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    base = read(wh, "subj_applicant_demand")
    assert int(base["cases"].sum()) == len(cases)
    per_applicant = base.groupby("applicant_key")["cases"].sum()
    want = cases.groupby("applicant_key").size()
    pd.testing.assert_series_equal(
        per_applicant.sort_index(), want.sort_index(), check_names=False, check_dtype=False
    )
    # distinct applicants of every demand cell, and of roll-ups across cells
    demand = read(wh, "subj_service_demand")
    from_base = (
        base.groupby(DEMAND_CELL, dropna=False)["applicant_key"]
        .nunique()
        .rename("distinct_applicants")
        .reset_index()
    )
    assert_same_rows(
        demand, from_base, DEMAND_CELL, ["distinct_applicants"], "distinct per demand cell"
    )
    for cut in (["year", "region_code"], ["prefecture_code", "theme_code"], ["applicant_type"]):
        got = base.groupby(cut, dropna=False)["applicant_key"].nunique().rename("n").reset_index()
        exp = cases.groupby(cut, dropna=False)["applicant_key"].nunique().rename("n").reset_index()
        assert_same_rows(got, exp, cut, ["n"], f"distinct applicants by {cut}")


def test_applicant_id_int_is_the_hash_prefix_and_counts_like_the_key(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    base = read(wh, "subj_applicant_demand")
    # the id is the first 15 hex digits (60 bits) of the HMAC, recomputed here in Python
    want = base["applicant_key"].map(lambda k: int(k[:15], 16))
    assert (base["applicant_id_int"].astype("int64") == want.astype("int64")).all()
    assert (base["applicant_id_int"] >= 0).all()
    # one id per key and one key per id on the sample (no prefix collision)
    pairs = base[["applicant_key", "applicant_id_int"]].drop_duplicates()
    assert pairs["applicant_key"].is_unique and pairs["applicant_id_int"].is_unique
    for cut in (["month", "region_code"], ["theme_code"], ["applicant_type", "channel_code"]):
        by_id = base.groupby(cut)["applicant_id_int"].nunique().rename("n").reset_index()
        exp = cases.groupby(cut)["applicant_key"].nunique().rename("n").reset_index()
        assert_same_rows(by_id, exp, cut, ["n"], f"distinct ids by {cut}")
    # stored in month order, so period filters can skip row groups
    months = wh.execute(
        "SELECT month FROM wh.marts.subj_applicant_demand ORDER BY rowid"
    ).fetchnumpy()["month"]
    assert (np.diff(months.astype("datetime64[D]").astype("int64")) >= 0).all()


# ------------------------------------------------------------------------- standardisation


def standardise(
    cases: pd.DataFrame, population: pd.DataFrame, person_themes: set[str]
) -> pd.DataFrame:
    """Direct and indirect standardisation from the definitions, with scipy's chi-square CIs."""
    persons = cases[cases["applicant_type"] == "person"]
    rows: list[dict[str, object]] = []
    years = sorted(set(population["year"]) | set(persons["year"]))
    for year in years:
        pop_y = population[population["year"] == year]
        cases_y = persons[persons["year"] == year]
        regions = sorted(set(pop_y["region_code"]) | set(cases_y["region_code"]))
        ages = sorted(set(pop_y["age_group_code"]) | set(cases_y["age_group_code"]))
        pop = (
            pop_y.pivot_table(
                index="region_code", columns="age_group_code", values="population", aggfunc="sum"
            )
            .reindex(index=regions, columns=ages)
            .fillna(0)
            .to_numpy(dtype="float64")
        )
        pop_all = pop.sum(axis=0)
        weights = pop_all / pop_all.sum() if pop_all.sum() > 0 else np.zeros_like(pop_all)
        themes = sorted(person_themes | set(cases_y["theme_code"])) + ["ALL"]
        for theme in themes:
            sel = cases_y if theme == "ALL" else cases_y[cases_y["theme_code"] == theme]
            obs = (
                sel.groupby(["region_code", "age_group_code"])
                .size()
                .unstack(fill_value=0)
                .reindex(index=regions, columns=ages)
                .fillna(0)
                .to_numpy(dtype="float64")
            )
            obs_all = obs.sum(axis=0)
            std_rate = ratio(obs_all, pop_all)  # all-region age-specific rates
            for i, region in enumerate(regions):
                k = int(obs[i].sum())
                p = float(pop[i].sum())
                undefined = bool(np.any((weights > 0) & (pop[i] == 0)))
                if undefined or pop_all.sum() == 0:
                    asr = np.nan
                else:
                    asr = float(np.sum(weights * ratio(obs[i], pop[i])) * 1000)
                expected = float(np.nansum(np.where(pop_all > 0, std_rate * pop[i], 0.0)))
                if expected > 0:
                    low = (stats.chi2.ppf(0.025, 2 * k) / 2 if k > 0 else 0.0) / expected
                    high = stats.chi2.ppf(0.975, 2 * k + 2) / 2 / expected
                    sdr = k / expected
                else:
                    low = high = sdr = np.nan
                rows.append(
                    {
                        "year": year,
                        "region_code": region,
                        "theme_code": theme,
                        "cases": k,
                        "population": p,
                        "crude_rate": k * 1000 / p if p > 0 else np.nan,
                        "age_standardised_rate": asr,
                        "expected_cases": expected,
                        "standardised_ratio": sdr,
                        "ratio_ci_low": low,
                        "ratio_ci_high": high,
                    }
                )
    return pd.DataFrame(rows)


def test_demand_standardised_reproduces_the_definitions(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame, population: pd.DataFrame
) -> None:
    themes_seed = read(wh, "ref_life_event_themes", schema="reference")
    person_themes = set(themes_seed.loc[themes_seed["applicant_type"] == "person", "theme_code"])
    want = standardise(cases, population, person_themes)
    got = read(wh, "subj_demand_standardised")
    columns = [
        "cases",
        "population",
        "crude_rate",
        "age_standardised_rate",
        "expected_cases",
        "standardised_ratio",
        "ratio_ci_low",
        "ratio_ci_high",
    ]
    # same rows: every county × every person theme (+ ALL), zero cases included
    assert_same_rows(
        got, want, ["year", "region_code", "theme_code"], columns, "subj_demand_standardised"
    )
    assert got["standardised_ratio"].notna().any()


def test_expected_cases_add_up_to_observed(wh: duckdb.DuckDBPyConnection) -> None:
    """Indirect standardisation redistributes the warehouse's cases: ΣE = ΣO per year × theme
    whenever every age group with cases has residents somewhere (true for generated data)."""
    got = read(wh, "subj_demand_standardised")
    sums = got.groupby(["year", "theme_code"])[["cases", "expected_cases"]].sum()
    covered = sums[sums.index.get_level_values("year").isin(read(wh, "subj_population")["year"])]
    assert not covered.empty
    np.testing.assert_allclose(covered["expected_cases"], covered["cases"], rtol=1e-9)


def test_poisson_table_covers_every_observed_count(wh: duckdb.DuckDBPyConnection) -> None:
    table = read(wh, "subj_poisson_exact_ci")
    std = read(wh, "subj_demand_standardised")
    assert set(std["cases"]) <= set(table["observed_cases"])
    k = table["observed_cases"].to_numpy()
    np.testing.assert_allclose(
        table["mean_upper"], stats.chi2.ppf(0.975, 2 * k + 2) / 2, rtol=1e-12
    )


# ---------------------------------------------------------------------------- performance


def completed_frame(cases: pd.DataFrame) -> pd.DataFrame:
    done = cases[cases["is_completed"].fillna(False).astype(bool)].copy()
    done["on_time"] = (done["working_days"] <= done["promised_days"]).fillna(False).astype(int)
    return done


def test_service_performance_reproduced_from_the_fact(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    keys = ["month", "item_code", "dept_name", "dept_region_code", "region_code"]
    df = cases.copy()
    completed = df["is_completed"].fillna(False).astype(bool)
    df["wd_completed"] = df["working_days"].where(completed).astype("float64")
    df["completed"] = completed.astype(int)
    df["on_time"] = (
        (completed & (df["working_days"] <= df["promised_days"])).fillna(False).astype(int)
    )
    df["zero_visit"] = (df["visits"] == 0).fillna(False).astype(int)
    df["max_one_visit"] = (df["visits"] <= 1).fillna(False).astype(int)
    df["rated"] = df["rating"].notna().astype(int)
    df["satisfied"] = df["rating"].isin([4, 5]).astype(int)
    df["bad"] = df["rating"].isin([1, 2]).astype(int)
    g = df.groupby(keys, dropna=False)
    want = g.agg(
        cases=("case_id", "size"),
        completed_cases=("completed", "sum"),
        on_time_cases=("on_time", "sum"),
        zero_visit_cases=("zero_visit", "sum"),
        max_one_visit_cases=("max_one_visit", "sum"),
        rated_cases=("rated", "sum"),
        satisfied_cases=("satisfied", "sum"),
        bad_review_cases=("bad", "sum"),
        distinct_applicants=("applicant_key", "nunique"),
    )
    want["median_working_days"] = g["wd_completed"].quantile(0.5)  # linear = type 7
    want["p90_working_days"] = g["wd_completed"].quantile(0.9)
    want = want.reset_index()
    want["on_time_rate"] = ratio(want["on_time_cases"], want["completed_cases"])
    want["zero_visit_rate"] = ratio(want["zero_visit_cases"], want["cases"])
    want["max_one_visit_rate"] = ratio(want["max_one_visit_cases"], want["cases"])
    want["satisfaction_rate"] = ratio(want["satisfied_cases"], want["rated_cases"])
    want["bad_review_rate"] = ratio(want["bad_review_cases"], want["rated_cases"])
    got = read(wh, "subj_service_performance")
    columns = [c for c in want.columns if c not in keys]
    assert_same_rows(got, want, keys, columns, "subj_service_performance")
    assert got["completed_cases"].sum() > 0 and got["rated_cases"].sum() > 0


def test_processing_time_histogram_gives_exact_medians(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    done = completed_frame(cases)
    hist = read(wh, "subj_processing_time")
    keys = ["month", "item_code", "region_code", "working_days"]
    want = (
        done.groupby(keys, dropna=False)
        .agg(completed_cases=("case_id", "size"), on_time_cases=("on_time", "sum"))
        .reset_index()
    )
    assert_same_rows(hist, want, keys, ["completed_cases", "on_time_cases"], "histogram")
    # medians and p90 over a roll-up (every month and county of an item) from the histogram
    # (a completed case whose working days cannot be counted has working_days NULL: no median)
    counted = hist[hist["working_days"].notna()]
    assert not counted.empty
    for item, part in counted.groupby("item_code"):
        days = np.repeat(
            part["working_days"].to_numpy(dtype="float64"), part["completed_cases"].to_numpy()
        )
        fact_days = (
            done.loc[done["item_code"] == item, "working_days"].dropna().to_numpy(dtype="float64")
        )
        for q in (50, 90):
            assert np.percentile(days, q) == pytest.approx(np.percentile(fact_days, q))


# ----------------------------------------------------------------------------- enterprises


def test_enterprise_demand_reproduced_from_the_facts(
    wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame
) -> None:
    ent_cases = cases[cases["applicant_type"] == "enterprise"].copy()
    ent_cases["industry_section"] = ent_cases["industry_section"].fillna("NA")
    ent_cases["size_class"] = ent_cases["size_class"].fillna("NA")
    keys = ["month", "region_code", "industry_section", "size_class"]
    want = (
        ent_cases.groupby(keys + ["year"], dropna=False)
        .agg(cases=("case_id", "size"), distinct_applicants=("applicant_key", "nunique"))
        .reset_index()
    )
    active = read(wh, "fct_enterprise_midyear")
    active["industry_section"] = active["industry_section"].fillna("NA")
    active["size_class"] = active["size_class"].fillna("NA")
    active = (
        active.groupby(["year", "region_code", "industry_section", "size_class"])[
            "active_enterprises"
        ]
        .sum()
        .reset_index()
    )
    subj_pop = read(wh, "subj_enterprise_population")
    assert_same_rows(
        subj_pop,
        active,
        ["year", "region_code", "industry_section", "size_class"],
        ["active_enterprises"],
        "subj_enterprise_population",
    )
    want = want.merge(
        active, on=["year", "region_code", "industry_section", "size_class"], how="left"
    )
    covered = want["year"].isin(set(active["year"]))
    want["active_enterprises"] = np.where(covered, want["active_enterprises"].fillna(0), np.nan)
    want["rate_per_1000"] = ratio(want["cases"], want["active_enterprises"], 1000)
    got = read(wh, "subj_enterprise_demand")
    assert int(got["cases"].sum()) == len(ent_cases)
    assert_same_rows(
        got,
        want,
        keys,
        ["cases", "distinct_applicants", "active_enterprises", "rate_per_1000"],
        "subj_enterprise_demand",
    )
    assert got["rate_per_1000"].notna().any()


# -------------------------------------------------------------------------- digital divide


def test_digital_divide_online_share(wh: duckdb.DuckDBPyConnection, cases: pd.DataFrame) -> None:
    cell = ["year", "region_code", "age_group_code"]
    keys = cell + ["channel_code"]
    want = (
        cases.groupby(keys, dropna=False)
        .agg(cases=("case_id", "size"), distinct_applicants=("applicant_key", "nunique"))
        .reset_index()
    )
    online = cases["channel_code"].isin(ONLINE_CHANNELS)
    cells = (
        cases.assign(online=online.astype(int))
        .groupby(cell, dropna=False)
        .agg(cell_cases=("case_id", "size"), cell_online_cases=("online", "sum"))
        .reset_index()
    )
    want = want.merge(cells, on=cell, how="left")
    want["channel_share"] = ratio(want["cases"], want["cell_cases"])
    want["online_share"] = ratio(want["cell_online_cases"], want["cell_cases"])
    got = read(wh, "subj_digital_divide")
    assert int(got["cases"].sum()) == len(cases)
    assert_same_rows(
        got,
        want,
        keys,
        [
            "cases",
            "distinct_applicants",
            "cell_cases",
            "cell_online_cases",
            "channel_share",
            "online_share",
        ],
        "subj_digital_divide",
    )
    shares = got.groupby(cell, dropna=False)["channel_share"].sum()
    np.testing.assert_allclose(shares, 1.0, rtol=1e-12)
    assert (got["is_online"] == got["channel_code"].isin(ONLINE_CHANNELS)).all()


# ------------------------------------------------------ incremental build == full rebuild


def _table_frames(path: Path) -> dict[str, pd.DataFrame]:
    """Every subject table (and the shared demand projection) of a warehouse file."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS w (READ_ONLY)")
        names = [
            (schema, name)
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'w' "
                "and ((schema_name = 'marts' and table_name like 'subj_%') "
                "or (schema_name = 'intermediate' and table_name like 'int_demand__%'))"
            ).fetchall()
        ]
        return {
            f"{schema}.{name}": con.sql(f'select * from w.{schema}."{name}"').df()
            for schema, name in names
        }
    finally:
        con.close()


def assert_same_table(incremental: pd.DataFrame, full: pd.DataFrame, what: str) -> None:
    """Equal as multisets of rows: every non-float column exactly, float columns to 1e-12
    relative (a full build sums doubles in a different order on every run, too)."""
    assert list(incremental.columns) == list(full.columns), f"{what}: columns differ"
    assert len(incremental) == len(full), f"{what}: {len(incremental)} rows vs {len(full)}"
    floats = [c for c in full.columns if pd.api.types.is_float_dtype(full[c])]
    keys = [c for c in full.columns if c not in floats]
    # number repeated rows so that a multiset compares row by row
    left = incremental.assign(_n=incremental.groupby(keys, dropna=False).cumcount())
    right = full.assign(_n=full.groupby(keys, dropna=False).cumcount())
    merged = left.merge(
        right, on=[*keys, "_n"], how="outer", indicator=True, suffixes=("_inc", "_full")
    )
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"{what}: {len(unmatched)} rows differ:\n{unmatched.head(10)}"
    for col in floats:
        a = merged[f"{col}_inc"].to_numpy(dtype="float64")
        e = merged[f"{col}_full"].to_numpy(dtype="float64")
        ok = np.isclose(a, e, rtol=1e-12, atol=0.0, equal_nan=True)
        assert ok.all(), f"{what}: column {col} differs in {int((~ok).sum())} rows"


def test_incremental_build_equals_full_rebuild(loaded: Paths, built: Paths, tmp_path: Path) -> None:
    """Build without the last batch, land it, build incrementally: every subject table equals
    the full build of the same landed data (the session's `built`, a build from an empty
    warehouse, i.e. what --full-refresh makes), and the run really rebuilt only some months."""
    from subjectdb.warehouse.build import build

    paths = copy_data(loaded, tmp_path / "data")
    last = max(p.name for p in (paths.landing / "cases").glob("batch=*"))
    held = tmp_path / "held"
    for extract in ("cases", "persons", "enterprises"):
        src = paths.landing / extract / last
        assert src.is_dir(), f"no {extract} partition {last}"
        (held / extract).mkdir(parents=True)
        src.rename(held / extract / last)
    first = build(paths)
    assert first.ok, first.summary()
    for extract in ("cases", "persons", "enterprises"):
        (held / extract / last).rename(paths.landing / extract / last)
    second = build(paths)
    assert second.ok, second.summary()
    assert not second.full_refresh, "the second build should be incremental"

    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        changed = con.sql(
            "select count(*), bool_or(is_full_rebuild) from intermediate.int_cases__changed_months"
        ).fetchall()[0]
        months = con.sql(
            "select count(distinct submitted_month) from marts.fct_service_cases"
        ).fetchall()[0][0]
    assert changed[1] is False, "the case chain was rebuilt in full"
    assert 0 < changed[0] < months, f"{changed[0]} of {months} months changed: not incremental"

    incremental = _table_frames(paths.warehouse)
    full = _table_frames(built.warehouse)
    assert set(incremental) == set(full)
    assert "marts.subj_service_demand" in full and "marts.subj_digital_divide" in full
    for name in sorted(full):
        assert_same_table(incremental[name], full[name], name)

    _assert_same_dashboard_tables(paths.warehouse, built.warehouse)


# The serving copy of subj_applicant_demand decoded back to keys and codes: applicant numbers and
# code ids are stable only while their tables live (a fresh build numbers in key/code order, an
# incremental one appends), so two warehouses are compared by what the numbers mean.
_DASH_DECODED = """
    select ids.applicant_key, d.month, d.year,
        {decoded}, d.is_online, d.cases
    from w.marts.dash_applicant_demand as d
    left join w.marts.dash_applicant_ids as ids on ids.applicant_seq = d.applicant_seq
    {joins}
"""
_DASH_ID_COLUMNS = {
    "county_id": "region",
    "prefecture_id": "region",
    "province_id": "region",
    "urban_rural_id": "urban_rural",
    "age_group_id": "age_group",
    "category_id": "category",
    "theme_id": "theme",
    "applicant_type_id": "applicant_type",
    "channel_id": "channel",
    "industry_id": "industry",
    "size_class_id": "size_class",
}


def _dashboard_frames(path: Path) -> dict[str, pd.DataFrame]:
    """The dashboard serving tables of a warehouse file: dash_applicant_demand decoded (keys
    and codes instead of numbers and ids), dash_codes and dash_applicant_ids as stored."""
    decoded = ", ".join(f"c_{col}.code as {col[:-3]}" for col in _DASH_ID_COLUMNS)
    joins = " ".join(
        f"left join w.marts.dash_codes as c_{col} "
        f"on c_{col}.dim = '{dim}' and c_{col}.code_id = d.{col}"
        for col, dim in _DASH_ID_COLUMNS.items()
    )
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS w (READ_ONLY)")
        return {
            "demand": con.sql(_DASH_DECODED.format(decoded=decoded, joins=joins)).df(),
            "codes": con.sql("select dim, code, code_id from w.marts.dash_codes").df(),
            "ids": con.sql(
                "select applicant_key, applicant_seq from w.marts.dash_applicant_ids"
            ).df(),
            "subj": con.sql("select * from w.marts.subj_applicant_demand").df(),
            "perf": con.sql(
                "select ids.applicant_key, p.* exclude (applicant_seq, _numbering_id) "
                "from w.marts.dash_service_performance as p left join "
                "w.marts.dash_applicant_ids as ids on ids.applicant_seq = p.applicant_seq"
            ).df(),
            "perf_subj": con.sql(
                "select item_code, sum(cases) as cases, sum(completed_cases) as completed, "
                "sum(on_time_cases) as on_time, sum(rated_cases) as rated, "
                "sum(bad_review_cases) as bad from w.marts.subj_service_performance "
                "group by all order by all"
            ).df(),
            "perf_sum": con.sql(
                "select item_code, sum(cases) as cases, sum(completed_cases) as completed, "
                "sum(on_time_cases) as on_time, sum(rated_cases) as rated, "
                "sum(bad_review_cases) as bad from w.marts.dash_service_performance "
                "group by all order by all"
            ).df(),
        }
    finally:
        con.close()


def _assert_same_dashboard_tables(incremental_path: Path, full_path: Path) -> None:
    """The incremental build's serving tables mean exactly what a fresh build's do."""
    inc, full = _dashboard_frames(incremental_path), _dashboard_frames(full_path)
    # same rows once numbers and ids are decoded, and every number/id decodes
    assert_same_table(inc["demand"], full["demand"], "marts.dash_applicant_demand (decoded)")
    assert inc["demand"].notna().all().all(), (
        "dash_applicant_demand: an id or number decodes to nothing"
    )
    # the decoded serving table is subj_applicant_demand itself (minus the hash int, plus the flag)
    subj = full["subj"].rename(
        columns={
            "region_code": "county",
            "prefecture_code": "prefecture",
            "province_code": "province",
            "age_group_code": "age_group",
            "category_code": "category",
            "theme_code": "theme",
            "channel_code": "channel",
            "industry_section": "industry",
        }
    )
    demand_cols = [c for c in full["demand"].columns if c != "is_online"]
    assert_same_table(
        inc["demand"][demand_cols].astype(subj[demand_cols].dtypes.to_dict()),
        subj[demand_cols],
        "dash_applicant_demand vs subj_applicant_demand",
    )
    # the applicant-level performance table, decoded, equals a fresh build's, and its counts
    # add up to subj_service_performance's
    assert_same_table(inc["perf"], full["perf"], "marts.dash_service_performance (decoded)")
    assert inc["perf"]["applicant_key"].notna().all(), "dash_service_performance: bad number"
    for frames in (inc, full):
        pd.testing.assert_frame_equal(
            frames["perf_sum"], frames["perf_subj"], check_dtype=False, check_exact=True
        )
    # append-only id tables: a superset of the fresh build's keys/codes, dense and unique
    for name, key, number, first in (
        ("ids", ["applicant_key"], "applicant_seq", 0),
        ("codes", ["dim", "code"], "code_id", 1),
    ):
        stored, fresh = inc[name], full[name]
        assert not stored.duplicated(key).any(), f"{name}: a key is numbered twice"
        missing = fresh[key].merge(stored[key], how="left", indicator=True)
        assert (missing["_merge"] == "both").all(), f"{name}: keys of a fresh build are missing"
        groups = stored.groupby(key[:-1]) if len(key) > 1 else [(None, stored)]
        for group, frame in groups:
            numbers = sorted(frame[number].tolist())
            assert numbers == list(range(first, first + len(frame))), f"{name} {group}: not dense"
    # the dashboard's bitmap size (queries.py: max(applicant_seq) + 1) covers every number
    assert len(inc["ids"]) == int(inc["ids"]["applicant_seq"].max()) + 1
