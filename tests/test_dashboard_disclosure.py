"""The dashboard and the open-data release apply one suppression rule on exact counts.

On the published sample (``published_sample``: built and published once per session), every
item-year cell the dashboard's serving functions show is one the release publishes, with the
same numbers, and every cell the release suppresses (primary or complementary) is suppressed
on the dashboard; item, department and item × department rows are decided on their exact
distinct applicants (counted here from the case fact); and the 服务类型 / 办理绩效 queries
return numbers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from subjectdb.config import Paths
from subjectdb.release import disclosure, latest_release
from subjectdb.release.specs import ROUNDING
from subjectdb.serving import queries
from subjectdb.serving.queries import Filters, Warehouse
from subjectdb.serving.released import released_suppressed_items


@pytest.fixture(scope="module")
def wh(published_sample: Paths):
    w = Warehouse(published_sample.warehouse)
    yield w
    w.close()


@pytest.fixture(scope="module")
def release(published_sample: Paths) -> pd.DataFrame:
    folder = latest_release(published_sample)
    assert folder is not None
    return pd.read_parquet(folder / "data" / "service_performance.parquet")


def _exact(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{path.as_posix()}' AS wh (READ_ONLY)")
        return con.execute(sql).df()
    finally:
        con.close()


def _year(y: int) -> Filters:
    return Filters(date(y, 1, 1), date(y, 12, 1))


# rate on the dashboard → the release's status column for it
RATE_STATUS = {
    "on_time_rate": "processing_status",
    "zero_visit_rate": "visit_status",
    "max_one_visit_rate": "visit_status",
    "satisfaction_rate": "rating_status",
    "bad_review_rate": "rating_status",
}


def test_cell_rule_is_one_function() -> None:
    # fewer than 10 applicants, a count under 10 or no count at all: suppressed
    got = disclosure.cell_suppressed([9, 10, 10, np.nan, 50], [40, 10, 9, 40, 50])
    assert got.tolist() == [True, False, True, True, False]
    assert disclosure.small_count([0, 1, 9, 10, np.nan]).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert disclosure.rate_withheld([99, 100, np.nan]).tolist() == [True, False, True]
    with pytest.raises(disclosure.DisclosureError):
        disclosure.cell_suppressed(20, 20, threshold=4)


def test_dashboard_and_release_agree_on_every_item_year_cell(
    wh: Warehouse, release: pd.DataFrame
) -> None:
    years = sorted(int(y) for y in release["year"].unique())
    assert years
    checked = 0
    for y in years:
        rel = release[release["year"] == y].set_index("item_code")
        published = rel["status"].fillna("") == ""
        for name, data in (
            ("items_demand", queries.items_demand(wh, _year(y)).data),
            ("performance_by", queries.performance_by(wh, _year(y), "item").data),
        ):
            d = data.set_index("item")
            # the same items (the release has one row per item with cases in the year)
            assert set(d.index) == set(rel.index), name
            d = d.loc[rel.index]
            shown = ~d["suppressed"].to_numpy(dtype=bool)
            assert (shown == published.to_numpy()).all(), (
                f"{name} {y}: dashboard shows {sorted(rel.index[shown & ~published])} the "
                f"release suppresses, hides {sorted(rel.index[~shown & published])} it publishes"
            )
            assert (d.loc[shown, "cases"] == rel.loc[shown, "cases"].astype(float)).all()
            checked += len(d)
            if name != "performance_by":
                continue
            for col in ("completed_cases", "rated_cases"):
                hidden_rel = rel[f"{col}_status"].fillna("") != ""
                hidden_dash = d[col].isna().to_numpy()
                assert (hidden_dash[shown] == hidden_rel.to_numpy()[shown]).all(), (y, col)
            for rate, status in RATE_STATUS.items():
                rel_rate = rel[rate].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
                dash_rate = d[rate].to_numpy(dtype="float64")
                hidden_rel = rel[status].fillna("").to_numpy() != ""
                both = shown & ~hidden_rel
                assert np.array_equal(np.isnan(dash_rate[shown]), np.isnan(rel_rate[shown])), (
                    y,
                    rate,
                )
                ok = both & ~np.isnan(rel_rate)
                assert np.allclose(
                    np.round(dash_rate[ok], ROUNDING[rate]), rel_rate[ok], atol=1e-9
                ), (y, rate)
    assert checked == 2 * len(release)


def test_rows_are_decided_on_exact_distinct_applicants(
    wh: Warehouse, published_sample: Paths, release: pd.DataFrame
) -> None:
    y = int(release["year"].max())
    exact = _exact(
        published_sample.warehouse,
        f"""select item_code as item, dept_name as department, dept_region_code as
                department_region, count(distinct applicant_key) as n, count(*) as cases
            from wh.marts.fct_service_cases where submitted_year = {y}
            group by grouping sets ((item_code), (dept_name, dept_region_code),
                                    (item_code, dept_name, dept_region_code))""",
    )
    released = released_suppressed_items(wh).get(y, frozenset())
    for by, keys in (
        ("item", ["item"]),
        ("department", ["department", "department_region"]),
        ("item_department", ["item", "department", "department_region"]),
    ):
        d = queries.performance_by(wh, _year(y), by).data
        ref = exact.dropna(subset=keys)
        others = [c for c in ("item", "department", "department_region") if c not in keys]
        ref = ref[ref[others].isna().all(axis=1)] if others else ref
        m = d.merge(ref[[*keys, "n", "cases"]], on=keys, how="outer", suffixes=("", "_x"))
        assert len(m) == len(d) == len(ref), by
        small = (m["n"] < queries.THRESHOLD).to_numpy()
        follows_release = m["item"].isin(released).to_numpy() if "item" in m else False
        expected = small | follows_release
        assert (m["suppressed"].to_numpy() == expected).all(), by
        shown = ~m["suppressed"]
        assert (m.loc[shown, "distinct_applicants"] == m.loc[shown, "n"]).all(), by
        assert (m.loc[shown, "cases"] == m.loc[shown, "cases_x"]).all(), by
        if by == "item":
            # complementary suppressions of the release: enough applicants, still withheld
            assert (follows_release & ~small).any(), "the sample should have some to follow"


def test_service_type_and_performance_queries_return_numbers(
    wh: Warehouse, release: pd.DataFrame
) -> None:
    y = int(release["year"].max())
    f = _year(y)
    items = queries.items_demand(wh, f).data
    assert (~items["suppressed"]).sum() >= 100  # 230 items in the catalog
    assert items.loc[~items["suppressed"], "cases"].gt(0).all()
    grown = items["growth"].notna()
    assert grown.any() and not (grown & items["suppressed"]).any()
    for by in ("item", "department", "month", "county"):
        d = queries.performance_by(wh, f, by).data
        shown = d[~d["suppressed"]]
        assert len(shown) > 0 and shown["cases"].ge(queries.THRESHOLD).all(), by
        if by != "department":  # few departments have 100 completed cases on the sample
            assert shown["on_time_rate"].between(0, 1).any(), by
        # a rate on fewer than 100 of its denominator is withheld, and said so
        few = shown["completed_cases"].fillna(0) < 100
        assert shown.loc[few, "on_time_rate"].isna().all(), by
        some = shown["completed_cases"].gt(0) | shown["completed_cases_withheld"]
        assert (shown["on_time_rate_withheld"] == (few & some)).all(), by
    s = queries.performance_summary(wh, f).data.iloc[0]
    assert not s["suppressed"] and 0 < s["on_time_rate"] <= 1
    assert s["distinct_applicants"] > 0 and 0 < s["late_cases"] < s["completed_cases"]
