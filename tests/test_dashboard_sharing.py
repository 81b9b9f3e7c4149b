"""The data-sharing pages of the dashboard — 资源目录 (resource catalogue), 接口访问审计 (API
access audit) and 交互核验 (cross-verification) — rendered by Streamlit's AppTest in both
languages on a build of the generated sample with one planted register mismatch per check
(``plant`` of tests/test_cross_verification.py).

What each page shows is compared with an independent source: the catalogue with the models'
YAML (the page reads the served build's dbt manifest), the audit with the calls a test makes to
the sharing API (uvicorn on a free localhost port, real HTTP) and with ``query_audit``, and
cross-verification with the pandas computation over the staged tables of
tests/test_cross_verification.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from test_cross_verification import PLANTED, independent_checks
from test_sharing_api import Server

from dashboards.pages import BY_STEM
from subjectdb import catalogue as cat
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.i18n import t
from subjectdb.release import TABLES
from subjectdb.serving import queries
from subjectdb.sharing import AuditLog, KeyStore, SharingPaths, query_audit
from subjectdb.sharing.api import Sharing

APP = PROJECT_DIR / "dashboards" / "app.py"
POLICE = "浙江省公安局"  # granted resident-ID verification by the project's catalogue
OUTSIDER = "某县文化和旅游局"  # granted no conditional resource


@pytest.fixture()
def app_env(planted: Paths, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    import streamlit as st

    monkeypatch.setenv("SUBJECTDB_DATA", str(planted.root))
    yield planted
    st.cache_data.clear()


def _page(stem: str, lang: str = "zh", **params: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"lang": lang, **params})
    at.run()
    at.switch_page(f"views/{stem}.py").run()
    _no_errors(at, stem)
    assert at.title[0].value == t(BY_STEM[stem].title_key, lang)
    return at


def _no_errors(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"


def _table(at, *columns: str, without: str | None = None) -> pd.DataFrame:
    """The one dataframe of the page that has all ``columns`` (and not ``without``)."""
    found = [
        d.value
        for d in at.dataframe
        if set(columns) <= set(d.value.columns) and without not in d.value.columns
    ]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _metric(at, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, [m.label for m in at.metric]
    return values[0]


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_catalogue_lists_every_release_tables_resource_with_its_types(
    app_env: Paths, lang: str
) -> None:
    at = _page("catalogue", lang)
    col = {c: t(f"cat.col.{c}", lang) for c in ("identifier", "title", "provider")}
    col |= {c: t(f"cat.col.{c}", lang) for c in ("sharing_type", "opening_type")}
    col |= {c: t(f"cat.col.{c}", lang) for c in ("update_cycle", "release_tables", "fields")}
    shown = _table(at, *col.values()).set_index(col["identifier"])
    expected = cat.from_yaml()  # the models' YAML, which the served manifest compiled
    assert set(shown.index) == {e.identifier for e in expected}
    assert _metric(at, t("cat.resources", lang)) == str(len(expected))
    for table in TABLES:
        entry = expected.for_release_table(table.name)
        assert entry is not None, table.name
        row = shown.loc[entry.identifier]
        assert table.name in row[col["release_tables"]].split(";")
        assert row[col["title"]] == (entry.title_zh if lang == "zh" else entry.title_en)
        assert row[col["provider"]] == entry.provider
        assert row[col["update_cycle"]] == t(f"cat.cycle_{entry.update_cycle}", lang)
        if lang == "zh":
            assert row[col["sharing_type"]] == entry.sharing_type
            assert row[col["opening_type"]] == entry.opening_type
        else:
            assert row[col["sharing_type"]] == cat.SHARING_EN[entry.sharing_type]
            assert row[col["opening_type"]] == cat.OPENING_EN[entry.opening_type]
        assert entry.opening_type == "无条件开放"  # what lets publish release the table
        names = row[col["fields"]].split(";")
        assert [f.name for f in entry.fields] == [n.split(" (")[0] for n in names]
    # the cross-verification resources are there too, and never opened
    for model in ("subj_cross_verification", "int_verification__case_checks"):
        entry = expected.entries[model]
        assert shown.loc[entry.identifier, col["opening_type"]] == (
            "不予开放" if lang == "zh" else "not opened"
        )
    # each resource's fields with their standards
    name, standard = t("cat.col.name", lang), t("cat.col.standard", lang)
    tables = [d.value for d in at.dataframe if name in d.value.columns]
    assert len(tables) == sum(1 for e in expected if e.fields)
    person = expected.entries["int_verification__person_versions"]
    shown_fields = [
        dict(zip(d[name], d[standard], strict=True))
        for d in tables
        if list(d[name]) == [f.name for f in person.fields]
    ]
    assert shown_fields == [{f.name: f.standard for f in person.fields}]
    assert shown_fields[0]["person_key"].startswith("GB 11643")


def test_catalogue_kind_filter(app_env: Paths) -> None:
    at = _page("catalogue")
    at.multiselect(key="cat_kinds").set_value(["verification"]).run()
    _no_errors(at, "kind filter")
    shown = _table(at, t("cat.col.identifier"), t("cat.col.kind"))
    expected = {e.identifier for e in cat.from_yaml() if e.kind == "verification"}
    assert set(shown[t("cat.col.identifier")]) == expected and expected
    assert set(shown[t("cat.col.kind")]) == {t("cat.kind_verification")}


# --------------------------------------------------------------------------- cross-verification


@pytest.fixture(scope="module")
def independent(planted: Paths) -> pd.DataFrame:
    """Every case's check, from the staged tables (tests/test_cross_verification.py), in the
    page's default period (the last year with demand)."""
    last = queries.period_bounds(queries.Warehouse(planted.warehouse))[1]
    checks = independent_checks(planted)
    return checks[pd.to_datetime(checks["submitted_month"]).dt.year == last.year]


