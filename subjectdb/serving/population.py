"""The population pyramid: mid-year residents by 5-year band and sex
(``subj_population_pyramid``)."""

from __future__ import annotations

from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.filters import Filters, Result, Where, region_cond


def population_pyramid(wh: Warehouse, f: Filters) -> Result:
    """Mid-year residents by 5-year band and sex (year of the period's end)."""
    year = f.month_to.year
    w = Where()
    w.add("p.year = ?", year)
    region_cond(w, f, "p")
    w.any_of("p.age_group_code", f.age_groups)
    sql = f"""
        SELECT p.band_code AS band, p.age_group_code AS age_group, p.sex,
               sum(p.population) AS population
        FROM {DB}.marts.subj_population_pyramid p
        WHERE {w.sql()}
        GROUP BY 1, 2, 3, p.band_order ORDER BY p.band_order, p.sex
    """
    return Result(wh.df(sql, w.params), "subj_population_pyramid")
