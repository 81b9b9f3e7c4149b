"""Reference labels and the bounds of the served data, read once per served build.

Code → zh/en name tables of every dimension the dashboard filters or shows (from the
dimensions and reference seeds; no personal data), the months with demand, and the regions
with residents or demand.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from subjectdb.serving.connection import DB, Warehouse, WarehouseUnavailable


def labels(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Code → zh/en name tables from the reference seeds (no personal data).

    Read once per served build (copies are returned).
    """
    tables: dict[str, pd.DataFrame] = wh.memo("labels", _labels)
    return {name: df.copy() for name, df in tables.items()}


def _labels(wh: Warehouse) -> dict[str, pd.DataFrame]:
    q = {
        "region": "SELECT region_code AS code, region_name AS name_zh, region_name AS name_en, "
        "level, parent_code, prefecture_code, province_code, urban_rural "
        f"FROM {DB}.marts.dim_region",
        "age_group": "SELECT age_group_code AS code, name_zh, name_en, group_order "
        f"FROM {DB}.marts.dim_age_group ORDER BY group_order",
        "category": "SELECT category_code AS code, category_name_zh AS name_zh, "
        f"category_name_en AS name_en FROM {DB}.reference.ref_service_categories "
        "ORDER BY category_code",
        "theme": "SELECT theme_code AS code, theme_name_zh AS name_zh, theme_name_en AS name_en, "
        f"applicant_type FROM {DB}.reference.ref_life_event_themes",
        "channel": "SELECT channel_code AS code, channel_name_zh AS name_zh, "
        f"channel_name_en AS name_en, is_online FROM {DB}.marts.dim_channel",
        "industry": "SELECT industry_section AS code, name_zh, name_en "
        f"FROM {DB}.reference.ref_industries ORDER BY industry_section",
        "size_class": "SELECT value_code AS code, value_zh AS name_zh, value_en AS name_en "
        f"FROM {DB}.reference.ref_enterprise_enums WHERE enum = 'size_class'",
        "item": "SELECT item_code AS code, item_name_zh AS name_zh, item_name_en AS name_en, "
        "category_code, theme_code, department, applicant_type, promised_days "
        f"FROM {DB}.marts.dim_service_item",
    }
    out = {name: wh.df(sql) for name, sql in q.items()}
    out["applicant_type"] = pd.DataFrame(
        {
            "code": ["person", "enterprise"],
            "name_zh": ["自然人", "法人"],
            "name_en": ["Natural person", "Legal person"],
        }
    )
    out["urban_rural"] = pd.DataFrame(
        {"code": ["urban", "rural"], "name_zh": ["城区", "农村县域"], "name_en": ["Urban", "Rural"]}
    )
    return out


def period_bounds(wh: Warehouse) -> tuple[date, date]:
    """First and last month with demand in the warehouse (read once per served build)."""
    return wh.memo("period_bounds", _period_bounds)  # type: ignore[no-any-return]


def _period_bounds(wh: Warehouse) -> tuple[date, date]:
    row = wh.df(f"SELECT min(month) AS a, max(month) AS b FROM {DB}.marts.subj_applicant_demand")
    a, b = row.iloc[0]["a"], row.iloc[0]["b"]
    if pd.isna(a):
        raise WarehouseUnavailable("the warehouse holds no demand (subj_applicant_demand is empty)")
    return pd.Timestamp(a).date(), pd.Timestamp(b).date()


def regions_present(wh: Warehouse) -> pd.DataFrame:
    """Counties (with prefecture and province) that have residents or demand (read once per
    served build; a copy is returned)."""
    df: pd.DataFrame = wh.memo("regions_present", _regions_present)
    return df.copy()


def _regions_present(wh: Warehouse) -> pd.DataFrame:
    return wh.df(f"""
        SELECT DISTINCT region_code AS county, prefecture_code AS prefecture,
               province_code AS province
        FROM (SELECT region_code, prefecture_code, province_code FROM {DB}.marts.subj_population
              UNION ALL
              SELECT region_code, prefecture_code, province_code
              FROM {DB}.marts.subj_demand_standardised)
        WHERE region_code IS NOT NULL ORDER BY 1
    """)
