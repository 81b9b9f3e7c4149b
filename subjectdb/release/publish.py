"""Open-data releases for researchers: aggregated tables with disclosure control.

``publish(paths)`` reads the served warehouse read-only (``marts.subj_*`` subject tables, with
labels from the ``marts.dim_*`` dimensions), builds six aggregated tables in SQL, applies
primary and secondary cell suppression (:mod:`subjectdb.disclosure`) across all of them at once,
and writes a versioned release folder ``data/opendata/releases/<version>/`` with Parquet and CSV
files, a Frictionless Data Package (v2), a data dictionary, READMEs (zh/en), CITATION.cff, a
DCAT JSON-LD catalog, a changelog, the stored validation result and SHA256SUMS. The release is
assembled in a scratch folder and renamed into place, so a release folder is complete or absent;
``data/opendata/latest.json`` then names the newest release. See docs/opendata.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from subjectdb import disclosure
from subjectdb.config import PROJECT_DIR, Paths, duckdb_connect

TZ = ZoneInfo("Asia/Shanghai")
ALL = "ALL"
LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0 International",
}
DATAPACKAGE_PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
PUBLISHER = os.environ.get(
    "SUBJECTDB_PUBLISHER", "互联网+政务服务数据管理机构 (Internet+ Government Services Data Office)"
)
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MISSING_LABEL = "withheld: see the row's *_status column (primary, secondary, small_population)"
MANIFEST_NAME = "manifest.json"

DEMAND = "demand_region_age_theme"
STANDARDISED = "demand_standardised"
PERFORMANCE = "service_performance"
ENTERPRISE = "enterprise_demand"
DIVIDE = "digital_divide"
POPULATION = "population"


class PublishError(Exception):
    """A problem the user can act on (no warehouse, bad threshold, version exists...)."""


# --------------------------------------------------------------------------- table metadata


@dataclass(frozen=True)
class FieldSpec:
    """One published column: where its documentation comes from, or its own definition.

    ``source`` = (dbt model, column): description, type and constraints are read from the dbt
    manifest (one source of metadata). Columns that only exist in the release (margins, status
    flags, derived annual rates) carry their own ``description`` here.
    """

    name: str
    type: str
    source: tuple[str, str] | None = None
    description: str | None = None
    key: bool = False
    has_total: bool = False
    minimum: float | None = None
    status_of: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    title_zh: str
    title_en: str
    grain: str
    description_zh: str
    description_en: str
    fields: tuple[FieldSpec, ...]


def _status_field(name: str, what: str) -> FieldSpec:
    return FieldSpec(
        name,
        "string",
        status_of=what,
        description=(
            f"Why `{what}` is empty: '' = published, 'primary' = fewer distinct applicants "
            "(persons) than the release threshold, 'secondary' = withheld so that no suppressed "
            "cell can be derived from other published numbers, 'small_population' = rate on "
            "fewer than 100 residents (enterprises) or none."
        ),
    )


YEAR = FieldSpec("year", "integer", ("subj_applicant_demand", "year"), key=True)
REGION_LEVEL = FieldSpec(
    "region_level",
    "string",
    key=True,
    description="Level of the region: county (区县), prefecture (地市) or province (省). Every "
    "prefecture row is the sum of its counties, every province row the sum of its prefectures.",
)
REGION_CODE = FieldSpec(
    "region_code",
    "string",
    key=True,
    description="GB/T 2260 code of the region (current code after code changes; see "
    "region_code_list in datapackage.json).",
)
REGION_NAME = FieldSpec("region_name", "string", description="Name of the region (GB/T 2260).")
PARENT_CODE = FieldSpec(
    "parent_code",
    "string",
    description="Code of the region this row rolls up into (empty for a province).",
)
URBAN_RURAL = FieldSpec(
    "urban_rural",
    "string",
    ("subj_applicant_demand", "urban_rural"),
    description="Urban/rural class of a county (`urban`/`rural`); empty for prefectures and "
    "provinces.",
)
AGE_GROUP = FieldSpec(
    "age_group_code",
    "string",
    ("subj_applicant_demand", "age_group_code"),
    key=True,
    has_total=True,
)
THEME = FieldSpec(
    "theme_code", "string", ("subj_applicant_demand", "theme_code"), key=True, has_total=True
)
CASES = FieldSpec("cases", "integer", ("subj_service_demand", "cases"), minimum=0)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        DEMAND,
        "按地区、年龄组、生活事件主题和年份统计的自然人办件需求",
        "Natural-person service demand by region, age group, life-event theme and year",
        "one row per year × region (county, prefecture, province) × age group (ALL = every "
        "age) × life-event theme (ALL = every theme) with at least one case",
        "自然人申请人提交的办件量（按提交年份、申请人常住区县、提交时年龄组、生活事件主题），"
        "以及每千名常住人口办件率（年中人口为分母）。地市、省行为其下级合计，ALL 为合计。",
        "Cases submitted by natural-person applicants, by submission year, applicant residence "
        "county, age group at submission and life-event theme, with the demand rate per 1,000 "
        "mid-year residents. Prefecture and province rows are sums of their counties; ALL rows "
        "are totals.",
        (
            YEAR,
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            URBAN_RURAL,
            AGE_GROUP,
            THEME,
            FieldSpec(
                "theme_name_zh",
                "string",
                ("dim_service_item", "theme_name_zh"),
                description="Theme name (Chinese).",
            ),
            FieldSpec(
                "theme_name_en",
                "string",
                ("dim_service_item", "theme_name_en"),
                description="Theme name (English).",
            ),
            CASES,
            _status_field("cases_status", "cases"),
            FieldSpec(
                "rate_per_1000",
                "number",
                minimum=0,
                description="cases / mid-year residents of the region and age group × 1,000 "
                "over the year (population from the `population` table, sex ALL).",
            ),
            _status_field("rate_status", "rate_per_1000"),
        ),
    ),
    TableSpec(
        STANDARDISED,
        "按区县、主题和年份的年龄标化需求率与标化需求比",
        "Age-standardised demand rate and standardised demand ratio by county, theme and year",
        "one row per year × county × life-event theme (ALL = every theme)",
        "直接法年龄标化办件率与间接法标化需求比（SDR，含 95% 精确泊松置信区间）。SDR 小于 1 "
        "表示办件少于按年龄结构预期，可能是服务不足地区。",
        "Direct age-standardised demand rate and indirect standardised demand ratio (SDR) with "
        "its exact Poisson 95 % interval. An SDR below 1 means fewer cases than the county's "
        "age structure predicts: a candidate under-served area.",
        (
            FieldSpec("year", "integer", ("subj_demand_standardised", "year"), key=True),
            FieldSpec(
                "region_code", "string", ("subj_demand_standardised", "region_code"), key=True
            ),
            REGION_NAME,
            FieldSpec("prefecture_code", "string", ("subj_demand_standardised", "prefecture_code")),
            FieldSpec("urban_rural", "string", ("subj_demand_standardised", "urban_rural")),
            FieldSpec(
                "theme_code",
                "string",
                ("subj_demand_standardised", "theme_code"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "crude_rate", "number", ("subj_demand_standardised", "crude_rate"), minimum=0
            ),
            FieldSpec(
                "expected_cases",
                "number",
                ("subj_demand_standardised", "expected_cases"),
                minimum=0,
            ),
            FieldSpec(
                "standardised_ratio",
                "number",
                ("subj_demand_standardised", "standardised_ratio"),
                minimum=0,
            ),
            FieldSpec(
                "ratio_ci_low", "number", ("subj_demand_standardised", "ratio_ci_low"), minimum=0
            ),
            FieldSpec(
                "ratio_ci_high", "number", ("subj_demand_standardised", "ratio_ci_high"), minimum=0
            ),
            _status_field("status", "crude_rate, expected_cases, standardised_ratio, ratio_ci_*"),
            FieldSpec(
                "age_standardised_rate",
                "number",
                ("subj_demand_standardised", "age_standardised_rate"),
                minimum=0,
            ),
            _status_field("asr_status", "age_standardised_rate"),
        ),
    ),
    TableSpec(
        PERFORMANCE,
        "按事项和年份的政务服务办理绩效",
        "Service performance by service item and year",
        "one row per year × service item with at least one case (all regions)",
        "各事项办件量、办结量、办理时长中位数与 90 分位（工作日）、按时办结率、零跑动率、"
        "最多跑一次率、好差评满意率与差评率。",
        "Cases, completed cases, median and 90th percentile processing time (working days), "
        "on-time rate, zero-visit and at-most-one-visit rates, satisfaction and bad-review "
        "rates per service item.",
        (
            FieldSpec("year", "integer", ("subj_service_performance", "year"), key=True),
            FieldSpec("item_code", "string", ("subj_service_performance", "item_code"), key=True),
            FieldSpec(
                "item_name_zh",
                "string",
                ("dim_service_item", "item_name_zh"),
                description="Service item name (Chinese).",
            ),
            FieldSpec(
                "item_name_en",
                "string",
                ("dim_service_item", "item_name_en"),
                description="Service item name (English).",
            ),
            FieldSpec("category_code", "string", ("subj_service_performance", "category_code")),
            FieldSpec("theme_code", "string", ("subj_service_performance", "theme_code")),
            FieldSpec(
                "applicant_type",
                "string",
                ("dim_service_item", "applicant_type"),
                description="Who the item is for: `person` or `enterprise`.",
            ),
            FieldSpec("cases", "integer", ("subj_service_performance", "cases"), minimum=0),
            FieldSpec(
                "completed_cases",
                "integer",
                ("subj_service_performance", "completed_cases"),
                minimum=0,
            ),
            FieldSpec(
                "median_working_days",
                "number",
                minimum=0,
                description="Median processing time of completed cases in working days "
                "(accepted date < d ≤ completed date on the official calendar), exact from the "
                "subj_processing_time histogram (linear interpolation, type 7).",
            ),
            FieldSpec(
                "p90_working_days",
                "number",
                minimum=0,
                description="90th percentile processing time of completed cases in working "
                "days, exact from the subj_processing_time histogram.",
            ),
            FieldSpec(
                "on_time_rate", "number", ("subj_service_performance", "on_time_rate"), minimum=0
            ),
            FieldSpec(
                "zero_visit_rate",
                "number",
                ("subj_service_performance", "zero_visit_rate"),
                minimum=0,
            ),
            FieldSpec(
                "max_one_visit_rate",
                "number",
                ("subj_service_performance", "max_one_visit_rate"),
                minimum=0,
            ),
            FieldSpec(
                "rated_cases", "integer", ("subj_service_performance", "rated_cases"), minimum=0
            ),
            FieldSpec(
                "satisfaction_rate",
                "number",
                ("subj_service_performance", "satisfaction_rate"),
                minimum=0,
            ),
            FieldSpec(
                "bad_review_rate",
                "number",
                ("subj_service_performance", "bad_review_rate"),
                minimum=0,
            ),
            _status_field("status", "every statistic of the row"),
        ),
    ),
    TableSpec(
        ENTERPRISE,
        "按地区、行业和年份统计的企业（法人）办件需求",
        "Enterprise (legal-person) service demand by region, industry and year",
        "one row per year × region (county, prefecture, province) × GB/T 4754 industry section "
        "(ALL = every section) with at least one case or active enterprise",
        "法人申请人办件量（按登记区县与行业门类）、7 月 1 日存续企业数，以及每千户企业办件率。",
        "Cases by legal-person applicants by registered county and industry section, enterprises "
        "active on 1 July, and cases per 1,000 active enterprises.",
        (
            YEAR,
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            FieldSpec(
                "industry_section",
                "string",
                ("subj_applicant_demand", "industry_section"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "industry_name_zh",
                "string",
                ("dim_industry", "name_zh"),
                description="Industry section name (Chinese).",
            ),
            FieldSpec(
                "industry_name_en",
                "string",
                ("dim_industry", "name_en"),
                description="Industry section name (English).",
            ),
            FieldSpec("cases", "integer", ("subj_enterprise_demand", "cases"), minimum=0),
            _status_field("cases_status", "cases"),
            FieldSpec(
                "active_enterprises",
                "integer",
                ("subj_enterprise_population", "active_enterprises"),
                minimum=0,
            ),
            FieldSpec(
                "rate_per_1000",
                "number",
                minimum=0,
                description="cases / active enterprises × 1,000 over the year.",
            ),
            _status_field("rate_status", "rate_per_1000"),
        ),
    ),
    TableSpec(
        DIVIDE,
        "按年龄组、城乡和年份的数字鸿沟（网上办理占比）",
        "Digital divide: online share by age group, urban/rural and year",
        "one row per year × age group (ALL) × urban/rural class of the applicant's county (ALL)",
        "自然人办件中通过网上办事大厅或移动端提交的办件量与占比，按年龄组与城乡划分。",
        "Natural-person cases submitted online (web service hall or mobile app) and offline, "
        "and the online share, by age group and the urban/rural class of the residence county.",
        (
            YEAR,
            AGE_GROUP,
            FieldSpec(
                "urban_rural",
                "string",
                ("subj_applicant_demand", "urban_rural"),
                key=True,
                has_total=True,
            ),
            CASES,
            _status_field("cases_status", "cases"),
            FieldSpec(
                "online_cases",
                "integer",
                minimum=0,
                description="Cases submitted online: web service hall or mobile app "
                "(dim_channel.is_online).",
            ),
            _status_field("online_cases_status", "online_cases"),
            FieldSpec(
                "offline_cases",
                "integer",
                minimum=0,
                description="Cases submitted at a window, a self-service kiosk or by post.",
            ),
            _status_field("offline_cases_status", "offline_cases"),
            FieldSpec(
                "online_share",
                "number",
                minimum=0,
                description="online_cases / cases (web service hall or mobile app).",
            ),
            _status_field("online_share_status", "online_share"),
        ),
    ),
    TableSpec(
        POPULATION,
        "按地区、年龄组、性别和年份的年中常住人口",
        "Mid-year resident population by region, age group, sex and year",
        "one row per year × region (county, prefecture, province) × age group (ALL) × sex (ALL) "
        "with at least one resident",
        "7 月 1 日常住人口（人口基础库），即办件率的分母。",
        "Residents on 1 July from the population register: the denominator of the demand rates.",
        (
            FieldSpec("year", "integer", ("subj_population", "year"), key=True),
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            FieldSpec(
                "age_group_code",
                "string",
                ("subj_population", "age_group_code"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "sex",
                "string",
                ("subj_population_pyramid", "sex"),
                key=True,
                has_total=True,
                description="Sex of the residents as recorded in the register; ALL = both.",
            ),
            FieldSpec("population", "integer", ("subj_population", "population"), minimum=0),
            _status_field("population_status", "population"),
        ),
    ),
)
TABLE_BY_NAME = {t.name: t for t in TABLES}


# --------------------------------------------------------------------------- dbt metadata


def find_manifest(paths: Paths, build_id: str | None = None) -> Path:
    """The dbt manifest describing the served warehouse's models.

    ``subjectdb build`` runs dbt in ``build/dbt-<build id>/`` and records the build id in the
    warehouse (``main.build_info``): that run's ``target/manifest.json`` is the one. Without a
    recorded build, the newest manifest under the build folder, else the project's
    ``target/manifest.json`` (a ``dbt parse``/``dbt build`` in the repository).
    """
    if build_id:
        exact = paths.build_dir / f"dbt-{build_id}" / "target" / MANIFEST_NAME
        if exact.is_file():
            return exact
    found = (
        sorted(
            (p for p in paths.build_dir.rglob(MANIFEST_NAME) if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if paths.build_dir.exists()
        else []
    )
    candidates = [*reversed(found), PROJECT_DIR / "target" / MANIFEST_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise PublishError(
        f"no dbt manifest found under {paths.build_dir} or {PROJECT_DIR / 'target'}: the "
        "column documentation comes from it; run `subjectdb build` (or `dbt parse`) first"
    )


def _build_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the build that made the served warehouse (``main.build_info``), if recorded."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_catalog = 'wh' "
        "and table_schema = 'main' and table_name = 'build_info'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(
        "select build_id from wh.main.build_info order by built_at desc limit 1"
    ).fetchone()
    return str(row[0]) if row else None


@dataclass
class ModelDocs:
    """Column docs, types and test-derived constraints of the dbt models, from manifest.json."""

    columns: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    generated_at: str = ""
    dbt_version: str = ""

    @classmethod
    def load(cls, path: Path) -> ModelDocs:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PublishError(f"cannot read dbt manifest {path}: {exc}") from exc
        docs = cls(
            generated_at=str(manifest.get("metadata", {}).get("generated_at", "")),
            dbt_version=str(manifest.get("metadata", {}).get("dbt_version", "")),
        )
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") != "model":
                continue
            name = node.get("name", "")
            docs.models[name] = node.get("description", "") or ""
            for col_name, col in (node.get("columns") or {}).items():
                entry = {
                    "description": (col.get("description") or "").strip(),
                    "data_type": (col.get("data_type") or "").lower(),
                    "required": any(
                        c.get("type") == "not_null" for c in col.get("constraints") or []
                    ),
                    "enum": None,
                }
                docs.columns[(name, col_name.lower())] = entry
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") != "test":
                continue
            meta = node.get("test_metadata") or {}
            kwargs = meta.get("kwargs") or {}
            column = (kwargs.get("column_name") or node.get("column_name") or "").lower()
            attached = (node.get("attached_node") or "").split(".")[-1]
            entry = docs.columns.get((attached, column))
            if entry is None:
                continue
            if meta.get("name") == "not_null":
                entry["required"] = True
            elif meta.get("name") == "accepted_values":
                values = kwargs.get("values") or (kwargs.get("arguments") or {}).get("values")
                if values:
                    entry["enum"] = [str(v) for v in values]
        return docs

    def field_schema(self, spec: FieldSpec, table: str) -> dict[str, Any]:
        """The Table Schema field of one published column."""
        out: dict[str, Any] = {"name": spec.name, "type": spec.type}
        description = spec.description
        constraints: dict[str, Any] = {}
        if spec.source is not None:
            entry = self.columns.get((spec.source[0], spec.source[1].lower()))
            if entry is None and spec.description is None:
                raise PublishError(
                    f"{table}.{spec.name}: column {spec.source[1]} of dbt model "
                    f"{spec.source[0]} is not in the dbt manifest (document it in the model's "
                    "YAML and rebuild)"
                )
            if entry is not None:
                if entry["description"]:
                    description = entry["description"]
                elif description is None:
                    raise PublishError(
                        f"{table}.{spec.name}: column {spec.source[1]} of dbt model "
                        f"{spec.source[0]} has no description in the dbt docs"
                    )
                if entry["enum"]:
                    values = list(entry["enum"])
                    if spec.has_total:
                        values.append(ALL)
                    constraints["enum"] = values
                out["x-dbt-source"] = f"{spec.source[0]}.{spec.source[1]}"
                if entry["data_type"]:
                    out["x-dbt-data-type"] = entry["data_type"]
        if spec.has_total:
            description = f"{description} `{ALL}` = total over every value."
        out["description"] = description or ""
        if spec.key:
            constraints["required"] = True
        if spec.minimum is not None:
            constraints["minimum"] = spec.minimum
        if spec.status_of is not None:
            constraints["enum"] = list(disclosure.STATUSES)
        if constraints:
            out["constraints"] = constraints
        return out


# --------------------------------------------------------------------------- warehouse reads


def _connect(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with the served warehouse attached read-only as ``wh``.

    Bounded like every DuckDB connection of the project (memory limit, spill folder); every
    query orders what it returns, so insertion order need not be kept.
    """
    if not paths.warehouse.exists():
        raise PublishError(f"no warehouse at {paths.warehouse}: run `subjectdb build` first")
    con = duckdb_connect(paths=paths, preserve_order=False)
    try:
        con.execute(f"ATTACH '{paths.warehouse.as_posix()}' AS wh (READ_ONLY)")
    except duckdb.Error as exc:
        con.close()
        raise PublishError(f"cannot open warehouse {paths.warehouse}: {exc}") from exc
    return con


