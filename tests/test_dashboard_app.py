"""The planners' dashboard: queries, disclosure control, safe CSV, boundaries, i18n, URL state,
audit log, rebuild pick-up, and every page rendered by Streamlit's AppTest in both languages
with filters set and cleared — on the warehouse built from the generated sample."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dashboards.pages import BY_STEM
from dashboards.pages import PAGES as REGISTRY
from dashboards.support import Labels, audit, definition, display_frame, safe_csv
from subjectdb import metrics
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.i18n import STRINGS, t
from subjectdb.serving import demand as demand_module
from subjectdb.serving import geo, queries
from subjectdb.serving.queries import Filters, Warehouse

APP = PROJECT_DIR / "dashboards" / "app.py"
PAGES = [p.stem for p in REGISTRY]


# --------------------------------------------------------------------------- no warehouse


def test_safe_csv_neutralises_formulas_and_keeps_numbers() -> None:
    df = pd.DataFrame(
        {
            "name": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "正常", "<10"],
            "value": [-1.5, 2, 3, -4, 5, 6, 7, 8],
        }
    )
    raw = safe_csv(df)
    assert raw.startswith("\ufeff".encode())  # BOM: spreadsheets read UTF-8 Chinese
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["name", "value"]
    names = [r[0] for r in rows[1:]]
    assert names[:6] == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx"]
    assert names[6:] == ["正常", "<10"]
    assert [r[1] for r in rows[1:3]] == ["-1.5", "2.0"]  # numbers untouched, minus kept
    for cell in (c for r in rows[1:] for c in r[:1]):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_filters_previous_period_has_equal_length() -> None:
    f = Filters(date(2025, 1, 1), date(2025, 12, 1))
    assert (f.previous().month_from, f.previous().month_to) == (date(2024, 1, 1), date(2024, 12, 1))
    g = Filters(date(2025, 2, 1), date(2025, 4, 1))
    assert (g.previous().month_from, g.previous().month_to) == (date(2024, 11, 1), date(2025, 1, 1))
    assert g.previous().months == g.months == 3
    with pytest.raises(ValueError, match="before it starts"):
        Filters(date(2025, 5, 1), date(2025, 4, 1))


def test_suppress_nulls_small_cells() -> None:
    df = pd.DataFrame(
        {
            "cases": [50, 12, 3],
            "distinct_applicants": [40, 9, None],
            "online_share": [0.5, 0.2, 0.1],
        }
    )
    out = queries.suppress(df, ["cases", "online_share"])
    assert out["suppressed"].tolist() == [False, True, True]
    assert out.loc[1, ["cases", "online_share", "distinct_applicants"]].isna().all()
    assert out.loc[0, "cases"] == 50


def test_zhejiang_boundaries_simplified(tmp_path: Path) -> None:
    seeds = pd.read_csv(PROJECT_DIR / "seeds" / "ref_regions.csv", dtype=str)
    counties = seeds[(seeds["province_code"] == "330000") & (seeds["level"] == "county")]
    gj = geo.boundaries(counties["region_code"], "county", tmp_path)
    assert len(counties) == 90
    assert {f["id"] for f in gj["features"]} == set(counties["region_code"])
    assert gj["missing"] == []
    cached = list(tmp_path.glob("county-*.geojson"))
    assert len(cached) == 1
    assert cached[0].stat().st_size < 250_000  # ~110 kB at 0.01°, not the 10 MB source
    # the cached file is served next time, identical
    assert geo.boundaries(counties["region_code"], "county", tmp_path) == gj
    prefs = seeds[(seeds["province_code"] == "330000") & (seeds["level"] == "prefecture")]
    pj = geo.boundaries(prefs["region_code"], "prefecture", tmp_path)
    assert len(pj["features"]) == 11


def test_every_string_has_both_languages_and_every_key_used_exists() -> None:
    for key, (zh, en) in STRINGS.items():
        assert zh.strip() and en.strip(), key
    used: set[str] = set()
    for path in (PROJECT_DIR / "dashboards").rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z]+\.[a-z_0-9]+)["']""", src))
    missing = sorted(k for k in used if k not in STRINGS)
    assert not missing, f"strings used but not defined: {missing}"
    assert t("m.cases", "zh") == "办件量" and t("m.cases", "en") == "Cases"


