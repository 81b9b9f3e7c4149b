"""County age-standardised demand rates and standardised demand ratios (from
``subj_demand_standardised``), with exact distinct applicants for suppression."""

from __future__ import annotations

from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.demand import DASH, distinct_applicants_sql, load_codes
from subjectdb.serving.filters import Filters, Result, Where, region_cond
from subjectdb.serving.suppression import suppress


def standardised(wh: Warehouse, f: Filters, year: int, theme: str = "ALL") -> Result:
    """County age-standardised rates and standardised demand ratios for one year and theme.

    Counties inside the region filter; distinct applicants (natural persons, that year and
    theme, all counties) decide suppression.
    """
    w = Where()
    w.add("s.year = ?", year)
    w.add("s.theme_code = ?", theme)
    region_cond(w, f, "s")
    codes = load_codes(wh)
    aw = Where()
    aw.add("d.year = ?", year)
    aw.add("d.applicant_type_id = ?", codes.id("applicant_type", "person"))
    if theme != "ALL":
        aw.add("d.theme_id = ?", codes.id("theme", theme))
    if f.region:
        aw.add("(? IN (d.county_id, d.prefecture_id, d.province_id))", codes.id("region", f.region))
    distinct = distinct_applicants_sql(codes, codes.size("region"))
    sql = f"""
        WITH n AS (
            SELECT c.code AS region_code, g.distinct_applicants
            FROM (
                SELECT d.county_id, {distinct} AS distinct_applicants
                FROM {DASH} d WHERE {aw.sql()} GROUP BY 1
            ) g
            JOIN {DB}.marts.dash_codes c ON c.dim = 'region' AND c.code_id = g.county_id
        )
        SELECT s.region_code AS county, s.prefecture_code AS prefecture, s.cases, s.population,
               s.crude_rate, s.age_standardised_rate, s.expected_cases, s.standardised_ratio,
               s.ratio_ci_low, s.ratio_ci_high, coalesce(n.distinct_applicants, 0)
                 AS distinct_applicants
        FROM {DB}.marts.subj_demand_standardised s
        LEFT JOIN n ON n.region_code = s.region_code
        WHERE {w.sql()}
        ORDER BY s.age_standardised_rate NULLS LAST
    """
    df = wh.df(sql, aw.params + w.params)
    df = suppress(
        df,
        [
            "cases",
            "crude_rate",
            "age_standardised_rate",
            "expected_cases",
            "standardised_ratio",
            "ratio_ci_low",
            "ratio_ci_high",
        ],
    )
    ignored = tuple(
        x for x in f.active() if x in ("age_group", "category", "applicant_type", "channel")
    )
    if len(f.themes) > 1:
        ignored += ("theme",)
    return Result(df, "subj_demand_standardised", ignored=ignored)


def standardised_years(wh: Warehouse) -> list[int]:
    df = wh.df(f"SELECT DISTINCT year FROM {DB}.marts.subj_demand_standardised ORDER BY 1")
    return [int(y) for y in df["year"]]