def test_cross_verification_counts_equal_an_independent_query(
    app_env: Paths, independent: pd.DataFrame
) -> None:
    at = _page("cross_verification")
    failing = independent.dropna(subset=["check_code"])
    assert set(PLANTED) <= set(failing["case_id"])  # the planted cases are in the period
    assert _metric(at, t("xv.checked")) == f"{len(independent):,}"
    assert _metric(at, t("m.mismatches")) == f"{len(failing):,}"
    # every department × check of the period
    dept, check, n = t("xv.department"), "check_code", t("m.mismatches")
    shown = _table(at, dept, check, n, t("m.mismatches_per_1000"))
    got = shown[shown[n] > 0].groupby([dept, check])[n].sum().sort_index()
    expected = failing.groupby(["dept_name", "check_code"]).size().sort_index()
    assert got.to_dict() == expected.to_dict()
    cases = independent.groupby(["dept_name", "applicant_type"]).size()
    for row in shown.sample(n=min(200, len(shown)), random_state=1).itertuples(index=False):
        kind = "person" if row[1].startswith("person") else "enterprise"
        assert row[3] == cases[(row[0], kind)], row
        assert row[5] == pytest.approx(row[4] / row[3] * 1000, abs=0.006), row


def test_a_departments_items_and_feedback_list_hold_its_planted_cases(
    app_env: Paths, independent: pd.DataFrame
) -> None:
    at = _page("cross_verification")
    wh = queries.Warehouse(app_env.warehouse)
    last = queries.period_bounds(wh)[1]
    planted = independent[independent["case_id"].isin(PLANTED)]
    for department in sorted(set(planted["dept_name"])):
        at.selectbox(key="xv_dept").set_value(department).run()
        _no_errors(at, department)
        mine = independent[independent["dept_name"] == department]
        failing = mine.dropna(subset=["check_code"])
        # the department's cards: the second set on the page
        assert [m.value for m in at.metric if m.label == t("xv.checked")][1] == f"{len(mine):,}"
        assert [m.value for m in at.metric if m.label == t("m.mismatches")][1] == (
            f"{len(failing):,}"
        )
        # by item × check
        n = t("m.mismatches")
        items = _table(at, "item_code", "check_code", n, without=t("d.month"))
        got = items[items[n] > 0].groupby(["item_code", "check_code"])[n].sum()
        assert got.to_dict() == failing.groupby(["item_code", "check_code"]).size().to_dict()
        # the feedback list: exactly the department's mismatching cases of the period, ids,
        # items, months and checks only
        feedback = _table(at, t("xv.case_id"), "check_code")
        assert set(feedback.columns) == {
            t("xv.case_id"),
            "item_code",
            t("d.month"),
            "check_code",
            t("d.check"),
        }
        assert set(feedback[t("xv.case_id")]) == set(failing["case_id"])
        listed = feedback.set_index(t("xv.case_id"))
        for case_id in planted.loc[planted["dept_name"] == department, "case_id"]:
            check = PLANTED[case_id]
            assert got[(mine.set_index("case_id").loc[case_id, "item_code"], check)] >= 1
            assert listed.loc[case_id, "check_code"] == check
            assert listed.loc[case_id, t("d.check")] == t(f"xv.{check}")
        # the same list as the feedback query the sharing API answers from
        api = queries.feedback_cases(wh, department, last.replace(month=1), last)
        assert list(api["case_id"]) == list(feedback[t("xv.case_id")])