REQUIRED_TABLES = {
    "subj_applicant_demand": {
        "applicant_key",
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "urban_rural",
        "age_group_code",
        "theme_code",
        "applicant_type",
        "channel_code",
        "industry_section",
        "cases",
    },
    "subj_demand_standardised": {
        "year",
        "region_code",
        "theme_code",
        "cases",
        "population",
        "crude_rate",
        "age_standardised_rate",
        "expected_cases",
        "standardised_ratio",
        "ratio_ci_low",
        "ratio_ci_high",
    },
    "subj_service_performance": {
        "year",
        "item_code",
        "cases",
        "completed_cases",
        "on_time_cases",
        "zero_visit_cases",
        "max_one_visit_cases",
        "rated_cases",
        "satisfied_cases",
        "bad_review_cases",
        "distinct_applicants",
    },
    "subj_processing_time": {"year", "item_code", "working_days", "completed_cases"},
    "subj_enterprise_population": {
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "industry_section",
        "active_enterprises",
    },
    "subj_population_pyramid": {
        "year",
        "region_code",
        "prefecture_code",
        "province_code",
        "age_group_code",
        "sex",
        "population",
    },
    "dim_region": {"region_code", "region_name"},
    "dim_service_item": {
        "item_code",
        "item_name_zh",
        "item_name_en",
        "theme_code",
        "theme_name_zh",
        "theme_name_en",
        "applicant_type",
    },
    "dim_industry": {"industry_section", "name_zh", "name_en"},
    "dim_channel": {"channel_code", "is_online"},
}


