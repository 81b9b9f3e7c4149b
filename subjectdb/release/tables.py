"""Disclosure control of a release: the six published tables, suppressed and typed.

:func:`build_tables` reads every table (:mod:`subjectdb.release.reads`), registers every
published count as a cell of one disclosure system with every additive relation between them
(margins, region roll-ups, totals shared between tables), protects it
(:mod:`subjectdb.release.disclosure`), and returns the tables with their ``*_status`` columns,
withheld values emptied, columns typed and ordered as :data:`~subjectdb.release.specs.TABLES`
says, and text made spreadsheet-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from subjectdb import metrics
from subjectdb.release import disclosure
from subjectdb.release.reads import (
    applicant_id,
    demand_groups,
    read_demand,
    read_divide,
    read_enterprise,
    read_labels,
    read_performance,
    read_population,
    read_standardised,
)
from subjectdb.release.specs import (
    ALL,
    DEMAND,
    DIVIDE,
    ENTERPRISE,
    PERFORMANCE,
    POPULATION,
    ROUNDING,
    STANDARDISED,
    TABLE_BY_NAME,
    WITHHELD,
    PublishError,
    TableSpec,
)
from subjectdb.standards import neutralise_formula


class _Builder:
    """Registers every published count as a cell of one disclosure system."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.values: list[float] = []
        self.primary: list[bool] = []
        self.labels: list[str] = []
        self.equations: list[tuple[list[int], list[int], str]] = []

    def cells(
        self, table: str, df: pd.DataFrame, value: str, applicants: str, keys: Sequence[str]
    ) -> np.ndarray:
        for key in keys:
            missing = df[key].isna()
            if missing.any():
                raise PublishError(
                    f"{int(missing.sum())} row(s) of the {table} table have no {key} (e.g. "
                    f"{df.loc[missing].iloc[0][list(keys)].to_dict()}): its warehouse source "
                    "has NULL in that key column; fix the build and publish again"
                )
        vals = df[value].to_numpy(dtype="float64")
        # primary: too few distinct applicants (persons, enterprises), or a count under 10
        prim = np.asarray(
            disclosure.cell_suppressed(
                df[applicants].to_numpy(dtype="float64"), vals, self.threshold
            ),
            dtype=bool,
        )
        start = len(self.values)
        self.values.extend(vals.tolist())
        self.primary.extend(prim.tolist())
        key_frame = df[list(keys)].astype(str)
        self.labels.extend(
            f"{table}.{value}[" + "|".join(row) + "]" for row in key_frame.itertuples(index=False)
        )
        return np.arange(start, start + len(df))

    def equation(self, totals: Iterable[int], parts: Iterable[int], label: str) -> None:
        self.equations.append((list(totals), list(parts), label))

    def margins(
        self, df: pd.DataFrame, cell: str, dim: str, keys: Sequence[str], label: str
    ) -> None:
        """``dim == ALL`` row = Σ other rows, within each group of the other keys."""
        others = [k for k in keys if k != dim]
        if df.empty:
            return
        gid = df.groupby(others, sort=False, dropna=False).ngroup().to_numpy()
        cells = df[cell].to_numpy()
        is_total = (df[dim] == ALL).to_numpy()
        totals = pd.Series(cells[is_total]).groupby(gid[is_total]).agg(list)
        parts = pd.Series(cells[~is_total]).groupby(gid[~is_total]).agg(list)
        for g in totals.index.intersection(parts.index):
            self.equation(totals[g], parts[g], f"{label}: {dim} margin")

    def hierarchy(self, df: pd.DataFrame, cell: str, keys: Sequence[str], label: str) -> None:
        """A parent region's row = Σ its children's rows, for every other key."""
        others = [k for k in keys if k not in ("region_level", "region_code")]
        child_levels = {"prefecture": ["county"], "province": ["prefecture", "county"]}
        for level, below in child_levels.items():
            parents = df[df["region_level"] == level]
            # a county rolls up into its prefecture, or into its province when it has none
            children = df[
                df["region_level"].isin(below) & df["parent_code"].isin(parents["region_code"])
            ]
            if parents.empty or children.empty:
                continue
            kids = (
                children.groupby(["parent_code", *others], sort=False, dropna=False)[cell]
                .agg(list)
                .rename("parts")
                .reset_index()
            )
            kids = kids.rename(columns={"parent_code": "region_code"})
            joined = parents[["region_code", *others, cell]].merge(
                kids, on=["region_code", *others], how="inner"
            )
            for total, part_cells in zip(joined[cell], joined["parts"], strict=True):
                self.equation([int(total)], part_cells, f"{label}: {level} roll-up")

    def protect(self) -> disclosure.Protection:
        system = disclosure.CellSystem(
            np.asarray(self.values), np.asarray(self.primary, dtype=bool), list(self.labels)
        )
        for totals, parts, label in self.equations:
            system.add_equation(totals, parts, label)
        return disclosure.protect(system, min_width=disclosure.protection_range(self.threshold))