def test_cross_verification_in_english_with_filters(
    app_env: Paths, independent: pd.DataFrame
) -> None:
    at = _page("cross_verification", "en", atype="enterprise")
    shown = _table(at, t("xv.department", "en"), "check_code", t("d.check", "en"))
    assert set(shown["check_code"]) <= set(queries.CHECKS["enterprise"])
    names = {t(f"xv.{c}", "en") for c in queries.CHECKS["enterprise"]}
    assert set(shown[t("d.check", "en")]) <= names
    failing = independent[independent["applicant_type"] == "enterprise"].dropna(
        subset=["check_code"]
    )
    assert _metric(at, t("m.mismatches", "en")) == f"{len(failing):,}"
    # a filter the table has no dimension for is named, not silently applied
    region = queries.regions_present(queries.Warehouse(app_env.warehouse))["prefecture"].iloc[0]
    at = _page("cross_verification", "en", region=str(region))
    notes = [c.value for c in at.caption if c.value.startswith("⚠")]
    assert notes and t("f.region", "en") in notes[0]


# --------------------------------------------------------------------------- API access audit


def test_api_audit_shows_the_calls_made_to_the_sharing_api(app_env: Paths) -> None:
    log = SharingPaths(app_env).audit
    at = _page("api_audit")
    assert not log.exists()
    assert [i.value for i in at.info] == [t("aud.none", path=log)]

    store = KeyStore(SharingPaths(app_env).keys)
    police, _ = store.create(POLICE, purposes=("身份核验",))
    outsider, _ = store.create(OUTSIDER)
    with Server(Sharing(app_env)) as server, httpx.Client(base_url=server.url) as http:
        calls = [
            http.get("/v1/catalogue", headers={"X-API-Key": police}),
            http.get("/v1/feedback", headers={"X-API-Key": police}),
            http.post(
                "/v1/verify/resident-id",
                headers={"X-API-Key": outsider},
                json={"ids": ["330102199003070012"]},
            ),
            http.get("/v1/catalogue"),
            http.get("/v1/resources/no_such_table", headers={"X-API-Key": outsider}),
        ]
    assert [r.status_code for r in calls] == [200, 200, 403, 401, 404]
    records = query_audit(AuditLog(log))
    assert len(records) == len(calls)

    at = _page("api_audit")
    assert _metric(at, t("aud.calls")) == "5"
    assert _metric(at, t("aud.refused")) == "3"
    assert _metric(at, t("aud.departments")) == "2"
    status, dept = t("aud.col.status"), t("aud.department")
    shown = _table(at, status, dept, t("aud.col.path"), t("aud.col.key_id"))
    assert list(shown[status]) == [r["status"] for r in records]  # newest first
    assert list(shown[t("aud.col.path")]) == [r["path"] for r in records]
    assert list(shown[dept]) == [r.get("department") or t("aud.anonymous") for r in records]
    errors = ["unknown_resource", "unauthenticated", "not_granted"]
    assert shown[t("aud.col.error")].tolist()[:3] == errors
    # the identifier sent for verification is nowhere on the page
    assert not shown.astype(str).apply(lambda c: c.str.contains("330102199003070012")).any().any()

    at.selectbox(key="aud_department").set_value(OUTSIDER).run()
    _no_errors(at, "department filter")
    shown = _table(at, status, dept)
    assert list(shown[status]) == [404, 403]
    assert _metric(at, t("aud.calls")) == "2"
    at.selectbox(key="aud_department").set_value("").run()
    at.radio(key="aud_outcome").set_value("errors").run()
    shown = _table(at, status, dept)
    assert list(shown[status]) == [404, 401, 403]
    at.selectbox(key="aud_resource").set_value("no_such_table").run()
    assert list(_table(at, status, dept)[status]) == [404]
    at.radio(key="aud_outcome").set_value("all").run()
    at.selectbox(key="aud_resource").set_value("catalogue").run()
    assert list(_table(at, status, dept)[status]) == [200]  # the 401 named no resource


def test_api_audit_page_in_english(app_env: Paths) -> None:
    AuditLog(SharingPaths(app_env).audit).write(
        method="GET", path="/v1/catalogue", department=POLICE, key_id="k1", status=200, rows=18
    )
    at = _page("api_audit", "en")
    shown = _table(at, t("aud.col.status", "en"), t("aud.department", "en"))
    assert POLICE in set(shown[t("aud.department", "en")])
    assert int(_metric(at, t("aud.rows", "en")).replace(",", "")) >= 18