def _check_tables(con: duckdb.DuckDBPyConnection, paths: Paths) -> tuple[set[str], set[str]]:
    rows = con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = 'wh' and table_schema = 'marts'"
    ).fetchall()
    have: dict[str, set[str]] = {}
    for table, column in rows:
        have.setdefault(table, set()).add(column)
    for table, needed in REQUIRED_TABLES.items():
        if table not in have:
            raise PublishError(f"warehouse {paths.warehouse} has no table marts.{table}")
        missing = sorted(needed - have[table])
        if missing:
            raise PublishError(
                f"warehouse table marts.{table} lacks column(s) {', '.join(missing)}"
            )
    return have.get("subj_applicant_demand", set()), have.get("fct_service_cases", set())


def _levels_cte(source: str, where: str) -> str:
    """Rows of ``source`` repeated at county, prefecture and province level."""
    return f"""
        base as (select * from {source} where {where}),
        levels as (
            select 'county' as region_level, region_code as r_code,
                   coalesce(prefecture_code, province_code) as r_parent, * from base
            union all
            select 'prefecture', prefecture_code, province_code, * from base
            where prefecture_code is not null
            union all
            select 'province', province_code, null, * from base
        )"""


def _applicant_id(demand_cols: set[str]) -> str:
    """The applicant column to count: the compact BIGINT id when served, else the HMAC key.

    ``applicant_id_int`` (60 bits of the key) can only merge two applicants, never split one,
    so a count over it is never above the true count: a cell it misjudges is suppressed, not
    published.
    """
    return "applicant_id_int" if "applicant_id_int" in demand_cols else "applicant_key"


def _distinct_floor(threshold: int) -> str:
    """SQL aggregate: a lower bound on ``count(distinct applicant)`` in constant memory.

    The number of different ids among the group's ``3 × threshold`` smallest ids (a bounded
    heap per group, where an exact count would keep every id of the group): never above the
    true count, exact for groups with that few rows, and short of the threshold for a large
    group only when its smallest ids repeat (few applicants with many rows each). Groups under
    the threshold by this bound get their exact count.
    """
    return f"list_unique(min(applicant, {3 * int(threshold)}))::bigint"


