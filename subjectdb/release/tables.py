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
        prim = np.asarray(
            disclosure.primary_suppressed(df[applicants].to_numpy(dtype="float64"), self.threshold)
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
        return disclosure.protect(system)


def _status_of(protection: disclosure.Protection, cells: pd.Series) -> pd.Series:
    """Status of each row's cell ('' for rows without a cell: a published zero)."""
    status = protection.status
    return cells.map(lambda c: "" if c < 0 else status[int(c)]).astype(object)


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
    status = protection.status

    # ---- demand
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
    demand["rate_status"] = np.select(
        [
            demand["cases_status"] != "",
            demand["_pop"].isna() | (demand["_pop"] < disclosure.MIN_RATE_POPULATION),
            demand["_pop_status"] != "",
        ],
        [demand["cases_status"], disclosure.SMALL_POPULATION, disclosure.SECONDARY],
        default="",
    )
    demand = demand.merge(labels["region"], on="region_code", how="left")
    demand = demand.merge(labels["theme"], on="theme_code", how="left")

    # ---- enterprise
    enterprise["cases_status"] = _status_of(protection, enterprise["_c"])
    enterprise["active_enterprises"] = enterprise["active_enterprises"].fillna(0).astype("int64")
    enterprise["rate_per_1000"] = (
        metrics.get("ent_rate_per_1000")
        .ratio(enterprise["cases"], enterprise["active_enterprises"])
        .round(3)
    )
    enterprise["rate_status"] = np.select(
        [
            enterprise["cases_status"] != "",
            enterprise["active_enterprises"] < disclosure.MIN_RATE_POPULATION,
        ],
        [enterprise["cases_status"], disclosure.SMALL_POPULATION],
        default="",
    )
    enterprise = enterprise.merge(labels["region"], on="region_code", how="left")
    enterprise = enterprise.merge(labels["industry"], on="industry_section", how="left")

    # ---- population
    population["population_status"] = _status_of(protection, population["_c"])
    population = population.merge(labels["region"], on="region_code", how="left")

    # ---- digital divide
    for col, value in (("_c", "cases"), ("_on", "online_cases"), ("_off", "offline_cases")):
        divide[f"{value}_status"] = _status_of(protection, divide[col])
    divide["online_share"] = (
        metrics.get("online_share").ratio(divide["online_cases"], divide["cases"]).round(4)
    )
    divide["online_share_status"] = np.where(
        divide["online_cases_status"] != "", divide["online_cases_status"], divide["cases_status"]
    )

    # ---- performance
    performance["status"] = _status_of(protection, performance["_c"])

    # ---- standardised: derived from published cells only when all its inputs are published
    d_county = demand[demand["region_level"] == "county"]
    total_status = d_county[d_county["age_group_code"] == ALL].set_index(
        ["year", "region_code", "theme_code"]
    )["cases_status"]
    age_cells = d_county[d_county["age_group_code"] != ALL]
    any_age_hidden = (
        (age_cells["cases_status"] != "")
        .groupby([age_cells["year"], age_cells["region_code"], age_cells["theme_code"]])
        .any()
    )
    n_county = population[(population["region_level"] == "county") & (population["sex"] == ALL)]
    pop_hidden = (
        (n_county["population_status"] != "")
        .groupby([n_county["year"], n_county["region_code"]])
        .any()
    )
    keys3 = list(
        zip(
            standardised["year"],
            standardised["region_code"],
            standardised["theme_code"],
            strict=True,
        )
    )
    keys2 = list(zip(standardised["year"], standardised["region_code"], strict=True))
    t_status = pd.Series([total_status.get(k, "") for k in keys3], dtype=object)
    age_hidden = pd.Series([bool(any_age_hidden.get(k, False)) for k in keys3])
    p_hidden = pd.Series([bool(pop_hidden.get(k, False)) for k in keys2])
    small = standardised["population"].fillna(0) < disclosure.MIN_RATE_POPULATION
    standardised["status"] = np.select(
        [t_status != "", p_hidden, small],
        [t_status, disclosure.SECONDARY, disclosure.SMALL_POPULATION],
        default="",
    )
    standardised["asr_status"] = np.select(
        [t_status != "", p_hidden | age_hidden, small],
        [t_status, disclosure.SECONDARY, disclosure.SMALL_POPULATION],
        default="",
    )
    standardised = standardised.merge(labels["region"], on="region_code", how="left")

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
    }
    return {name: _finish(TABLE_BY_NAME[name], df) for name, df in tables.items()}, stats


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
