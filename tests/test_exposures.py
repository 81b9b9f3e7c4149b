"""The dbt exposures (models/marts/subjects/_subjects__exposures.yml) list exactly what their
readers read.

- One ``dashboard_<stem>`` exposure per page of the registry (dashboards/pages.py), whose
  ``depends_on`` is what that page's queries read: every page is rendered by Streamlit's
  AppTest on the warehouse built from the generated sample, with the caches emptied first, and
  the relations each statement names are recorded (:data:`subjectdb.serving.connection.READS`).
  A page's reads include the context every page builds (labels, period, regions).
- One ``opendata_<table>`` exposure per published table (``subjectdb.release`` ``TABLES``),
  whose ``depends_on`` is what ``publish`` reads, recorded from the SQL it runs. The release
  controls disclosure over all its tables at once (margins shared between tables, rates over
  the published population), so every published table is read from all of them.

Relations outside dbt (written by ``subjectdb build`` itself) are named in
:data:`OUTSIDE_DBT`; any other read that is not a dbt node fails the test.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import streamlit as st
import yaml

from dashboards.pages import PAGES
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.release import TABLES
from subjectdb.serving.connection import READS

EXPOSURES = PROJECT_DIR / "models" / "marts" / "subjects" / "_subjects__exposures.yml"
APP = PROJECT_DIR / "dashboards" / "app.py"
OUTSIDE_DBT = {("main", "build_info")}
"""Warehouse tables that dbt does not make: the build record written by ``subjectdb build``."""
_REF = re.compile(r"""^ref\(\s*['"](\w+)['"]\s*\)$""")


def _exposures() -> dict[str, set[str]]:
    doc = yaml.safe_load(EXPOSURES.read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for exposure in doc["exposures"]:
        refs = set()
        for dep in exposure.get("depends_on") or []:
            match = _REF.match(dep.strip())
            assert match, f"{exposure['name']}: depends_on {dep!r} is not a ref()"
            refs.add(match.group(1))
        assert exposure["name"] not in out, f"exposure {exposure['name']} listed twice"
        out[exposure["name"]] = refs
    return out


@pytest.fixture(scope="module")
def data(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A private copy of the built data folder (the pages write their access audit)."""
    dst = tmp_path_factory.mktemp("exposures") / "data"
    shutil.copytree(built.root, dst)
    return Paths(dst)


@pytest.fixture(scope="module")
def dbt_nodes(data: Paths) -> dict[tuple[str, str], str]:
    """(schema, relation) → dbt node name, from the built warehouse's manifest."""
    import json

    manifests = sorted(data.build_dir.glob("dbt-*/target/manifest.json"))
    assert manifests, f"no dbt manifest under {data.build_dir}"
    nodes = json.loads(manifests[-1].read_text(encoding="utf-8"))["nodes"].values()
    return {
        (n["schema"], n.get("alias") or n["name"]): n["name"]
        for n in nodes
        if n["resource_type"] in ("model", "seed", "snapshot")
    }


def _nodes(reads: set[tuple[str, str]], dbt_nodes: dict[tuple[str, str], str]) -> set[str]:
    unknown = sorted(r for r in reads - OUTSIDE_DBT if r not in dbt_nodes)
    assert not unknown, f"reads of relations that are no dbt node: {unknown}"
    return {dbt_nodes[r] for r in reads if r in dbt_nodes}


# --------------------------------------------------------------------------- the registry


def test_one_dashboard_exposure_per_page_and_one_opendata_exposure_per_table() -> None:
    names = set(_exposures())
    assert {n for n in names if n.startswith("dashboard_")} == {p.exposure for p in PAGES}
    assert {n for n in names if n.startswith("opendata_")} == {f"opendata_{t.name}" for t in TABLES}
    assert all(n.startswith(("dashboard_", "opendata_")) for n in names), names


# --------------------------------------------------------------------------- dashboard pages


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reads: set[tuple[str, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.reads.add(tuple(record.relation))  # type: ignore[attr-defined]


@pytest.fixture()
def recorder(data: Paths, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    monkeypatch.setenv("SUBJECTDB_DATA", str(data.root))
    handler = _Recorder()
    level = READS.level
    READS.addHandler(handler)
    READS.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        READS.removeHandler(handler)
        READS.setLevel(level)
        st.cache_data.clear()
        st.cache_resource.clear()


def _states(data: Paths) -> list[dict[str, str]]:
    """URL states a page is read in: no filters, and every filter set (the reads may depend on
    a filter, e.g. the applicant-type filter's semi-join on the item catalog)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{data.warehouse.as_posix()}' AS wh (READ_ONLY)")
        ((year, prefecture, category),) = con.execute(
            "select max(year), min(prefecture_code), min(category_code) "
            "from wh.marts.subj_service_demand"
        ).fetchall()
    finally:
        con.close()
    filtered = {
        "year": str(year),
        "region": str(prefecture),
        "age": "60-74,75+",
        "cat": str(category),
        "theme": "pension",
        "atype": "person",
        "channel": "web,app",
    }
    return [{}, filtered]


PAGE_STATES: dict[str, list[dict[str, str]]] = {
    # the map reads the standardised table for its standardised metrics
    "demand_map": [
        {"metric": m, "level": "county"} for m in ("age_standardised_rate", "standardised_ratio")
    ],
}


def _page_reads(page: Any, states: list[dict[str, str]], recorder: _Recorder) -> set:
    from streamlit.testing.v1 import AppTest

    reads: set[tuple[str, str]] = set()
    for state in states:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.query_params.update(state)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        # from here on, only what this page reads: no cached result, no memo of a warehouse
        st.cache_data.clear()
        st.cache_resource.clear()
        recorder.reads.clear()
        at.switch_page(f"views/{page.stem}.py").run()
        assert not at.exception, f"{page.stem} {state}: {[e.value for e in at.exception]}"
        assert not at.error, f"{page.stem} {state}: {[e.value for e in at.error]}"
        reads |= recorder.reads
    return reads


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_dashboard_exposure_lists_what_its_page_reads(
    page: Any, data: Paths, recorder: _Recorder, dbt_nodes: dict[tuple[str, str], str]
) -> None:
    states = _states(data) + PAGE_STATES.get(page.stem, [])
    read = _nodes(_page_reads(page, states, recorder), dbt_nodes)
    assert read, f"{page.stem}: no warehouse read recorded"
    listed = _exposures()[page.exposure]
    assert listed == read, (
        f"{page.exposure}: listed but not read {sorted(listed - read)}, "
        f"read but not listed {sorted(read - listed)}"
    )


# --------------------------------------------------------------------------- open-data release


@pytest.fixture(scope="module")
def publish_reads(published_sample_reads: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The relations of every statement the session's publish of the sample ran (conftest)."""
    return published_sample_reads


def test_opendata_exposures_list_what_publish_reads(
    publish_reads: set[tuple[str, str]], dbt_nodes: dict[tuple[str, str], str]
) -> None:
    read = _nodes(publish_reads, dbt_nodes)
    assert "subj_applicant_demand" in read, read  # the trace saw the release's reads
    exposures = _exposures()
    for table in TABLES:
        listed = exposures[f"opendata_{table.name}"]
        assert listed == read, (
            f"opendata_{table.name}: listed but not read {sorted(listed - read)}, "
            f"read but not listed {sorted(read - listed)}"
        )