def _demand_groups(con: duckdb.DuckDBPyConnection, threshold: int, applicant: str) -> None:
    """Temp tables for every distinct-applicant count of the demand tables, in two scans.

    ``demand_g``: one row per applicant type × year × county × age group × theme × online ×
    industry, with its cases and a lower bound on its distinct applicants
    (:func:`_distinct_floor`; one grouped scan of ``subj_applicant_demand``). Every published
    person or enterprise cell is a union of these groups, so the largest group bound is a lower
    bound on the cell's count; a cell is decided by that bound unless it is below the
    threshold, and then every one of its groups is below the threshold by its bound too.
    ``demand_small`` holds the rows of those groups only (groups of few applicants, so few
    rows however many cases there are), from which such cells get their exact counts. The views
    ``person_g``/``person_small`` and ``enterprise_g``/``enterprise_small`` split them by type.
    """
    base = f"""
        select d.applicant_type as kind, d.year, d.region_code, d.prefecture_code,
            d.province_code, d.urban_rural,
            coalesce(d.age_group_code, 'NA') as age, coalesce(d.theme_code, 'NA') as theme,
            coalesce(c.is_online, false) as online, coalesce(d.industry_section, 'NA') as ind,
            d.{applicant} as applicant, d.cases
        from wh.marts.subj_applicant_demand as d
        left join wh.marts.dim_channel as c on c.channel_code = d.channel_code
        where d.applicant_type in ('person', 'enterprise')"""
    keys = "kind, year, region_code, age, theme, online, ind"
    con.execute(f"""
        create or replace temp table demand_g as
        select kind, year, region_code, prefecture_code, province_code, urban_rural, age,
            theme, online, ind, sum(cases)::bigint as cases, {_distinct_floor(threshold)} as da
        from ({base}) group by all""")
    missing = con.execute(
        "select kind, count(*), sum(cases), any_value(year) from demand_g "
        "where region_code is null group by kind order by kind"
    ).fetchall()
    if missing:
        kind, groups, cases, year = missing[0]
        raise PublishError(
            f"warehouse table marts.subj_applicant_demand has {cases} {kind} case(s) with no "
            f"region_code (column region_code is NULL, e.g. in year {year}; {groups} group(s)): "
            "the regional tables cannot place them; fix the build (every applicant needs a "
            "county) and publish again"
        )
    con.execute(f"""
        create or replace temp table demand_small as
        select b.* from ({base}) as b
        semi join (select distinct {keys} from demand_g where da < {int(threshold)}) as s
            using ({keys})""")
    for kind in ("person", "enterprise"):
        for table in ("g", "small"):
            con.execute(
                f"create or replace temp view {kind}_{table} as "
                f"select * from demand_{table} where kind = '{kind}'"
            )