def _status_of(protection: disclosure.Protection, cells: pd.Series) -> pd.Series:
    """Published status of each row's cell ('' for rows without a cell: a published zero);
    primary and secondary suppressions alike are ``suppressed``."""
    status = disclosure.published_status(protection.status)
    return cells.map(lambda c: "" if c < 0 else status[int(c)]).astype(object)


def _first(conditions: Sequence[tuple[Any, Any]], default: str = "") -> np.ndarray:
    """Per row, the status of the first condition that holds (``np.select``, text-typed)."""
    return np.select(
        [np.asarray(c, dtype=bool) for c, _ in conditions],
        [
            np.broadcast_to(np.asarray(v, dtype=object), len(conditions[0][0]))
            for _, v in conditions
        ],
        default=default,
    ).astype(object)


def _withheld_by(inputs: Sequence[pd.Series]) -> np.ndarray:
    """The first non-empty status among a rate's inputs (counts or populations), per row."""
    out = np.full(len(inputs[0]), "", dtype=object)
    for status in reversed(inputs):
        values = status.fillna("").to_numpy(dtype=object)
        out = np.where(values != "", values, out)
    return out


def _assign_cells(
    builder: _Builder,
    table: str,
    df: pd.DataFrame,
    value: str,
    applicants: str,
    keys: Sequence[str],
    column: str,
) -> pd.DataFrame:
    """Give each row with a positive ``value`` a cell id in ``column`` (-1: a known zero)."""
    df[column] = -1
    positive = df[value] > 0
    if positive.any():
        df.loc[positive, column] = builder.cells(table, df[positive], value, applicants, keys)
    return df