def test_audit_log_appends_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "access.jsonl"
    f = Filters(date(2025, 1, 1), date(2025, 3, 1), themes=("pension",))
    rec = {"month_from": f.month_from, "themes": f.themes}
    threads = [
        threading.Thread(
            target=audit,
            args=(log,),
            kwargs={
                "session": f"s{i}",
                "event": "download",
                "page": "map",
                "filters": rec,
                "rows": i,
            },
        )
        for i in range(20)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 20
    assert {x["rows"] for x in lines} == set(range(20))
    assert lines[0]["filters"] == {"month_from": "2025-01-01", "themes": ["pension"]}
    assert {"time", "session", "event", "page", "filters"} <= set(lines[0])


def test_definitions_come_from_the_model_docs() -> None:
    text, source = definition("subj_demand_standardised", "standardised_ratio")
    assert text and source
    assert "standardis" in text.lower()


# --------------------------------------------------------------------------- built warehouse


@pytest.fixture(scope="module")
def dash_data(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A private copy of the built data folder (the dashboard writes its audit log there)."""
    dst = tmp_path_factory.mktemp("dash") / "data"
    shutil.copytree(built.root, dst)
    return Paths(dst)


@pytest.fixture(scope="module")
def wh(dash_data: Paths) -> Warehouse:
    w = Warehouse(dash_data.warehouse)
    yield w
    w.close()


def _direct(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _year(wh: Warehouse) -> int:
    return queries.period_bounds(wh)[1].year


def test_demand_matches_a_direct_query(wh: Warehouse, dash_data: Paths) -> None:
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 12, 1))
    total = queries.demand(wh, f).data.iloc[0]
    ((cases, distinct),) = _direct(
        dash_data.warehouse,
        "SELECT sum(cases), count(DISTINCT applicant_key) FROM marts.subj_applicant_demand "
        "WHERE year = ?",
        [y],
    )
    ((svc_cases,),) = _direct(
        dash_data.warehouse, "SELECT sum(cases) FROM marts.subj_service_demand WHERE year = ?", [y]
    )
    assert total["cases"] == cases == svc_cases
    assert total["distinct_applicants"] == distinct
    ((online,),) = _direct(
        dash_data.warehouse,
        "SELECT sum(cases) FILTER (WHERE channel_code IN ('web', 'app')) / sum(cases) "
        "FROM marts.subj_service_demand WHERE year = ?",
        [y],
    )
    assert total["online_share"] == pytest.approx(online)
    # rate per 1,000 over a calendar year = person cases / mid-year residents
    ((pc, pop),) = _direct(
        dash_data.warehouse,
        "SELECT (SELECT sum(cases) FROM marts.subj_service_demand WHERE year = ? "
        "AND applicant_type = 'person'), (SELECT sum(population) FROM marts.subj_population "
        "WHERE year = ?)",
        [y, y],
    )
    assert total["rate_per_1000"] == pytest.approx(pc * 1000 / pop)


def test_demand_by_county_suppresses_small_cells_exactly(wh: Warehouse, dash_data: Paths) -> None:
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 12, 1))
    df = queries.demand(wh, f, ("county", "age_group")).data
    exact = pd.DataFrame(
        _direct(
            dash_data.warehouse,
            "SELECT region_code, age_group_code, count(DISTINCT applicant_key), sum(cases) "
            "FROM marts.subj_applicant_demand WHERE year = ? GROUP BY 1, 2",
            [y],
        ),
        columns=["county", "age_group", "n", "cases"],
    )
    m = df.merge(exact, on=["county", "age_group"], validate="one_to_one")
    assert len(m) == len(exact) > 0
    small = m["n"] < queries.THRESHOLD
    assert small.any() and (~small).any(), "the sample should have cells on both sides"
    assert m.loc[small, "suppressed"].all() and not m.loc[~small, "suppressed"].any()
    assert m.loc[small, ["cases_x", "distinct_applicants", "rate_per_1000"]].isna().all().all()
    assert (m.loc[~small, "cases_x"] == m.loc[~small, "cases_y"]).all()
    assert (m.loc[~small, "distinct_applicants"] == m.loc[~small, "n"]).all()


def test_filter_values_are_parameters_not_sql(wh: Warehouse) -> None:
    y = _year(wh)
    evil = "330000') OR 1=1 --"
    f = Filters(date(y, 1, 1), date(y, 12, 1), region=evil, themes=("x' OR '1'='1",))
    assert queries.demand(wh, f, ("county",)).data.empty
    assert queries.performance_by(wh, f, "item").data.empty


def test_every_query_answers_on_the_built_warehouse(wh: Warehouse) -> None:
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 12, 1))
    labels = queries.labels(wh)
    assert {"region", "theme", "channel", "age_group", "item"} <= set(labels)
    assert not queries.kpis(wh, f).data.empty
    std = queries.standardised(wh, f, y, "pension").data
    assert not std.empty and std["county"].str.len().eq(6).all()
    shown = std[~std["suppressed"]]
    assert (shown["ratio_ci_low"] <= shown["standardised_ratio"]).all()
    assert not queries.population_pyramid(wh, f).data.empty
    assert not queries.performance_summary(wh, f).data.empty
    assert not queries.processing_time(wh, f).data.empty
    q = queries.processing_quantiles(wh, f).data.iloc[0]
    assert q["suppressed"] or q["median_working_days"] <= q["p90_working_days"]
    assert not queries.items_demand(wh, f).data.empty
    ent = queries.enterprise_demand(wh, f, ("industry",)).data
    assert not ent.empty
    # enterprise cases equal the legal-person cases of the year
    d = queries.demand(wh, replace(f, applicant_types=("enterprise",))).data.iloc[0]
    assert ent["cases"].sum() <= d["cases"]
    assert ent["cases"].fillna(0).sum() + ent.loc[ent["suppressed"], "cases"].isna().sum() > 0


def test_display_frame_marks_suppressed_cells(wh: Warehouse) -> None:
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 1, 1), age_groups=("75+",))
    df = queries.demand(wh, f, ("county", "theme")).data
    assert df["suppressed"].any()
    table = display_frame(
        df, Labels(queries.labels(wh), "zh"), ("county", "theme"), ("cases", "rate_per_1000"), "zh"
    )
    col = table[t("m.cases", "zh")]
    assert (col[df["suppressed"].to_numpy()] == "<10").all()
    body = safe_csv(table).decode("utf-8-sig")
    assert "<10" in body


def test_serving_table_holds_exactly_the_subject_rows(dash_data: Paths) -> None:
    """dash_applicant_demand decoded through dash_codes is subj_applicant_demand, row for row."""
    ids = " ".join(
        f"JOIN marts.dash_codes {c} ON {c}.dim = '{dim}' AND {c}.code_id = d.{col}"
        for c, dim, col in (
            ("r", "region", "county_id"),
            ("p", "region", "prefecture_id"),
            ("a", "age_group", "age_group_id"),
            ("k", "category", "category_id"),
            ("t", "theme", "theme_id"),
            ("y", "applicant_type", "applicant_type_id"),
            ("h", "channel", "channel_id"),
            ("i", "industry", "industry_id"),
            ("s", "size_class", "size_class_id"),
        )
    )
    decoded = (
        "SELECT d.month, r.code, p.code, a.code, k.code, t.code, y.code, h.code, i.code, s.code, "
        f"d.is_online, count(*), sum(d.cases), count(DISTINCT d.applicant_seq) "
        f"FROM marts.dash_applicant_demand d {ids} GROUP BY ALL"
    )
    subject = (
        "SELECT s.month, region_code, prefecture_code, age_group_code, category_code, theme_code, "
        "applicant_type, s.channel_code, industry_section, size_class, c.is_online, count(*), "
        "sum(cases), count(DISTINCT applicant_key) FROM marts.subj_applicant_demand s "
        "JOIN marts.dim_channel c ON c.channel_code = s.channel_code GROUP BY ALL"
    )
    ((n_dash, n_subj, seq_max, keys),) = _direct(
        dash_data.warehouse,
        "SELECT (SELECT count(*) FROM marts.dash_applicant_demand), "
        "(SELECT count(*) FROM marts.subj_applicant_demand), "
        "(SELECT max(applicant_seq) FROM marts.dash_applicant_demand), "
        "(SELECT count(DISTINCT applicant_key) FROM marts.subj_applicant_demand)",
    )
    assert n_dash == n_subj > 0
    assert seq_max == keys - 1  # dense numbering 0 … n-1
    assert _direct(dash_data.warehouse, f"({decoded}) EXCEPT ALL ({subject})") == []
    assert _direct(dash_data.warehouse, f"({subject}) EXCEPT ALL ({decoded})") == []


def test_stable_numbers_with_gaps_give_the_same_answers(
    wh: Warehouse, dash_data: Paths, tmp_path: Path
) -> None:
    """After incremental builds the serving tables' numbers are stable, not fresh: applicants
    whose cases went away keep their numbers (gaps below max(applicant_seq)) and new codes get
    the next ids (not in code order). Every count stays the same as on a fresh numbering."""
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 12, 1))
    calls = [
        lambda w: queries.demand(w, f, ("county", "age_group")).data,
        lambda w: queries.demand(w, replace(f, month_from=date(y - 1, 1, 1)), ("month",)).data,
        lambda w: queries.demand(w, replace(f, channels=("web", "app")), ("channel",)).data,
        lambda w: queries.enterprise_demand(w, f, ("industry",)).data,
    ]
    fresh = [c(wh) for c in calls]
    renumbered = tmp_path / "warehouse.duckdb"
    shutil.copy(dash_data.warehouse, renumbered)
    con = duckdb.connect(str(renumbered))
    try:
        # every other applicant number unused (as if those keys had lost all their cases),
        # and the channel and age group ids reversed (as if appended by later builds)
        for table in ("dash_applicant_ids", "dash_applicant_demand"):
            con.execute(f"UPDATE marts.{table} SET applicant_seq = 2 * applicant_seq + 1")
        con.execute(
            "INSERT INTO marts.dash_applicant_ids BY NAME "
            "SELECT 'gone-' || s AS applicant_key, 2 * s AS applicant_seq "
            "FROM range(0, (SELECT max(applicant_seq) FROM marts.dash_applicant_ids) // 2 + 1) "
            "AS t(s)"
        )
        for dim, col in (("channel", "channel_id"), ("age_group", "age_group_id")):
            (n,) = con.execute(
                "SELECT count(*) FROM marts.dash_codes WHERE dim = ?", [dim]
            ).fetchone()
            con.execute(
                f"UPDATE marts.dash_codes SET code_id = {n + 1} - code_id WHERE dim = ?", [dim]
            )
            con.execute(f"UPDATE marts.dash_applicant_demand SET {col} = {n + 1} - {col}")
    finally:
        con.close()
    w = Warehouse(renumbered)
    try:
        for a, b in zip(fresh, [c(w) for c in calls], strict=True):
            pd.testing.assert_frame_equal(a, b)
    finally:
        w.close()


def test_bitmap_and_hashed_distinct_counts_agree(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    y = _year(wh)
    f = Filters(date(y, 1, 1), date(y, 12, 1))
    ef = replace(f, month_from=date(y - 1, 1, 1))
    calls = [
        lambda: queries.demand(wh, f, ("county", "age_group")).data,
        lambda: queries.demand(wh, ef, ("month",)).data,
        lambda: queries.demand(wh, replace(f, channels=("web", "app"))).data,
        lambda: queries.standardised(wh, f, y, "ALL").data,
        lambda: queries.enterprise_demand(wh, f, ("industry",)).data,
    ]
    queries.demand(wh, f)  # the build's ids are read once, before counting statements
    sql: list[str] = []
    real = Warehouse.df

    def spy(self: Warehouse, q: str, params: list | None = None) -> pd.DataFrame:
        sql.append(q)
        return real(self, q, params)

    monkeypatch.setattr(Warehouse, "df", spy)
    monkeypatch.setattr(demand_module, "BITMAP_BUDGET_BYTES", 2**40)
    bitmap = [c() for c in calls]
    assert all("bitstring_agg" in q for q in sql)
    sql.clear()
    monkeypatch.setattr(demand_module, "BITMAP_BUDGET_BYTES", 0)
    hashed = [c() for c in calls]
    assert not any("bitstring_agg" in q for q in sql)
    for a, b in zip(bitmap, hashed, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_missing_serving_tables_give_a_clear_error(dash_data: Paths, tmp_path: Path) -> None:
    old = tmp_path / "warehouse.duckdb"
    shutil.copy(dash_data.warehouse, old)
    con = duckdb.connect(str(old))
    con.execute("DROP TABLE marts.dash_applicant_demand")
    con.close()
    w = Warehouse(old)
    try:
        y = _year(w)
        with pytest.raises(queries.WarehouseUnavailable, match="dash_applicant_demand"):
            queries.demand(w, Filters(date(y, 1, 1), date(y, 12, 1)))
        with pytest.raises(queries.WarehouseUnavailable, match="subjectdb build"):
            queries.require_serving_tables(w)  # what the dashboard checks on every run
    finally:
        w.close()


def test_warehouse_follows_an_atomic_rebuild(dash_data: Paths, tmp_path: Path) -> None:
    served = tmp_path / "warehouse.duckdb"
    shutil.copy(dash_data.warehouse, served)
    w = Warehouse(served, retry_wait=0.05)
    try:
        sql = "SELECT count(*) AS n FROM wh.marts.subj_applicant_demand"
        before = int(w.df(sql)["n"].iloc[0])
        first_id = w.build_id
        first_bounds = queries.period_bounds(w)  # remembered for this build only
        # a "new build": a different file swapped in by atomic rename
        new = tmp_path / "build" / "new.duckdb"
        new.parent.mkdir()
        shutil.copy(dash_data.warehouse, new)
        con = duckdb.connect(str(new))
        con.execute(
            "DELETE FROM marts.subj_applicant_demand WHERE month = "
            "(SELECT min(month) FROM marts.subj_applicant_demand)"
        )
        con.close()
        os.replace(new, served)
        after = int(w.df(sql)["n"].iloc[0])
        assert after < before
        assert w.build_id != first_id
        assert queries.period_bounds(w)[0] > first_bounds[0]
    finally:
        w.close()


# --------------------------------------------------------------------------- AppTest


@pytest.fixture()
def app_env(dash_data: Paths, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("SUBJECTDB_DATA", str(dash_data.root))
    return dash_data


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=120)


def _no_errors(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_with_filters_set_and_cleared(app_env: Paths, lang: str) -> None:
    at = _app()
    at.query_params["lang"] = lang
    at.run()
    _no_errors(at, "entry")
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        _no_errors(at, f"{page} ({lang}), no filters")
        assert at.title and at.title[0].value == t(BY_STEM[page].title_key, lang)
    # set filters: a prefecture, elderly age groups, the pension theme, months mode
    regions = queries.regions_present(Warehouse(app_env.warehouse))
    prov, pref = regions.iloc[0]["province"], regions.iloc[0]["prefecture"]
    at.sidebar.selectbox(key="f_prov").set_value(prov).run()
    at.sidebar.selectbox(key="f_pref").set_value(pref).run()
    at.sidebar.multiselect(key="f_age").set_value(["60-74", "75+"]).run()
    at.sidebar.multiselect(key="f_theme").set_value(["pension"]).run()
    at.sidebar.radio(key="f_mode").set_value("months").run()
    _no_errors(at, "setting filters")
    assert at.query_params["region"] == pref
    assert at.query_params["theme"] == "pension"
    assert at.query_params["age"] == "60-74,75+"
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        _no_errors(at, f"{page} ({lang}), filtered")
    at.switch_page("views/demand_map.py").run()
    for metric in ("rate_per_1000", "age_standardised_rate", "standardised_ratio"):
        at.radio(key="map_metric").set_value(metric).run()
        _no_errors(at, f"map metric {metric}")
    at.sidebar.button(key="f_reset").click().run()
    _no_errors(at, "after reset")
    assert not at.sidebar.multiselect(key="f_theme").value
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        _no_errors(at, f"{page} ({lang}), cleared")
    assert not at.query_params.get("theme")


def test_overview_kpi_equals_a_direct_query_and_url_restores_filters(app_env: Paths) -> None:
    w = Warehouse(app_env.warehouse)
    y = _year(w)
    w.close()
    ((theme, cases),) = _direct(
        app_env.warehouse,
        "SELECT theme_code, sum(cases) FROM marts.subj_service_demand WHERE year = ? "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
        [y],
    )
    at = _app()
    at.query_params.update({"year": str(y), "theme": theme, "lang": "en"})
    at.run()
    _no_errors(at, "overview from URL")
    assert at.sidebar.multiselect(key="f_theme").value == [theme]
    kpi = next(m for m in at.metric if m.label == t("m.cases", "en"))
    assert kpi.value == f"{cases:,.0f}"
    # the view was audited with its filters
    lines = [json.loads(x) for x in app_env.audit_log.read_text(encoding="utf-8").splitlines()]
    views = [x for x in lines if x["event"] == "view" and x["filters"]["themes"] == [theme]]
    assert views and views[-1]["page"] == "home"
    assert views[-1]["filters"]["month_from"] == f"{y}-01-01"


@pytest.mark.parametrize(("lang", "period"), [("en", "over the period shown"), ("zh", "所选时段")])
def test_kpi_tooltips_are_the_metric_definitions(app_env: Paths, lang: str, period: str) -> None:
    """The cards' tooltips quote the one definition of each metric, which says the rate is over
    the period shown (the dashboard aggregates over the selected period, not a month)."""
    at = _app()
    at.query_params["lang"] = lang
    at.run()
    _no_errors(at, "overview")
    cards = {m.label: m for m in at.metric}
    for name in ("rate_per_1000", "online_share", "on_time_rate", "satisfaction_rate"):
        card = cards[t(f"m.{name}", lang)]
        assert metrics.get(name).definition(lang) in card.help, name
        assert period in card.help and "over the month" not in card.help, name


def test_bad_url_values_are_reported_not_fatal(app_env: Paths) -> None:
    at = _app()
    at.query_params.update({"region": "999999", "theme": "pension,nonsense", "year": "1900"})
    at.run()
    _no_errors(at, "bad URL")
    assert at.sidebar.warning
    assert at.sidebar.multiselect(key="f_theme").value == ["pension"]


def test_planner_question_lowest_elderly_care_demand_and_elderly_online(app_env: Paths) -> None:
    """Which counties have the lowest age-standardised demand for 养老 (pension), and how many
    of their elderly apply online? — answered by the map page's ranking, checked against SQL."""
    w = Warehouse(app_env.warehouse)
    y = _year(w)
    w.close()
    at = _app()
    at.query_params.update(
        {"year": str(y), "theme": "pension", "lang": "en", "metric": "age_standardised_rate"}
    )
    at.run()
    at.switch_page("views/demand_map.py").run()
    _no_errors(at, "map for the planner's question")
    table = at.dataframe[-1].value  # the ranking is the only table on the map page
    rows = _direct(
        app_env.warehouse,
        """
        WITH n AS (SELECT region_code, count(DISTINCT applicant_key) AS n
                   FROM marts.subj_applicant_demand
                   WHERE year = ? AND theme_code = 'pension' AND applicant_type = 'person'
                   GROUP BY 1)
        SELECT s.region_code, s.age_standardised_rate
        FROM marts.subj_demand_standardised s JOIN n USING (region_code)
        WHERE s.year = ? AND s.theme_code = 'pension' AND n.n >= 10
          AND s.age_standardised_rate IS NOT NULL
        ORDER BY 2, 1""",
        [y, y],
    )
    assert rows, "the sample has pension demand"
    lowest, asr = rows[0]
    first = table.iloc[0]
    w = Warehouse(app_env.warehouse)
    name = Labels(queries.labels(w), "en").name("region", lowest)
    w.close()
    # the shown table names the county (no code column) and keeps numbers as numbers
    assert first[t("d.county", "en")] == name
    assert float(first[t("m.age_standardised_rate", "en")]) == pytest.approx(asr, rel=1e-3)
    ((n_old, online, cases),) = _direct(
        app_env.warehouse,
        """
        SELECT count(DISTINCT applicant_key),
               sum(cases) FILTER (WHERE channel_code IN ('web', 'app')), sum(cases)
        FROM marts.subj_applicant_demand
        WHERE year = ? AND theme_code = 'pension' AND applicant_type = 'person'
          AND age_group_code IN ('60-74', '75+') AND region_code = ?""",
        [y, lowest],
    )
    shown = float(first[t("m.elderly_online_share", "en")])
    if n_old >= 10:
        assert shown == pytest.approx((online or 0) / cases, rel=1e-3)
    else:  # a suppressed cell holds no number (-inf sorts it to one end; it shows "<10")
        assert shown == float("-inf")