def _read_demand(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Natural persons' cases by region level × region × age group × theme (and margins).

    Needs the temp tables of :func:`_demand_groups`. ``distinct_applicants`` is exact below the
    primary threshold and a lower bound at or above it (all the primary rule needs).
    """
    sets = """grouping sets (
        (year, region_level, r_code, age, theme), (year, region_level, r_code, age),
        (year, region_level, r_code, theme), (year, region_level, r_code))"""
    keys = """year, region_level, r_code as region_code,
        case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(theme) = 1 then 'ALL' else theme end as theme_code"""
    sql = f"""
    with {_levels_cte("person_g", "true")},
    cells as (
        select {keys}, any_value(r_parent) as parent_code,
            case when region_level = 'county' then any_value(urban_rural) end as urban_rural,
            sum(cases)::bigint as cases, max(da)::bigint as floor_applicants
        from levels group by {sets}
    ),
    exact as (
        select * from (
            with {_levels_cte("person_small", "true")}
            select {keys}, count(distinct applicant)::bigint as exact_applicants
            from levels group by {sets})
    )
    select year, region_level, region_code, parent_code, urban_rural, age_group_code,
        theme_code, cases,
        greatest(floor_applicants, coalesce(exact_applicants, 0))::bigint as distinct_applicants
    from cells left join exact
        using (year, region_level, region_code, age_group_code, theme_code)
    order by year, region_level, region_code, age_group_code, theme_code
    """
    return con.execute(sql).df()


def _read_enterprise(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # needs the temp tables of _demand_groups
    sets = "grouping sets ((year, region_level, r_code, ind), (year, region_level, r_code))"
    keys = """year, region_level, r_code as region_code,
        case when grouping(ind) = 1 then 'ALL' else ind end as industry_section"""
    cases_sql = f"""
    with {_levels_cte("enterprise_g", "true")},
    cells as (
        select {keys}, any_value(r_parent) as parent_code, sum(cases)::bigint as cases,
            max(da)::bigint as floor_applicants
        from levels group by {sets}
    ),
    exact as (
        select * from (
            with {_levels_cte("enterprise_small", "true")}
            select {keys}, count(distinct applicant)::bigint as exact_applicants
            from levels group by {sets})
    )
    select year, region_level, region_code, parent_code, industry_section, cases,
        greatest(floor_applicants, coalesce(exact_applicants, 0))::bigint as distinct_applicants
    from cells left join exact using (year, region_level, region_code, industry_section)
    order by year, region_level, region_code, industry_section
    """
    active_sql = f"""
    with {_levels_cte("wh.marts.subj_enterprise_population", "true")}
    select year, region_level, r_code as region_code, any_value(r_parent) as parent_code,
        case when grouping(ind) = 1 then 'ALL' else ind end as industry_section,
        sum(active_enterprises)::bigint as active_enterprises
    from (select *, coalesce(industry_section, 'NA') as ind from levels)
    group by grouping sets ((year, region_level, r_code, ind), (year, region_level, r_code))
    order by year, region_level, region_code, industry_section
    """
    cases = con.execute(cases_sql).df()
    active = con.execute(active_sql).df()
    keys_ = ["year", "region_level", "region_code", "industry_section"]
    out = cases.merge(active, on=keys_, how="outer", suffixes=("", "_a"))
    out["parent_code"] = out["parent_code"].fillna(out.pop("parent_code_a"))
    # only years with cases: the enterprise register alone is not a demand table
    out = out[out["year"].isin(cases["year"].unique())]
    out["cases"] = out["cases"].fillna(0).astype("int64")
    out["distinct_applicants"] = out["distinct_applicants"].fillna(0).astype("int64")
    return out.sort_values(keys_, kind="stable").reset_index(drop=True)


def _read_population(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    sql = f"""
    with {_levels_cte("wh.marts.subj_population_pyramid", "population > 0")}
    select year, region_level, r_code as region_code, any_value(r_parent) as parent_code,
        case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(sx) = 1 then 'ALL' else sx end as sex,
        sum(population)::bigint as population
    from (select *, coalesce(age_group_code, 'NA') as age,
                 coalesce(cast(sex as varchar), 'NA') as sx from levels)
    group by grouping sets (
        (year, region_level, r_code, age, sx), (year, region_level, r_code, age),
        (year, region_level, r_code, sx), (year, region_level, r_code))
    order by year, region_level, region_code, age_group_code, sex
    """
    return con.execute(sql).df()


def _read_divide(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Online/offline use by age group × urban/rural; needs :func:`_demand_groups`' tables."""
    sets = "grouping sets ((year, age, ur), (year, age), (year, ur), (year))"
    keys = """year, case when grouping(age) = 1 then 'ALL' else age end as age_group_code,
        case when grouping(ur) = 1 then 'ALL' else ur end as urban_rural"""
    sql = f"""
    with cells as (
        select {keys},
            sum(cases)::bigint as cases, max(da) as floor_all,
            coalesce(sum(cases) filter (where online), 0)::bigint as online_cases,
            coalesce(max(da) filter (where online), 0) as floor_online,
            coalesce(sum(cases) filter (where not online), 0)::bigint as offline_cases,
            coalesce(max(da) filter (where not online), 0) as floor_offline
        from (select *, coalesce(urban_rural, 'NA') as ur from person_g)
        group by {sets}
    ),
    exact as (
        select {keys},
            count(distinct applicant) as exact_all,
            count(distinct applicant) filter (where online) as exact_online,
            count(distinct applicant) filter (where not online) as exact_offline
        from (select *, coalesce(urban_rural, 'NA') as ur from person_small)
        group by {sets}
    )
    select year, age_group_code, urban_rural, cases,
        greatest(floor_all, coalesce(exact_all, 0))::bigint as distinct_applicants,
        online_cases,
        greatest(floor_online, coalesce(exact_online, 0))::bigint as online_applicants,
        offline_cases,
        greatest(floor_offline, coalesce(exact_offline, 0))::bigint as offline_applicants
    from cells left join exact using (year, age_group_code, urban_rural)
    order by year, age_group_code, urban_rural
    """
    return con.execute(sql).df()


def _read_performance(
    con: duckdb.DuckDBPyConnection,
    threshold: int,
    demand_cols: set[str],
    fact_cols: set[str],
) -> pd.DataFrame:
    # per item and year, the largest distinct count of any month × department × county row
    # is a lower bound on the item-year count; items under the threshold by that bound get a
    # second bound from the finest source served (its rows of those items only), and items
    # still under it their exact count (from the few rows of those items)
    con.execute("""
        create or replace temp table item_floor as
        select year, item_code, max(distinct_applicants)::bigint as da
        from wh.marts.subj_service_performance group by year, item_code""")
    t = int(threshold)
    if "item_code" in demand_cols:
        rows = f"""
            select year, item_code, {_applicant_id(demand_cols)} as applicant
            from wh.marts.subj_applicant_demand"""
    elif {"item_code", "applicant_key", "submitted_year"} <= fact_cols:
        rows = """
            select submitted_year as year, item_code, applicant_key as applicant
            from wh.marts.fct_service_cases"""
    else:
        rows = ""  # no finer source: the lower bound alone (conservative: suppresses more)
    exact = "select year, item_code, 0::bigint as da from item_floor where false"
    if rows:
        # the second bound counts distinct 64-bit hashes of the ids (a collision merges two
        # applicants, never splits one), in the constant memory of _distinct_floor
        con.execute(f"""
            create or replace temp table item_bound as
            select year, item_code, list_unique(min(hash(applicant), {3 * t}))::bigint as da
            from ({rows})
            semi join (select year, item_code from item_floor where da < {t})
                using (year, item_code)
            group by year, item_code""")
        exact = f"""
            select year, item_code, greatest(any_value(b.da), count(distinct r.applicant)) as da
            from item_bound as b
            left join (select * from ({rows})
                       semi join (select year, item_code from item_bound where da < {t})
                           using (year, item_code)) as r
                using (year, item_code)
            group by year, item_code"""
    applicants = f"""
        select year, item_code, greatest(f.da, coalesce(e.da, 0)) as distinct_applicants
        from item_floor as f left join ({exact}) as e using (year, item_code)"""
    sql = f"""
    with perf as (
        select year, item_code,
            any_value(category_code) as category_code, any_value(theme_code) as theme_code,
            sum(cases)::bigint as cases, sum(completed_cases)::bigint as completed_cases,
            sum(on_time_cases) as on_time_cases, sum(zero_visit_cases) as zero_visit_cases,
            sum(max_one_visit_cases) as max_one_visit_cases,
            sum(rated_cases)::bigint as rated_cases, sum(satisfied_cases) as satisfied_cases,
            sum(bad_review_cases) as bad_review_cases
        from wh.marts.subj_service_performance group by year, item_code
    ),
    -- median and p90 of working days over the completed cases, i.e. quantile_cont over each
    -- day value repeated completed_cases times, from cumulative weights (no row per case):
    -- the k-th smallest value (from 0) is the first whose running count exceeds k, and
    -- quantile q interpolates between ranks floor(h) and ceil(h), h = (n - 1) * q
    days as (
        select year, item_code, working_days, sum(completed_cases)::bigint as w
        from wh.marts.subj_processing_time
        where completed_cases > 0 and working_days is not null
        group by year, item_code, working_days
    ),
    ranked as (
        select year, item_code, working_days,
            sum(w) over (partition by year, item_code order by working_days
                         rows between unbounded preceding and current row) as upto,
            (sum(w) over (partition by year, item_code) - 1)::double as last_rank
        from days
    ),
    times_q as (
        select year, item_code, q, any_value(last_rank * q) as h,
            min(working_days) filter (where upto > floor(last_rank * q))::double as lo,
            min(working_days) filter (where upto > ceil(last_rank * q))::double as hi
        from ranked, (select unnest([0.5::double, 0.9::double]) as q)
        group by year, item_code, q
    ),
    times as (
        select year, item_code,
            any_value(lo + (hi - lo) * (h - floor(h))) filter (where q = 0.5)
                as median_working_days,
            any_value(lo + (hi - lo) * (h - floor(h))) filter (where q = 0.9)
                as p90_working_days
        from times_q group by year, item_code
    ),
    applicants as ({applicants})
    select perf.year, perf.item_code, items.item_name_zh, items.item_name_en,
        perf.category_code, perf.theme_code, items.applicant_type,
        perf.cases, perf.completed_cases,
        times.median_working_days, times.p90_working_days,
        case when perf.completed_cases > 0
             then perf.on_time_cases / perf.completed_cases end as on_time_rate,
        case when perf.cases > 0 then perf.zero_visit_cases / perf.cases end as zero_visit_rate,
        case when perf.cases > 0
             then perf.max_one_visit_cases / perf.cases end as max_one_visit_rate,
        perf.rated_cases,
        case when perf.rated_cases > 0
             then perf.satisfied_cases / perf.rated_cases end as satisfaction_rate,
        case when perf.rated_cases > 0
             then perf.bad_review_cases / perf.rated_cases end as bad_review_rate,
        coalesce(applicants.distinct_applicants, 0)::bigint as distinct_applicants
    from perf
    left join times using (year, item_code)
    left join applicants using (year, item_code)
    left join wh.marts.dim_service_item as items using (item_code)
    where perf.cases > 0
    order by perf.year, perf.item_code
    """
    return con.execute(sql).df()


def _read_standardised(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """select year, region_code, prefecture_code, urban_rural, theme_code, cases,
                  population, crude_rate, expected_cases, standardised_ratio, ratio_ci_low,
                  ratio_ci_high, age_standardised_rate
           from wh.marts.subj_demand_standardised order by year, region_code, theme_code"""
    ).df()


def _labels(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {
        "region": con.execute(
            "select region_code, any_value(region_name) as region_name "
            "from wh.marts.dim_region group by region_code"
        ).df(),
        "theme": con.execute(
            "select theme_code, any_value(theme_name_zh) as theme_name_zh, "
            "any_value(theme_name_en) as theme_name_en from wh.marts.dim_service_item "
            "where theme_code is not null group by theme_code"
        ).df(),
        "industry": con.execute(
            "select industry_section, any_value(name_zh) as industry_name_zh, "
            "any_value(name_en) as industry_name_en from wh.marts.dim_industry "
            "group by industry_section"
        ).df(),
    }


# --------------------------------------------------------------------------- disclosure


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


def _build_tables(
    con: duckdb.DuckDBPyConnection, threshold: int, demand_cols: set[str], fact_cols: set[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The six published tables, disclosure-controlled, and statistics about the control."""
    labels = _labels(con)
    applicant = _applicant_id(demand_cols)
    _demand_groups(con, threshold, applicant)
    demand = _read_demand(con)
    divide = _read_divide(con)
    enterprise = _read_enterprise(con)
    for view in ("person_g", "person_small", "enterprise_g", "enterprise_small"):
        con.execute(f"drop view {view}")
    con.execute("drop table demand_g; drop table demand_small")
    population = _read_population(con)
    performance = _read_performance(con, threshold, demand_cols, fact_cols)
    standardised = _read_standardised(con)

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
    demand["rate_per_1000"] = (demand["cases"] * 1000 / demand["_pop"]).round(3)
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
    enterprise["rate_per_1000"] = np.where(
        enterprise["active_enterprises"] > 0,
        (enterprise["cases"] * 1000 / enterprise["active_enterprises"].clip(lower=1)).round(3),
        np.nan,
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
    divide["online_share"] = (divide["online_cases"] / divide["cases"]).round(4)
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


WITHHELD = {
    # value column -> the status column that withholds it
    DEMAND: {"cases": "cases_status", "rate_per_1000": "rate_status"},
    STANDARDISED: {
        "crude_rate": "status",
        "expected_cases": "status",
        "standardised_ratio": "status",
        "ratio_ci_low": "status",
        "ratio_ci_high": "status",
        "age_standardised_rate": "asr_status",
    },
    PERFORMANCE: {
        c: "status"
        for c in (
            "cases",
            "completed_cases",
            "median_working_days",
            "p90_working_days",
            "on_time_rate",
            "zero_visit_rate",
            "max_one_visit_rate",
            "rated_cases",
            "satisfaction_rate",
            "bad_review_rate",
        )
    },
    ENTERPRISE: {"cases": "cases_status", "rate_per_1000": "rate_status"},
    DIVIDE: {
        "cases": "cases_status",
        "online_cases": "online_cases_status",
        "offline_cases": "offline_cases_status",
        "online_share": "online_share_status",
    },
    POPULATION: {"population": "population_status"},
}
ROUNDING = {
    "crude_rate": 3,
    "expected_cases": 2,
    "standardised_ratio": 4,
    "ratio_ci_low": 4,
    "ratio_ci_high": 4,
    "age_standardised_rate": 3,
    "median_working_days": 2,
    "p90_working_days": 2,
    "on_time_rate": 4,
    "zero_visit_rate": 4,
    "max_one_visit_rate": 4,
    "satisfaction_rate": 4,
    "bad_review_rate": 4,
}


def sanitize_text(value: object) -> object:
    """Prefix ``'`` to text a spreadsheet would read as a formula (=, +, -, @, tab, CR)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


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
            text = text.map(lambda v: None if v is None else sanitize_text(str(v)))
            out[f.name] = text.astype("string")
    keys = [f.name for f in spec.fields if f.key]
    order = {"province": 0, "prefecture": 1, "county": 2, ALL: -1}
    sort_frame = out[keys].astype(str).apply(lambda c: c.map(lambda v: (order.get(v, 9), v)))
    out = out.loc[sort_frame.sort_values(keys).index].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- release files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_table(folder: Path, name: str, df: pd.DataFrame) -> dict[str, Path]:
    """Parquet (typed), CSV (UTF-8) and an Excel-friendly CSV (UTF-8 with BOM)."""
    (folder / "data" / "excel").mkdir(parents=True, exist_ok=True)
    files = {
        "parquet": folder / "data" / f"{name}.parquet",
        "csv": folder / "data" / f"{name}.csv",
        "excel": folder / "data" / "excel" / f"{name}.csv",
    }
    df.to_parquet(files["parquet"], index=False, compression="zstd")
    df.to_csv(files["csv"], index=False, encoding="utf-8", lineterminator="\n")
    df.to_csv(files["excel"], index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return files


def _relative(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _schema(spec: TableSpec, docs: ModelDocs) -> dict[str, Any]:
    return {
        "$schema": "https://datapackage.org/profiles/2.0/tableschema.json",
        "fields": [docs.field_schema(f, spec.name) for f in spec.fields],
        "primaryKey": [f.name for f in spec.fields if f.key],
        "missingValues": [{"value": "", "label": MISSING_LABEL}],
    }


def _resources(
    folder: Path, files: dict[str, dict[str, Path]], docs: ModelDocs
) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for spec in TABLES:
        schema = _schema(spec, docs)
        common = {
            "title": f"{spec.title_zh} / {spec.title_en}",
            "description": (
                f"{spec.description_zh}\n\n{spec.description_en}\n\nGrain: {spec.grain}."
            ),
            "licenses": [LICENSE],
        }
        for kind, suffix, fmt, mediatype, encoding in (
            ("csv", "", "csv", "text/csv", "utf-8"),
            ("excel", "-excel", "csv", "text/csv", "utf-8-sig"),
            ("parquet", "-parquet", "parquet", "application/vnd.apache.parquet", None),
        ):
            path = files[spec.name][kind]
            res: dict[str, Any] = {
                "name": f"{spec.name}{suffix}",
                "type": "table" if fmt == "csv" else "file",
                "path": _relative(folder, path),
                "format": fmt,
                "mediatype": mediatype,
                **common,
            }
            if encoding:
                res["encoding"] = encoding
                res["dialect"] = {"header": True, "delimiter": ",", "quoteChar": '"'}
            res["bytes"] = path.stat().st_size
            res["hash"] = f"sha256:{_sha256(path)}"
            res["schema"] = schema
            resources.append(res)
    return resources


def _coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    months = con.execute(
        "select min(month), max(month) from wh.marts.subj_applicant_demand"
    ).fetchone()
    provinces = con.execute(
        """select d.province_code, any_value(r.region_name), count(distinct d.region_code)
           from wh.marts.subj_applicant_demand d
           left join wh.marts.dim_region r on r.region_code = d.province_code
           group by d.province_code order by 1"""
    ).fetchall()
    start = months[0] if months else None
    end = months[1] if months else None
    if end is not None:
        end = (pd.Timestamp(end) + pd.offsets.MonthEnd(0)).date()
    return {
        "temporal": {"start": str(start) if start else None, "end": str(end) if end else None},
        "spatial": [
            {"province_code": code, "name": name, "counties_with_cases": int(n)}
            for code, name, n in provinces
        ],
    }


def _region_code_list() -> dict[str, str]:
    from subjectdb import reference

    return {
        "standard": "GB/T 2260 (中华人民共和国行政区划代码)",
        "source": f"{reference.CPCA_PACKAGE} {reference.CPCA_VERSION} resources/adcodes.csv",
        "version": f"{reference.CPCA_PACKAGE}=={reference.CPCA_VERSION}",
        "note": "retired codes are mapped to their successors (ref_region_code_changes) "
        "before aggregation",
    }


def _validate(folder: Path) -> dict[str, Any]:
    """Frictionless validation of the whole package, as stored in validation.json."""
    from frictionless import validate

    report = validate(str(folder / "datapackage.json"))
    errors: list[dict[str, Any]] = []
    for task in report.tasks:
        for err in task.errors[:20]:
            errors.append({"resource": task.name, "type": err.type, "message": err.message})
    for err in report.errors[:20]:
        errors.append({"resource": None, "type": err.type, "message": err.message})
    return {
        "valid": bool(report.valid),
        "validator": f"frictionless {metadata.version('frictionless')}",
        "validated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tasks": [
            {
                "resource": t.name,
                "valid": bool(t.valid),
                "rows": t.stats.get("rows"),
                "errors": t.stats.get("errors"),
            }
            for t in report.tasks
        ],
        "errors": errors,
    }


def _dcat(folder: Path, package: dict[str, Any]) -> dict[str, Any]:
    """A DCAT catalog (JSON-LD) that ckanext-dcat can harvest; URLs relative to the release."""
    distributions = []
    for res in package["resources"]:
        distributions.append(
            {
                "@id": res["path"],
                "@type": "dcat:Distribution",
                "dct:title": res["title"]
                + (" (Excel CSV)" if res["name"].endswith("-excel") else ""),
                "dct:format": res["format"].upper(),
                "dcat:mediaType": res["mediatype"],
                "dcat:downloadURL": {"@id": res["path"]},
                "dcat:accessURL": {"@id": res["path"]},
                "dcat:byteSize": {"@value": str(res["bytes"]), "@type": "xsd:nonNegativeInteger"},
                "spdx:checksum": {
                    "@type": "spdx:Checksum",
                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                    "spdx:checksumValue": res["hash"].split(":", 1)[1],
                },
                "dct:license": {"@id": LICENSE["path"]},
            }
        )
    temporal = package["temporalCoverage"]
    dataset = {
        "@id": f"#dataset-{package['version']}",
        "@type": "dcat:Dataset",
        "dct:identifier": package["id"],
        "dct:title": [
            {"@value": package["title_zh"], "@language": "zh"},
            {"@value": package["title"], "@language": "en"},
        ],
        "dct:description": [
            {"@value": package["description_zh"], "@language": "zh"},
            {"@value": package["description"], "@language": "en"},
        ],
        "owl:versionInfo": package["version"],
        "dct:issued": {"@value": package["created"], "@type": "xsd:dateTime"},
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": PUBLISHER},
        "dct:license": {"@id": LICENSE["path"]},
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": {"@value": temporal["start"], "@type": "xsd:date"},
            "dcat:endDate": {"@value": temporal["end"], "@type": "xsd:date"},
        },
        "dct:spatial": [
            {"@type": "dct:Location", "skos:notation": s["province_code"], "rdfs:label": s["name"]}
            for s in package["spatialCoverage"]
        ],
        "dcat:keyword": ["政务服务", "互联网+政务服务", "open data", "government services"],
        "dcat:distribution": distributions,
    }
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "owl": "http://www.w3.org/2002/07/owl#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@graph": [
            {
                "@id": "#catalog",
                "@type": "dcat:Catalog",
                "dct:title": "subjectdb open data / 政务服务开放数据",
                "dct:publisher": {"@type": "foaf:Organization", "foaf:name": PUBLISHER},
                "dct:license": {"@id": LICENSE["path"]},
                "dcat:dataset": [{"@id": dataset["@id"]}],
            },
            dataset,
        ],
    }


def _citation(package: dict[str, Any]) -> str:
    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    return "\n".join(
        [
            "cff-version: 1.2.0",
            "message: If you use these data, please cite them as below.",
            "type: dataset",
            f"title: {q(package['title'] + ' / ' + package['title_zh'])}",
            f"version: {q(package['version'])}",
            f"date-released: {q(package['created'][:10])}",
            "authors:",
            f"  - name: {q(PUBLISHER)}",
            f"license: {LICENSE['name']}",
            f"identifier: {q(package['id'])}"
            if not package["id"].startswith("urn:")
            else "identifiers:\n  - type: other\n    value: " + q(package["id"]),
            f"abstract: {q(package['description'])}",
            "keywords:",
            "  - government services",
            "  - open data",
            "  - statistical disclosure control",
            "",
        ]
    )


def _dictionary_md(package: dict[str, Any]) -> str:
    lines = [
        f"# 数据字典 / Data dictionary — {package['title']} {package['version']}",
        "",
        "Empty cells are missing values: the row's `*_status` column says why "
        "(`primary`, `secondary`, `small_population`; empty = published). "
        "`ALL` in a code column is the total over every value.",
        "",
    ]
    seen: set[str] = set()
    for res in package["resources"]:
        base = res["name"].removesuffix("-excel").removesuffix("-parquet")
        if base in seen:
            continue
        seen.add(base)
        spec = TABLE_BY_NAME[base]
        lines += [
            f"## `{base}` — {spec.title_zh}",
            "",
            f"*{spec.title_en}*",
            "",
            f"Grain: {spec.grain}.",
            "",
            spec.description_zh,
            "",
            spec.description_en,
            "",
            f"Files: `data/{base}.csv`, `data/excel/{base}.csv`, `data/{base}.parquet`.",
            "",
            "| field | type | description | constraints |",
            "|---|---|---|---|",
        ]
        for f in res["schema"]["fields"]:
            cons = ", ".join(f"{k}: {v}" for k, v in (f.get("constraints") or {}).items())
            desc = str(f.get("description", "")).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{f['name']}` | {f['type']} | {desc} | {cons.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def _markdown_html(title: str, markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return (
        '<!doctype html>\n<html lang="zh"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;"
        "vertical-align:top}code{background:#f4f4f4}</style></head><body>\n"
        f"{body}</body></html>\n"
    )


DISCLOSURE_MD = """\
### 披露控制 / Disclosure control

- **一级抑制 (primary)**：由少于 {threshold} 名不同申请人（人口表：少于 {threshold} 人）
  构成的单元格不发布。
  A cell built from fewer than {threshold} distinct applicants (population: persons) is
  suppressed. The threshold of this release is {threshold} (never below 5).
- **小人口 (small_population)**：分母少于 100 名常住人口（企业表：100 户存续企业）的比率不发布。
  A rate whose population (enterprises) is under 100 is withheld.
- **二级抑制 (secondary)**：所有表的所有可加关系（行列合计、区县→地市→省汇总、跨表共享的合计：
  数字鸿沟表与需求表、事项绩效与需求/企业表）组成一个线性方程组。先在每个恰有一个被抑制单元格
  （或其被抑制单元格的取值范围不足 1）的关系中再抑制最小的已发布单元格，迭代至不动点；再用线性规划
  逐一审计每个被抑制单元格，证明其在所有已发布方程且每个计数至少为 1 的条件下可行区间宽度至少为 1；
  否则继续补充抑制。比率、标化比等派生指标仅在其全部输入均已发布时发布。
  Every additive relation between published numbers of this release (row and column totals,
  county → prefecture → province roll-ups, margins shared between tables) forms one linear
  system. Complementary suppression is applied in every relation with exactly one suppressed
  cell, or whose suppressed cells have less than one unit of room (its smallest published cell
  is suppressed too), to a fixed point; then a linear programming audit proves, for every
  suppressed cell, that its feasible interval under all published equations, with every count
  at least 1 (rows exist only for positive counts), is at least one unit wide, adding
  suppressions until it is. Derived statistics (rates, ratios) are published only when all
  their inputs are.

Cells: {cells}; primary: {primary}; secondary: {secondary}; equations audited: {equations}.
"""


def _readme(package: dict[str, Any], stats: dict[str, Any], rows: dict[str, int]) -> str:
    table_lines = "\n".join(
        f"| `{t.name}` | {t.title_zh} | {t.title_en} | {rows[t.name]} |" for t in TABLES
    )
    cov = package["temporalCoverage"]
    return f"""# {package["title_zh"]} — {package["version"]}

# {package["title"]} — {package["version"]}

发布时间 / Created: {package["created"]} · 许可 / Licence: CC BY 4.0 ·
时间范围 / Period: {cov["start"]} – {cov["end"]} ·
区划代码 / Region codes: {package["region_code_list"]["version"]}

## 简介

{package["description_zh"]}

## About

{package["description"]}

## 表 / Tables

| table | 中文 | English | rows |
|---|---|---|---|
{table_lines}

每张表提供三种文件：`data/<表>.csv`（UTF-8）、`data/excel/<表>.csv`（带 BOM 的 UTF-8，
可直接用 Excel 打开）和 `data/<表>.parquet`（带类型）。字段说明见 `data-dictionary.md` /
`data-dictionary.html`，机器可读元数据见 `datapackage.json`，DCAT 目录见 `catalog.jsonld`。

Each table comes as `data/<table>.csv` (UTF-8), `data/excel/<table>.csv` (UTF-8 with BOM, opens
in Excel) and `data/<table>.parquet` (typed). Fields: `data-dictionary.md` / `.html`;
machine-readable metadata: `datapackage.json` (Frictionless Data Package v2); DCAT catalog:
`catalog.jsonld`; changes since the previous release: `CHANGELOG.md`.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR)
are prefixed with an apostrophe `'`.

{DISCLOSURE_MD.format(**stats)}
## 校验 / Validate

```
sha256sum -c SHA256SUMS
frictionless validate datapackage.json
```

The validation result at publication is stored in `validation.json`.

## 引用 / Cite

{PUBLISHER}. *{package["title"]}*, version {package["version"]} ({package["created"][:4]}).
Licensed CC BY 4.0. See `CITATION.cff`.
"""


# --------------------------------------------------------------------------- changelog


def _release_summary(folder: Path) -> dict[str, Any]:
    """Tables, columns and row counts of a release, from its datapackage.json."""
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    tables: dict[str, Any] = {}
    for res in package.get("resources", []):
        if res.get("format") != "csv" or res["name"].endswith("-excel"):
            continue
        tables[res["name"]] = {
            "columns": [f["name"] for f in res.get("schema", {}).get("fields", [])],
            "rows": res.get("x-rows"),
        }
    return {"version": package.get("version"), "tables": tables}


def _changelog(previous: Path | None, current: dict[str, Any]) -> tuple[dict[str, Any], str]:
    version = current["version"]
    if previous is None:
        data = {"version": version, "previous": None, "changes": "first release"}
        return data, f"# Changelog — {version}\n\nFirst release: no previous release.\n"
    prev = _release_summary(previous)
    cur_t, prev_t = current["tables"], prev["tables"]
    added = sorted(set(cur_t) - set(prev_t))
    removed = sorted(set(prev_t) - set(cur_t))
    changed: dict[str, Any] = {}
    for name in sorted(set(cur_t) & set(prev_t)):
        a, b = prev_t[name], cur_t[name]
        entry = {
            "columns_added": [c for c in b["columns"] if c not in a["columns"]],
            "columns_removed": [c for c in a["columns"] if c not in b["columns"]],
            "rows_before": a["rows"],
            "rows_after": b["rows"],
        }
        changed[name] = entry
    data = {
        "version": version,
        "previous": prev["version"],
        "tables_added": added,
        "tables_removed": removed,
        "tables": changed,
    }
    lines = [f"# Changelog — {version}", "", f"Compared with release {prev['version']}.", ""]
    lines.append(f"- Tables added: {', '.join(added) or 'none'}")
    lines.append(f"- Tables removed: {', '.join(removed) or 'none'}")
    lines += [
        "",
        "| table | rows before | rows after | columns added | columns removed |",
        "|---|---|---|---|---|",
    ]
    for name, e in changed.items():
        lines.append(
            f"| `{name}` | {e['rows_before']} | {e['rows_after']} | "
            f"{', '.join(e['columns_added']) or '–'} | {', '.join(e['columns_removed']) or '–'} |"
        )
    return data, "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- releases


def list_releases(paths: Paths) -> list[dict[str, Any]]:
    """Published releases, newest first: version, folder, created, size, validation."""
    out = []
    if not paths.releases.exists():
        return out
    for folder in paths.releases.iterdir():
        pkg = folder / "datapackage.json"
        if folder.name.startswith(".") or not pkg.is_file():
            continue
        package = json.loads(pkg.read_text(encoding="utf-8"))
        validation_file = folder / "validation.json"
        validation = (
            json.loads(validation_file.read_text(encoding="utf-8"))
            if validation_file.is_file()
            else None
        )
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        out.append(
            {
                "version": package.get("version", folder.name),
                "folder": folder,
                "created": package.get("created", ""),
                "package": package,
                "validation": validation,
                "files": files,
                "bytes": sum(p.stat().st_size for p in files),
            }
        )
    out.sort(key=lambda r: r["created"], reverse=True)
    return out


def latest_release(paths: Paths) -> Path | None:
    """The folder named by ``opendata/latest.json``, if any."""
    pointer = paths.opendata / "latest.json"
    if not pointer.is_file():
        return None
    data = json.loads(pointer.read_text(encoding="utf-8"))
    folder = paths.opendata / data["path"]
    return folder if folder.is_dir() else None


def _default_version(paths: Paths) -> str:
    today = dt.datetime.now(TZ).date()
    base = f"{today.year}.{today.month}.{today.day}"
    version, n = base, 1
    while (paths.releases / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def _write_latest(paths: Paths, version: str, created: str) -> None:
    pointer = paths.opendata / "latest.json"
    tmp = pointer.with_name(f".latest-{uuid.uuid4().hex}.json")
    tmp.write_text(
        json.dumps(
            {"version": version, "path": f"releases/{version}", "created": created}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    os.replace(tmp, pointer)


def publish(paths: Paths, version: str | None = None, threshold: int = 10) -> Path:
    """Publish a versioned, disclosure-controlled open-data release; returns its folder."""
    try:
        threshold = disclosure.check_threshold(threshold)
    except disclosure.DisclosureError as exc:
        raise PublishError(str(exc)) from exc
    if version is not None and (not VERSION_RE.match(version) or version == "latest"):
        raise PublishError(
            f"bad release version {version!r}: use letters, digits, '.', '_', '+', '-' "
            "(e.g. 2026.11.22 or 1.0.0)"
        )
    if version is not None and (paths.releases / version).exists():
        raise PublishError(
            f"release {version} already exists at {paths.releases / version}: releases are "
            "never overwritten; choose a new version"
        )
    con = _connect(paths)
    try:
        demand_cols, fact_cols = _check_tables(con, paths)
        build_id = _build_id(con)
        docs = ModelDocs.load(find_manifest(paths, build_id))
        tables, stats = _build_tables(con, threshold, demand_cols, fact_cols)
        coverage = _coverage(con)
    except disclosure.DisclosureError as exc:
        raise PublishError(f"disclosure control failed: {exc}") from exc
    except duckdb.Error as exc:
        raise PublishError(f"cannot read the warehouse {paths.warehouse}: {exc}") from exc
    finally:
        con.close()

    paths.releases.mkdir(parents=True, exist_ok=True)
    previous = latest_release(paths)
    version = version or _default_version(paths)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    work = paths.releases / f".incoming-{version}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        _assemble(work, tables, stats, docs, coverage, version, created, previous, build_id)
        target = paths.releases / version
        if target.exists():
            raise PublishError(f"release {version} already exists at {target}")
        try:
            os.rename(work, target)  # fails if another publish created it meanwhile
        except OSError as exc:
            raise PublishError(f"release {version} already exists at {target}: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _write_latest(paths, version, created)
    return target


def _assemble(
    work: Path,
    tables: dict[str, pd.DataFrame],
    stats: dict[str, Any],
    docs: ModelDocs,
    coverage: dict[str, Any],
    version: str,
    created: str,
    previous: Path | None,
    build_id: str | None,
) -> None:
    files = {name: _write_table(work, name, df) for name, df in tables.items()}
    rows = {name: len(df) for name, df in tables.items()}
    resources = _resources(work, files, docs)
    for res in resources:
        base = res["name"].removesuffix("-excel").removesuffix("-parquet")
        res["x-rows"] = rows[base]
    package: dict[str, Any] = {
        "$schema": DATAPACKAGE_PROFILE,
        "name": "subjectdb-government-services-open-data",
        "id": f"urn:subjectdb:opendata:{version}",
        "title": "Internet+ government services: demand and performance open data",
        "title_zh": "互联网+政务服务需求与绩效开放数据",
        "description": (
            "Aggregated, disclosure-controlled tables of demand for government services "
            "(administrative approval cases), service performance, enterprise demand, the "
            "digital divide and the resident population, from the subjectdb warehouse."
        ),
        "description_zh": "政务服务办件需求、办理绩效、企业需求、数字鸿沟与常住人口的汇总开放数据，"
        "已做统计披露控制。",
        "version": version,
        "created": created,
        "licenses": [LICENSE],
        "sources": [
            {
                "title": "行政审批办件 / administrative approval cases (subjectdb warehouse)",
                "path": "marts.subj_applicant_demand, marts.subj_service_performance, "
                "marts.subj_processing_time, marts.subj_demand_standardised",
            },
            {"title": "人口基础库 / population register", "path": "marts.subj_population_pyramid"},
            {
                "title": "法人/企业基础库 / enterprise register",
                "path": "marts.subj_enterprise_population",
            },
        ],
        "contributors": [{"title": PUBLISHER, "roles": ["publisher"]}],
        "keywords": ["政务服务", "open data", "government services", "disclosure control"],
        "temporalCoverage": coverage["temporal"],
        "spatialCoverage": coverage["spatial"],
        "region_code_list": _region_code_list(),
        "disclosure_control": {
            "threshold": stats["threshold"],
            "min_rate_population": disclosure.MIN_RATE_POPULATION,
            "min_interval": disclosure.MIN_INTERVAL,
            "method": "primary threshold + hierarchical complementary suppression across all "
            "tables, audited by linear programming (see README.md)",
            **{k: stats[k] for k in ("cells", "primary", "secondary", "equations")},
        },
        "dbt": {
            "manifest_generated_at": docs.generated_at,
            "dbt_version": docs.dbt_version,
            "warehouse_build_id": build_id,
        },
        "resources": resources,
    }
    (work / "datapackage.json").write_text(
        json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    validation = _validate(work)
    if not validation["valid"]:
        first = "; ".join(f"{e['resource']}: {e['message']}" for e in validation["errors"][:3])
        raise PublishError(f"the release does not pass frictionless validation: {first}")
    (work / "validation.json").write_text(json.dumps(validation, indent=2) + "\n", encoding="utf-8")
    readme = _readme(package, stats, rows)
    (work / "README.md").write_text(readme, encoding="utf-8")
    dictionary = _dictionary_md(package)
    (work / "data-dictionary.md").write_text(dictionary, encoding="utf-8")
    (work / "data-dictionary.html").write_text(
        _markdown_html(f"Data dictionary {version}", dictionary), encoding="utf-8"
    )
    (work / "CITATION.cff").write_text(_citation(package), encoding="utf-8")
    (work / "catalog.jsonld").write_text(
        json.dumps(_dcat(work, package), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    current = {
        "version": version,
        "tables": {
            name: {"columns": list(df.columns), "rows": len(df)} for name, df in tables.items()
        },
    }
    change_data, change_md = _changelog(previous, current)
    (work / "CHANGELOG.md").write_text(change_md, encoding="utf-8")
    (work / "changelog.json").write_text(json.dumps(change_data, indent=2) + "\n", encoding="utf-8")
    sums = [
        f"{_sha256(p)}  {_relative(work, p)}"
        for p in sorted(work.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    (work / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