def build_tables(
    con: duckdb.DuckDBPyConnection, threshold: int, demand_cols: set[str], fact_cols: set[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The six published tables, disclosure-controlled, and statistics about the control."""
    labels = read_labels(con)
    applicant = applicant_id(demand_cols)
    demand_groups(con, threshold, applicant)
    demand = read_demand(con)
    divide = read_divide(con)
    enterprise = read_enterprise(con)
    for view in ("person_g", "person_small", "enterprise_g", "enterprise_small"):
        con.execute(f"drop view {view}")
    con.execute("drop table demand_g; drop table demand_small")
    population = read_population(con)
    performance = read_performance(con, threshold, demand_cols, fact_cols)
    standardised = read_standardised(con)

    b = _Builder(threshold)
    d_keys = ["year", "region_level", "region_code", "age_group_code", "theme_code"]
    _assign_cells(b, DEMAND, demand, "cases", "distinct_applicants", d_keys, "_c")
    dcell = demand[demand["_c"] >= 0]
    b.margins(dcell, "_c", "age_group_code", d_keys, DEMAND)
    b.margins(dcell, "_c", "theme_code", d_keys, DEMAND)
    b.hierarchy(dcell, "_c", d_keys, DEMAND)

    e_keys = ["year", "region_level", "region_code", "industry_section"]
    _assign_cells(b, ENTERPRISE, enterprise, "cases", "distinct_applicants", e_keys, "_c")
    ecell = enterprise[enterprise["_c"] >= 0]
    b.margins(ecell, "_c", "industry_section", e_keys, ENTERPRISE)
    b.hierarchy(ecell, "_c", e_keys, ENTERPRISE)
    # active enterprises: a count too (units: enterprises), with its own margins
    enterprise["active_enterprises"] = enterprise["active_enterprises"].fillna(0).astype("int64")
    enterprise["_units"] = enterprise["active_enterprises"]
    _assign_cells(b, ENTERPRISE, enterprise, "active_enterprises", "_units", e_keys, "_a")
    acell = enterprise[enterprise["_a"] >= 0]
    b.margins(acell, "_a", "industry_section", e_keys, ENTERPRISE)
    b.hierarchy(acell, "_a", e_keys, ENTERPRISE)

    population["_persons"] = population["population"]
    n_keys = ["year", "region_level", "region_code", "age_group_code", "sex"]
    _assign_cells(b, POPULATION, population, "population", "_persons", n_keys, "_c")
    ncell = population[population["_c"] >= 0]
    b.margins(ncell, "_c", "age_group_code", n_keys, POPULATION)
    b.margins(ncell, "_c", "sex", n_keys, POPULATION)
    b.hierarchy(ncell, "_c", n_keys, POPULATION)

    g_keys = ["year", "age_group_code", "urban_rural"]
    for value, applicants, col in (
        ("cases", "distinct_applicants", "_c"),
        ("online_cases", "online_applicants", "_on"),
        ("offline_cases", "offline_applicants", "_off"),
    ):
        _assign_cells(b, DIVIDE, divide, value, applicants, g_keys, col)
        gcell = divide[divide[col] >= 0]
        b.margins(gcell, col, "age_group_code", g_keys, DIVIDE)
        b.margins(gcell, col, "urban_rural", g_keys, DIVIDE)
    for total, online, offline in zip(divide["_c"], divide["_on"], divide["_off"], strict=True):
        parts = [int(c) for c in (online, offline) if c >= 0]
        if total >= 0 and parts:
            b.equation([int(total)], parts, f"{DIVIDE}: online + offline")

    p_keys = ["year", "item_code"]
    _assign_cells(b, PERFORMANCE, performance, "cases", "distinct_applicants", p_keys, "_c")

    # margins shared between tables
    d_all_theme = dcell[dcell["theme_code"] == ALL]
    counties = d_all_theme[d_all_theme["region_level"] == "county"].assign(
        _ur=lambda f: f["urban_rural"].fillna("NA")
    )
    provinces = d_all_theme[d_all_theme["region_level"] == "province"]
    g_rows = divide[divide["_c"] >= 0]
    for cell, year, age, ur in zip(
        g_rows["_c"], g_rows["year"], g_rows["age_group_code"], g_rows["urban_rural"], strict=True
    ):
        if ur == ALL:
            parts = provinces.loc[
                (provinces["year"] == year) & (provinces["age_group_code"] == age), "_c"
            ]
        else:
            parts = counties.loc[
                (counties["year"] == year)
                & (counties["age_group_code"] == age)
                & (counties["_ur"] == ur),
                "_c",
            ]
        b.equation([int(cell)], parts.tolist(), f"{DIVIDE} = {DEMAND} by urban/rural")
    prov_all = d_all_theme[(d_all_theme["region_level"] == "province")]
    e_prov = ecell[(ecell["region_level"] == "province") & (ecell["industry_section"] == ALL)]
    pcell = performance[performance["_c"] >= 0]
    for year, items in pcell.groupby("year"):
        d_tot = prov_all.loc[(prov_all["year"] == year) & (prov_all["age_group_code"] == ALL), "_c"]
        e_tot = e_prov.loc[e_prov["year"] == year, "_c"]
        b.equation(
            items["_c"].tolist(),
            [*d_tot.tolist(), *e_tot.tolist()],
            f"{PERFORMANCE} items = persons + enterprises",
        )
        b.equation(
            d_tot.tolist(),
            items.loc[items["applicant_type"] == "person", "_c"].tolist(),
            f"{PERFORMANCE} person items = {DEMAND}",
        )
        b.equation(
            e_tot.tolist(),
            items.loc[items["applicant_type"] == "enterprise", "_c"].tolist(),
            f"{PERFORMANCE} enterprise items = {ENTERPRISE}",
        )
        for theme, theme_items in items.groupby("theme_code"):
            tot = dcell.loc[
                (dcell["year"] == year)
                & (dcell["region_level"] == "province")
                & (dcell["age_group_code"] == ALL)
                & (dcell["theme_code"] == theme),
                "_c",
            ]
            b.equation(
                tot.tolist(),
                theme_items["_c"].tolist(),
                f"{PERFORMANCE} items of theme {theme} = {DEMAND}",
            )

    protection = b.protect()
    if protection.narrowest is not None and (
        protection.narrowest < protection.protection_range - 1e-6
    ):  # pragma: no cover - protect() returns only when every range is proven
        raise disclosure.DisclosureError(
            f"a suppressed count's interval is {protection.narrowest:g} wide, under the "
            f"protection range {protection.protection_range:g}"
        )
    status = protection.status
    demand = _demand_statuses(demand, population, protection, labels)
    enterprise = _enterprise_statuses(enterprise, protection, labels)
    population["population_status"] = _status_of(protection, population["_c"])
    population = population.merge(labels["region"], on="region_code", how="left")
    divide = _divide_statuses(divide, protection)
    performance = _performance_statuses(performance, protection)
    standardised = _standardised_statuses(standardised, demand, population, labels)

    tables = {
        DEMAND: demand,
        STANDARDISED: standardised,
        PERFORMANCE: performance,
        ENTERPRISE: enterprise,
        DIVIDE: divide,
        POPULATION: population,
    }
    stats = {
        "threshold": threshold,
        "cells": len(status),
        "primary": int((status == disclosure.PRIMARY).sum()),
        "secondary": int((status == disclosure.SECONDARY).sum()),
        "equations": len(b.equations),
        "audit_rounds": protection.audit_rounds,
        "audit_lps": protection.audit_lps,
        "protection_range": protection.protection_range,
        "narrowest_interval": (
            None if protection.narrowest is None else round(protection.narrowest, 6)
        ),
        "audited_cells": protection.audited_cells,
    }
    finished = {name: _finish(TABLE_BY_NAME[name], df) for name, df in tables.items()}
    check_published(finished)
    return finished, stats


def _demand_statuses(
    demand: pd.DataFrame,
    population: pd.DataFrame,
    protection: disclosure.Protection,
    labels: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Cases and rates of the demand table: a rate needs its count and its population
    published (else the two would give the other back), and 100 residents."""
    demand["cases_status"] = _status_of(protection, demand["_c"])
    pop_all_sex = population[population["sex"] == ALL][
        ["year", "region_level", "region_code", "age_group_code", "population", "_c"]
    ].rename(columns={"population": "_pop", "_c": "_pc"})
    demand = demand.merge(
        pop_all_sex, on=["year", "region_level", "region_code", "age_group_code"], how="left"
    )
    demand["_pop_status"] = _status_of(protection, demand["_pc"].fillna(-1))
    demand["rate_per_1000"] = (
        metrics.get("rate_per_1000").ratio(demand["cases"], demand["_pop"]).round(3)
    )
    # a suppressed input first: "small population" of a suppressed population would tell
    # that it is under 100
    inputs = _withheld_by([demand["cases_status"], demand["_pop_status"]])
    demand["rate_status"] = _first(
        [
            (inputs != "", inputs),
            (disclosure.rate_withheld(demand["_pop"].to_numpy()), disclosure.SMALL_POPULATION),
        ]
    )
    demand = demand.merge(labels["region"], on="region_code", how="left")
    return demand.merge(labels["theme"], on="theme_code", how="left")


def _enterprise_statuses(
    enterprise: pd.DataFrame, protection: disclosure.Protection, labels: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    enterprise["cases_status"] = _status_of(protection, enterprise["_c"])
    enterprise["active_enterprises_status"] = _status_of(protection, enterprise["_a"])
    enterprise["rate_per_1000"] = (
        metrics.get("ent_rate_per_1000")
        .ratio(enterprise["cases"], enterprise["active_enterprises"])
        .round(3)
    )
    inputs = _withheld_by([enterprise["cases_status"], enterprise["active_enterprises_status"]])
    enterprise["rate_status"] = _first(
        [
            (inputs != "", inputs),
            (
                disclosure.rate_withheld(enterprise["active_enterprises"].fillna(0).to_numpy()),
                disclosure.SMALL_POPULATION,
            ),
        ]
    )
    enterprise = enterprise.merge(labels["region"], on="region_code", how="left")
    return enterprise.merge(labels["industry"], on="industry_section", how="left")


def _divide_statuses(divide: pd.DataFrame, protection: disclosure.Protection) -> pd.DataFrame:
    for col, value in (("_c", "cases"), ("_on", "online_cases"), ("_off", "offline_cases")):
        divide[f"{value}_status"] = _status_of(protection, divide[col])
    divide["online_share"] = (
        metrics.get("online_share").ratio(divide["online_cases"], divide["cases"]).round(4)
    )
    inputs = _withheld_by([divide["online_cases_status"], divide["cases_status"]])
    divide["online_share_status"] = _first(
        [
            (inputs != "", inputs),
            (disclosure.rate_withheld(divide["cases"].to_numpy()), disclosure.SMALL_POPULATION),
        ]
    )
    return divide


def _performance_statuses(
    performance: pd.DataFrame, protection: disclosure.Protection
) -> pd.DataFrame:
    """A service item's counts and the statistics on them: a count under 10 is withheld
    (``suppressed``), a rate or quantile on fewer than 100 cases (ratings) is withheld
    (``small_population``), and everything goes with the item's cases when those are
    suppressed."""
    performance["status"] = _status_of(protection, performance["_c"])
    case_status = performance["status"].to_numpy(dtype=object)
    hidden = case_status != ""
    for count, count_status, stat_status in (
        ("completed_cases", "completed_cases_status", "processing_status"),
        ("rated_cases", "rated_cases_status", "rating_status"),
    ):
        n = performance[count].fillna(0).to_numpy(dtype="float64")
        performance[count_status] = _first(
            [(hidden, case_status), (disclosure.small_count(n), disclosure.SUPPRESSED)]
        )
        own = performance[count_status].to_numpy(dtype=object)
        performance[stat_status] = _first(
            [(own != "", own), (disclosure.rate_withheld(n), disclosure.SMALL_POPULATION)]
        )
    cases = performance["cases"].fillna(0).to_numpy(dtype="float64")
    performance["visit_status"] = _first(
        [(hidden, case_status), (disclosure.rate_withheld(cases), disclosure.SMALL_POPULATION)]
    )
    return performance


def _standardised_statuses(
    standardised: pd.DataFrame,
    demand: pd.DataFrame,
    population: pd.DataFrame,
    labels: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """The standardised table is derived from published cells only.

    ``crude_rate``, ``expected_cases``, ``standardised_ratio`` and its interval of a county ×
    theme need its all-ages demand cell, the county's population cells and — because expected
    cases are Σ_a rate(all, a) × residents(county, a) — every warehouse-wide age × theme cell
    (the province rows) and province population by age behind those rates: from published
    expected cases of several counties an analyst would solve for the rates, i.e. for those
    cells. The age-standardised rate needs every age-specific demand cell of the county and
    theme, the population cells, and at least 100 residents in every age group it weighs.
    """
    keys3 = ["year", "region_code", "theme_code"]
    d_county = demand[demand["region_level"] == "county"]
    total_status = d_county[d_county["age_group_code"] == ALL].set_index(keys3)["cases_status"]
    age_cells = d_county[d_county["age_group_code"] != ALL]
    any_age_hidden = (
        (age_cells["cases_status"] != "")
        .groupby([age_cells["year"], age_cells["region_code"], age_cells["theme_code"]])
        .any()
    )
    by_sex = population[population["sex"] == ALL]
    n_county = by_sex[by_sex["region_level"] == "county"]
    pop_hidden = (
        (n_county["population_status"] != "")
        .groupby([n_county["year"], n_county["region_code"]])
        .any()
    )
    strata = n_county[n_county["age_group_code"] != ALL]
    n_prov = by_sex[(by_sex["region_level"] == "province") & (by_sex["age_group_code"] != ALL)]
    weighted = n_prov[n_prov["population"] > 0][["year", "age_group_code"]].drop_duplicates()
    # every age group the standard weighs: each county needs 100 residents in it (a missing
    # row is 0 residents)
    strata_all = weighted.merge(
        n_county[["year", "region_code"]].drop_duplicates(), on="year"
    ).merge(
        strata[["year", "region_code", "age_group_code", "population"]],
        on=["year", "region_code", "age_group_code"],
        how="left",
    )
    small_stratum = (
        pd.Series(
            disclosure.rate_withheld(strata_all["population"].fillna(0).to_numpy()),
            index=strata_all.index,
        )
        .groupby([strata_all["year"], strata_all["region_code"]])
        .any()
    )
    prov_pop_hidden = (n_prov["population_status"] != "").groupby(n_prov["year"]).any()
    d_prov = demand[(demand["region_level"] == "province") & (demand["age_group_code"] != ALL)]
    d_prov = d_prov.merge(weighted, on=["year", "age_group_code"], how="inner")
    rate_hidden = (
        (d_prov["cases_status"] != "").groupby([d_prov["year"], d_prov["theme_code"]]).any()
    )

    std = standardised
    k3 = list(zip(std["year"], std["region_code"], std["theme_code"], strict=True))
    k2 = list(zip(std["year"], std["region_code"], strict=True))
    kt = list(zip(std["year"], std["theme_code"], strict=True))
    t_status = np.array([total_status.get(k, "") for k in k3], dtype=object)
    age_hidden = np.array([bool(any_age_hidden.get(k, False)) for k in k3])
    p_hidden = np.array([bool(pop_hidden.get(k, False)) for k in k2])
    strata_small = np.array([bool(small_stratum.get(k, True)) for k in k2])
    pp_hidden = np.array([bool(prov_pop_hidden.get(y, False)) for y in std["year"]])
    r_hidden = np.array([bool(rate_hidden.get(k, False)) for k in kt])
    small = np.asarray(disclosure.rate_withheld(std["population"].fillna(0).to_numpy()))
    suppressed = disclosure.SUPPRESSED
    std["status"] = _first(
        [
            (t_status != "", t_status),
            (p_hidden | pp_hidden | r_hidden, suppressed),
            (small, disclosure.SMALL_POPULATION),
        ]
    )
    std["asr_status"] = _first(
        [
            (t_status != "", t_status),
            (p_hidden | pp_hidden | age_hidden, suppressed),
            (small | strata_small, disclosure.SMALL_POPULATION),
        ]
    )
    return std.merge(labels["region"], on="region_code", how="left")


RATE_DENOMINATORS = {
    # published rate column -> the count column of the same row it is a rate on
    PERFORMANCE: {
        "median_working_days": "completed_cases",
        "p90_working_days": "completed_cases",
        "on_time_rate": "completed_cases",
        "zero_visit_rate": "cases",
        "max_one_visit_rate": "cases",
        "satisfaction_rate": "rated_cases",
        "bad_review_rate": "rated_cases",
    },
    ENTERPRISE: {"rate_per_1000": "active_enterprises"},
    DIVIDE: {"online_share": "cases"},
}
"""Rates whose denominator is published beside them (the others: :func:`check_published`)."""


def check_published(tables: dict[str, pd.DataFrame]) -> None:
    """The release gate on the finished tables: :class:`~subjectdb.release.disclosure.
    DisclosureError` if any published count is 1–9 or any published rate rests on fewer than
    100 (residents, enterprises, cases or ratings)."""
    floor, small = disclosure.MIN_COUNT, disclosure.MIN_RATE_POPULATION
    for name, df in tables.items():
        spec = TABLE_BY_NAME[name]
        for f in spec.fields:
            if f.type == "integer" and f.minimum == 0:
                v = df[f.name].astype("Float64")
                bad = (v > 0) & (v < floor)
                if bad.any():
                    raise disclosure.DisclosureError(
                        f"{name}.{f.name}: {int(bad.sum())} published count(s) under {floor}"
                    )
        for rate, count in RATE_DENOMINATORS.get(name, {}).items():
            bad = df[rate].notna() & ~(df[count].astype("Float64") >= small).fillna(False)
            if bad.any():
                raise disclosure.DisclosureError(
                    f"{name}.{rate}: {int(bad.sum())} rate(s) on fewer than {small} {count}"
                )
    # rates on residents: the population table gives each denominator
    pop = tables[POPULATION]
    pop = pop[pop["sex"] == ALL].set_index(
        ["year", "region_level", "region_code", "age_group_code"]
    )
    demand = tables[DEMAND]
    keys = list(zip(demand["year"], demand["region_level"], demand["region_code"],
                    demand["age_group_code"], strict=True))  # fmt: skip
    residents = pop["population"].reindex(keys).to_numpy(dtype="float64", na_value=np.nan)
    bad = demand["rate_per_1000"].notna().to_numpy() & ~(residents >= small)
    if bad.any():
        raise disclosure.DisclosureError(
            f"{DEMAND}.rate_per_1000: {int(bad.sum())} rate(s) on fewer than {small} residents "
            "(or on a withheld population)"
        )
    std = tables[STANDARDISED]
    keys = [(y, "county", r, ALL) for y, r in zip(std["year"], std["region_code"], strict=True)]
    residents = pop["population"].reindex(keys).to_numpy(dtype="float64", na_value=np.nan)
    for col in ("crude_rate", "age_standardised_rate"):
        bad = std[col].notna().to_numpy() & ~(residents >= small)
        if bad.any():
            raise disclosure.DisclosureError(
                f"{STANDARDISED}.{col}: {int(bad.sum())} rate(s) on fewer than {small} residents "
                "(or on a withheld population)"
            )


def _finish(spec: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Withhold suppressed values, type and order the columns, make text spreadsheet-safe."""
    df = df.copy()
    for value, status_col in WITHHELD[spec.name].items():
        df.loc[df[status_col] != "", value] = np.nan
    out = pd.DataFrame(index=df.index)
    for f in spec.fields:
        col = df[f.name] if f.name in df else pd.Series(pd.NA, index=df.index)
        if f.type == "integer":
            out[f.name] = pd.to_numeric(col).round().astype("Int64")
        elif f.type == "number":
            num = pd.to_numeric(col).astype("Float64")
            out[f.name] = num.round(ROUNDING[f.name]) if f.name in ROUNDING else num
        else:
            text = col.astype(object).where(col.notna(), None)
            text = text.map(lambda v: None if v is None else neutralise_formula(str(v)))
            out[f.name] = text.astype("string")
    keys = [f.name for f in spec.fields if f.key]
    order = {"province": 0, "prefecture": 1, "county": 2, ALL: -1}
    sort_frame = out[keys].astype(str).apply(lambda c: c.map(lambda v: (order.get(v, 9), v)))
    out = out.loc[sort_frame.sort_values(keys).index].reset_index(drop=True)
    return out
