"""The sharing API against a real uvicorn server on a free localhost port (real HTTP).

The data folder is a copy of the session's ``built`` sample with an open-data release
published on it (as tests/test_publish.py does). The catalogue used by the server is the
project's entries for the verification services plus test entries that grant the release
tables in different ways, so every grant path is exercised whatever the project's own
catalogue says; the project's catalogue itself is checked at the end of this file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import pytest
import uvicorn
from conftest import copy_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subjectdb import catalogue as cat
from subjectdb.config import PROJECT_DIR, Paths, hmac_key
from subjectdb.release import find_manifest
from subjectdb.sharing import AuditLog, KeyStore, SharingPaths, query_audit
from subjectdb.sharing.api import Settings, Sharing, create_app, csv_bytes
from subjectdb.sharing.verify import keyed_hash, normalise_identifier

RELEASE_TABLES = (
    "demand_region_age_theme",
    "demand_standardised",
    "service_performance",
    "enterprise_demand",
    "digital_divide",
    "population",
)
GRANTED = "越城区公安局"  # a handling department of the sample (it has feedback)
OTHER = "某县文化和旅游局"
POLICE = "浙江省公安局"  # granted verification with detail by the project's catalogue


def _entry(model: str, **raw: object) -> cat.Entry:
    base = dict(
        identifier=f"TEST-{model}",
        title_zh="测试",
        title_en="test",
        description_zh="测试资源",
        description_en="test resource",
        provider="测试",
        update_cycle="daily",
        sharing_type="无条件共享",
        opening_type="无条件开放",
    )
    return cat.parse_entry(model, {**base, **raw}, {})


def test_catalogue() -> cat.Catalogue:
    """Project entries for the verification models + test grants of the release tables."""
    project = cat.from_yaml()
    out = cat.Catalogue(source="test")
    for model in ("int_verification__person_versions", "int_verification__case_checks"):
        out.entries[model] = project.entries[model]
    out.entries["int_enterprises__versions"] = _entry(
        "int_enterprises__versions",
        kind="verification",
        sharing_type="有条件共享",
        departments=[GRANTED, POLICE],
        detail_departments=[POLICE],
        opening_type="不予开放",
    )
    out.entries["subj_population"] = _entry("subj_population", release_tables=["population"])
    out.entries["subj_applicant_demand"] = _entry(
        "subj_applicant_demand",
        release_tables=["demand_region_age_theme", "digital_divide"],
        sharing_type="有条件共享",
        departments=[GRANTED],
    )
    out.entries["subj_service_performance"] = _entry(
        "subj_service_performance",
        release_tables=["service_performance"],
        sharing_type="有条件共享",
        purposes=["绩效评估"],
    )
    out.entries["subj_enterprise_demand"] = _entry(
        "subj_enterprise_demand", release_tables=["enterprise_demand"], sharing_type="不予共享"
    )
    out.entries["dim_region"] = _entry("dim_region", kind="dimension")
    return out


test_catalogue.__test__ = False  # a helper, not a test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving one app in a thread, on a free port."""

    def __init__(self, sharing: Sharing) -> None:
        self.sharing = sharing
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(sharing), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def shared(published_sample: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A copy of the published sample (release 1.0.0): the API writes its keys and audit here."""
    return copy_data(published_sample, tmp_path_factory.mktemp("sharing") / "data")


@pytest.fixture(scope="module")
def keys(shared: Paths) -> dict[str, str]:
    store = KeyStore(SharingPaths(shared).keys)
    return {
        "granted": store.create(GRANTED)[0],
        "other": store.create(OTHER)[0],
        "purpose": store.create(OTHER, purposes=("绩效评估",))[0],
        "police": store.create(POLICE)[0],
    }


@pytest.fixture(scope="module")
def server(shared: Paths, keys: dict[str, str]) -> Iterator[Server]:
    sharing = Sharing(
        shared,
        settings=Settings(rate_per_second=1000, burst=1000),
        catalogue_override=test_catalogue(),
    )
    with Server(sharing) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def audit_tail(paths: Paths, n: int = 1) -> list[dict]:
    return list(AuditLog(SharingPaths(paths).audit).records())[-n:]


def release_table(paths: Paths, name: str) -> pd.DataFrame:
    return pd.read_parquet(paths.releases / "1.0.0" / "data" / f"{name}.parquet")


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# --------------------------------------------------------------------------- keys and audit


def test_keys_are_stored_only_hashed(shared: Paths, keys: dict[str, str]) -> None:
    text = SharingPaths(shared).keys.read_text(encoding="utf-8")
    for key in keys.values():
        assert key not in text
        assert key.split("_", 2)[2] not in text  # not even the secret part (it may hold "_")
        assert hashlib.sha256(key.encode()).hexdigest() in text
    store = KeyStore(SharingPaths(shared).keys)
    assert store.authenticate(keys["granted"]).department == GRANTED
    assert store.authenticate(keys["granted"][:-1] + "x") is None
    assert store.authenticate("not a key") is None


def test_revoked_key_is_refused(shared: Paths, http: httpx.Client) -> None:
    store = KeyStore(SharingPaths(shared).keys)
    key, record = store.create("临时部门")
    assert http.get("/v1/catalogue", headers=h(key)).status_code == 200
    store.revoke(record.key_id)
    r = http.get("/v1/catalogue", headers=h(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


# --------------------------------------------------------------------------- endpoints


def test_catalogue_endpoint(shared: Paths, http: httpx.Client, keys: dict[str, str]) -> None:
    r = http.get("/v1/catalogue", headers=h(keys["other"]))
    assert r.status_code == 200
    entries = {e["model"]: e for e in r.json()["entries"]}
    assert entries["subj_population"]["granted"] is True
    assert entries["subj_population"]["resources"] == ["population"]
    assert entries["subj_applicant_demand"]["granted"] is False
    assert entries["subj_enterprise_demand"]["sharing_type"] == "不予共享"
    assert entries["int_verification__person_versions"]["opening_type"] == "不予开放"
    record = audit_tail(shared)[0]
    assert record["path"] == "/v1/catalogue" and record["status"] == 200
    assert record["department"] == OTHER and record["rows"] == len(entries)
    assert record["client_address"] == "127.0.0.1"


def test_resources_lists_only_granted(http: httpx.Client, keys: dict[str, str]) -> None:
    names = {
        r["name"] for r in http.get("/v1/resources", headers=h(keys["other"])).json()["resources"]
    }
    assert names == {"population", "dim_region"}
    names = {
        r["name"] for r in http.get("/v1/resources", headers=h(keys["granted"])).json()["resources"]
    }
    assert names == {"population", "dim_region", "demand_region_age_theme", "digital_divide"}
    names = {
        r["name"] for r in http.get("/v1/resources", headers=h(keys["purpose"])).json()["resources"]
    }
    assert "service_performance" in names  # granted for the key's stated purpose


def test_rows_json_filters_and_paging(
    shared: Paths, http: httpx.Client, keys: dict[str, str]
) -> None:
    table = release_table(shared, "population")
    county = str(table.loc[table.region_level == "county", "region_code"].iloc[0])
    expected = table[(table.region_code == county) & (table.sex.isin(["male", "female"]))]
    url = f"/v1/resources/population?region_code={county}&sex=male,female&limit=5"
    r = http.get(url, headers=h(keys["other"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(expected) and len(body["rows"]) == min(5, len(expected))
    assert body["release_version"] == "1.0.0"
    assert r.headers["X-Total-Count"] == str(len(expected))
    seen = list(body["rows"])
    while body["next_offset"] is not None:
        body = http.get(f"{url}&offset={body['next_offset']}", headers=h(keys["other"])).json()
        seen += body["rows"]
    got = pd.DataFrame(seen)
    assert len(got) == len(expected) and not got.duplicated(["year", "age_group_code", "sex"]).any()
    record = audit_tail(shared)[0]
    assert record["resource"] == "population"
    assert record["filters"] == {"region_code": [county], "sex": ["male", "female"]}
    assert record["rows"] == len(body["rows"]) and record["status"] == 200


def test_rows_csv_and_parquet(shared: Paths, http: httpx.Client, keys: dict[str, str]) -> None:
    table = release_table(shared, "population")
    r = http.get("/v1/resources/population?format=csv&limit=10000", headers=h(keys["other"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    got = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False)
    assert len(got) == len(table)
    r = http.get("/v1/resources/population?format=parquet&limit=10000", headers=h(keys["other"]))
    assert r.status_code == 200
    got = pd.read_parquet(io.BytesIO(r.content))
    keys_ = ["year", "region_level", "region_code", "age_group_code", "sex"]
    pd.testing.assert_frame_equal(
        got.sort_values(keys_).reset_index(drop=True),
        table.sort_values(keys_).reset_index(drop=True),
        check_dtype=False,
    )


def test_csv_is_formula_safe() -> None:
    frame = pd.DataFrame({"name": ["=HYPERLINK(1)", "+1", "-2", "@x", "ok"], "n": [1, 2, 3, 4, 5]})
    text = csv_bytes(frame).decode("utf-8")
    for line in text.splitlines()[1:]:
        assert not line.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "'=HYPERLINK(1)" in text and ",ok," not in text and "ok,5" in text


def test_dimension_resource_and_dictionary(http: httpx.Client, keys: dict[str, str]) -> None:
    r = http.get("/v1/resources/dim_region?region_code=330102", headers=h(keys["other"]))
    assert r.status_code == 200 and [row["region_code"] for row in r.json()["rows"]] == ["330102"]
    r = http.get("/v1/resources/population/dictionary", headers=h(keys["other"]))
    assert r.status_code == 200
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert fields["population"]["description"]
    assert fields["population_status"]["constraints"]["enum"]
    assert r.json()["dimensions"] == [
        "year",
        "region_level",
        "region_code",
        "age_group_code",
        "sex",
    ]


def test_feedback_is_own_cases_only(
    shared: Paths, http: httpx.Client, keys: dict[str, str]
) -> None:
    with duckdb.connect(str(shared.warehouse), read_only=True) as con:
        expected = con.execute(
            "select case_id, check_code from intermediate.int_verification__case_checks "
            "where dept_name = ? and check_code is not null order by case_id",
            [GRANTED],
        ).fetchall()
    r = http.get("/v1/feedback", headers=h(keys["granted"]))
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert sorted((x["case_id"], x["check_code"]) for x in rows) == expected
    assert expected, "the sample's department has cases failing a check"
    assert set(rows[0]) == {"case_id", "item_code", "submitted_month", "check_code"}
    r = http.get("/v1/feedback?format=csv", headers=h(keys["granted"]))
    assert r.status_code == 200 and r.text.splitlines()[0].startswith("case_id,")
    assert len(r.text.splitlines()) == len(expected) + 1
    other = http.get("/v1/feedback", headers=h(keys["other"])).json()
    assert not {x["case_id"] for x in other["rows"]} & {case for case, _ in expected}


# --------------------------------------------------------------------------- verification


def _register_sample(paths: Paths, n: int = 5) -> tuple[list[str], list[str]]:
    """Raw resident IDs and credit codes of the sample's landed register rows."""
    with duckdb.connect() as con:
        persons = con.execute(
            f"select distinct person_id from read_parquet('{paths.landing}/persons/*/*.parquet') "
            f"where person_id is not null order by 1 limit {n}"
        ).fetchall()
        firms = con.execute(
            "select distinct credit_code from "
            f"read_parquet('{paths.landing}/enterprises/*/*.parquet') "
            f"where credit_code is not null order by 1 limit {n}"
        ).fetchall()
    return [p[0] for p in persons], [f[0] for f in firms]


def test_verify_resident_ids(shared: Paths, http: httpx.Client, keys: dict[str, str]) -> None:
    persons, _ = _register_sample(shared)
    secret = hmac_key(shared)
    with duckdb.connect(str(shared.warehouse), read_only=True) as con:
        staged = {
            r[0]
            for r in con.execute(
                "select person_key from staging.stg_population__persons"
            ).fetchall()
        }
    unknown = "11010119900307001X"
    fullwidth = persons[0].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    ids = [*persons, unknown, fullwidth]
    r = http.post(
        "/v1/verify/resident-id", headers=h(keys["police"]), json={"ids": ids, "date": "2025-06-30"}
    )
    assert r.status_code == 200, r.text
    answers = r.json()["answers"]
    assert [a["index"] for a in answers] == list(range(len(ids)))
    for raw, answer in zip(ids, answers, strict=True):
        hashed = hmac.new(
            secret.encode(), normalise_identifier(raw).encode(), hashlib.sha256
        ).hexdigest()
        assert answer["registered"] == (hashed in staged), raw
        assert "county" in answer  # the police are granted detail
    assert answers[len(persons)]["registered"] is False
    assert answers[-1] == {**answers[0], "index": len(ids) - 1}  # full-width digits: same person
    # the audit keeps hashes, never the raw identifiers
    line = SharingPaths(shared).audit.read_text(encoding="utf-8").splitlines()[-1]
    assert all(raw not in line for raw in ids)
    assert keyed_hash(secret, normalise_identifier(persons[0])) in line
    # a department granted verification but not detail gets no county
    r = http.post("/v1/verify/resident-id", headers=h(keys["granted"]), json={"ids": persons})
    assert r.status_code == 403  # not in the project's departments for resident-ID checks


def test_verify_credit_codes(shared: Paths, http: httpx.Client, keys: dict[str, str]) -> None:
    _, firms = _register_sample(shared)
    r = http.post("/v1/verify/credit-code", headers=h(keys["granted"]), json={"ids": firms})
    assert r.status_code == 200
    answers = r.json()["answers"]
    assert all(a["registered"] for a in answers)
    assert all("region" not in a for a in answers)  # not granted detail
    r = http.post("/v1/verify/credit-code", headers=h(keys["police"]), json={"ids": firms})
    assert all("region" in a and "industry_section" in a for a in r.json()["answers"])


def test_verify_batch_of_ten_thousand(
    shared: Paths, http: httpx.Client, keys: dict[str, str]
) -> None:
    persons, _ = _register_sample(shared, 50)
    ids = (persons * 200)[:10_000]
    r = http.post("/v1/verify/resident-id", headers=h(keys["police"]), json={"ids": ids})
    assert r.status_code == 200 and len(r.json()["answers"]) == 10_000
    record = audit_tail(shared)[0]
    assert record["ids"] == 10_000 and "batch_sha256" in record and "id_hashes" not in record
    r = http.post("/v1/verify/resident-id", headers=h(keys["police"]), json={"ids": ids + ["1"]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "status", "code"),
    [
        ("GET", "/v1/catalogue", None, None, 401, "unauthenticated"),
        ("GET", "/v1/resources/population", "wrong", None, 401, "unauthenticated"),
        ("GET", "/v1/resources/demand_region_age_theme", "other", None, 403, "not_granted"),
        ("GET", "/v1/resources/enterprise_demand", "granted", None, 403, "not_granted"),
        ("GET", "/v1/resources/nope", "other", None, 404, "unknown_resource"),
        ("GET", "/v1/resources/population?bogus=1", "other", None, 400, "bad_filter"),
        ("GET", "/v1/resources/population?sex=", "other", None, 400, "bad_filter"),
        ("GET", "/v1/resources/population?limit=10001", "other", None, 413, "limit_exceeded"),
        ("GET", "/v1/resources/population?limit=abc", "other", None, 422, "malformed_request"),
        ("GET", "/v1/resources/population?format=xml", "other", None, 422, "malformed_request"),
        ("POST", "/v1/verify/credit-code", "other", {"ids": ["x"]}, 403, "not_granted"),
        ("POST", "/v1/verify/credit-code", "granted", {"codes": []}, 422, "malformed_request"),
        ("POST", "/v1/verify/credit-code", "granted", {"ids": []}, 422, "malformed_request"),
        (
            "POST",
            "/v1/verify/credit-code",
            "granted",
            {"ids": ["1"], "date": "x"},
            422,
            "malformed_request",
        ),
    ],
)
def test_error_paths_are_json_and_audited(
    shared: Paths,
    http: httpx.Client,
    keys: dict[str, str],
    method: str,
    url: str,
    headers: str | None,
    body: dict | None,
    status: int,
    code: str,
) -> None:
    before = SharingPaths(shared).keys.read_bytes()
    key = {"wrong": "sdb_000000000000_" + "a" * 43}.get(headers or "", keys.get(headers or ""))
    r = http.request(method, url, headers=h(key) if key else {}, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    record = audit_tail(shared)[0]
    assert record["status"] == status and record["path"] == url.split("?")[0]
    assert record.get("error") == code
    assert SharingPaths(shared).keys.read_bytes() == before  # nothing changed


def test_rate_limit_per_client(shared: Paths, keys: dict[str, str]) -> None:
    sharing = Sharing(
        shared, settings=Settings(rate_per_second=1, burst=3), catalogue_override=test_catalogue()
    )
    with Server(sharing) as srv, httpx.Client(base_url=srv.url) as client:
        codes = [
            client.get("/v1/resources", headers=h(keys["other"])).status_code for _ in range(6)
        ]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        limited = client.get("/v1/resources", headers=h(keys["other"]))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        # another client has its own bucket
        assert client.get("/v1/resources", headers=h(keys["granted"])).status_code == 200
        # unauthenticated calls share one bucket per address: key guessing is slowed down too
        guesses = [client.get("/v1/catalogue", headers=h("sdb_x")).status_code for _ in range(6)]
        assert guesses[:3] == [401, 401, 401] and 429 in guesses[3:]
    records = audit_tail(shared, 14)
    assert [r["status"] for r in records].count(429) >= 2
    assert query_audit(AuditLog(SharingPaths(shared).audit), status=429, department=OTHER)


# --------------------------------------------------------------------------- disclosure


DEMAND_KEYS = ["year", "region_level", "region_code", "age_group_code", "theme_code"]


@pytest.fixture(scope="module")
def demand(shared: Paths) -> pd.DataFrame:
    return release_table(shared, "demand_region_age_theme")


def test_suppressed_cells_exist(demand: pd.DataFrame) -> None:
    assert (demand["cases_status"] != "").any() and demand["cases"].isna().any()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_filtered_queries_never_reveal_a_suppressed_cell(
    http: httpx.Client, keys: dict[str, str], demand: pd.DataFrame, data: st.DataObject
) -> None:
    """Any sequence of overlapping filtered queries returns exactly the published cells."""
    learned = []
    for _ in range(data.draw(st.integers(1, 3))):
        filters = {}
        for dim in data.draw(st.sets(st.sampled_from(DEMAND_KEYS), max_size=3)):
            values = sorted(demand[dim].astype(str).unique())
            chosen = data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=4))
            filters[dim] = ",".join(chosen)
        r = http.get(
            "/v1/resources/demand_region_age_theme",
            params={**filters, "limit": 10_000, "format": "parquet"},
            headers=h(keys["granted"]),
        )
        assert r.status_code == 200, r.text
        got = pd.read_parquet(io.BytesIO(r.content))
        selected = demand
        for dim, values in filters.items():
            selected = selected[selected[dim].astype(str).isin(values.split(","))]
        assert len(got) == len(selected)  # exactly the published rows the filters select
        learned.append(got)
    seen = pd.concat(learned).drop_duplicates(DEMAND_KEYS)
    both = seen.merge(demand, on=DEMAND_KEYS, suffixes=("_got", ""), validate="one_to_one")
    for col, status in (("cases", "cases_status"), ("rate_per_1000", "rate_status")):
        hidden = both[col].isna()
        assert both.loc[hidden, f"{col}_got"].isna().all(), col  # a suppressed cell stays empty
        assert (both.loc[~hidden, f"{col}_got"] == both.loc[~hidden, col]).all(), col
        assert (both[f"{status}_got"] == both[status]).all(), status


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_document(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert set(doc["paths"]) >= {
        "/v1/catalogue",
        "/v1/resources/{name}",
        "/v1/resources/{name}/dictionary",
        "/v1/verify/resident-id",
        "/v1/verify/credit-code",
        "/v1/feedback",
    }


def test_schemathesis_finds_no_server_error(server: Server, keys: dict[str, str]) -> None:
    """Generated requests over the OpenAPI document (with a valid key): never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck as HC
    from hypothesis import settings as hsettings

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures, calls = [], []
    for result in schema.get_all_operations():
        operation = result.ok()

        @hsettings(max_examples=15, deadline=None, suppress_health_check=list(HC), database=None)
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, headers=h(keys["police"]))
            calls.append(case.formatted_path)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code))

        run()
    assert failures == []
    assert len(set(calls)) >= 6 and len(calls) >= 50  # every operation was exercised


# --------------------------------------------------------------------------- the catalogue rules


def test_release_check_refuses_a_resource_flipped_to_not_open() -> None:
    catalogue = test_catalogue()
    tables = ("population", "demand_region_age_theme", "digital_divide")
    assert cat.release_refusals(catalogue, tables) == []
    cat.check_release(catalogue, tables)
    entry = catalogue.entries["subj_population"]
    catalogue.entries["subj_population"] = replace(entry, opening_type="不予开放")
    refusals = cat.release_refusals(catalogue, tables)
    assert len(refusals) == 1 and refusals[0].startswith("population:")
    with pytest.raises(cat.CatalogueError, match="不予开放"):
        cat.check_release(catalogue, tables)
    catalogue.entries["subj_population"] = replace(entry, opening_type="有条件开放")
    with pytest.raises(cat.CatalogueError, match="有条件开放"):
        cat.check_release(catalogue, tables)
    assert cat.release_refusals(catalogue, ["not_catalogued"])  # uncatalogued: refused too


def test_flip_in_the_yaml_is_read_and_refused(tmp_path: Path) -> None:
    """The same check on the catalogue read from models' YAML, with one entry flipped."""
    models = tmp_path / "models"
    shutil.copytree(PROJECT_DIR / "models", models)
    target = models / "marts" / "verification" / "_verification__models.yml"
    text = target.read_text(encoding="utf-8")
    flipped = text.replace(
        "opening_type: 不予开放",
        "opening_type: 无条件开放\n          release_tables: [fake_table]",
        1,
    )
    target.write_text(flipped, encoding="utf-8")
    assert cat.release_refusals(cat.from_yaml(models), ["fake_table"]) == []
    target.write_text(
        flipped.replace("opening_type: 无条件开放", "opening_type: 不予开放", 1), encoding="utf-8"
    )
    refusals = cat.release_refusals(cat.from_yaml(models), ["fake_table"])
    assert refusals and "不予开放" in refusals[0]


def test_catalogue_entries_are_validated() -> None:
    with pytest.raises(cat.CatalogueError, match="sharing_type"):
        _entry("m", sharing_type="共享")
    with pytest.raises(cat.CatalogueError, match="needs departments or purposes"):
        _entry("m", sharing_type="有条件共享")
    with pytest.raises(cat.CatalogueError, match="lacks"):
        cat.parse_entry("m", {"identifier": "x"}, {})
    entry = _entry("m", sharing_type="有条件共享", departments=["A"], purposes=["P"])
    assert cat.grant(entry, "A") and cat.grant(entry, "B", ["P"]) and not cat.grant(entry, "B")
    assert not cat.grant(_entry("m", sharing_type="不予共享"), "A")


def test_catalogue_from_the_served_manifest(shared: Paths) -> None:
    from_manifest = cat.load_catalogue(find_manifest(shared))
    assert "int_verification__case_checks" in from_manifest.entries
    assert from_manifest.source.endswith("manifest.json")
    assert set(from_manifest.entries) == set(cat.from_yaml().entries)


def test_audit_is_append_only_and_queryable(shared: Paths) -> None:
    log = AuditLog(SharingPaths(shared).audit)
    before = SharingPaths(shared).audit.read_bytes()
    log.write(method="GET", path="/x", status=200, department="审计测试")
    after = SharingPaths(shared).audit.read_bytes()
    assert after.startswith(before) and json.loads(after.splitlines()[-1])["path"] == "/x"
    assert query_audit(log, department="审计测试")[0]["path"] == "/x"
    assert all(r["status"] >= 400 for r in query_audit(log, errors_only=True))


@settings(max_examples=300, deadline=None)
@given(
    body=st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17),
    region=st.text("0123456789", min_size=8, max_size=8),
    valid=st.booleans(),
    last=st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY"),
)
def test_credit_code_check_agrees_with_stdnum(
    body: str, region: str, valid: bool, last: str
) -> None:
    from stdnum.cn import uscc

    from subjectdb.sharing.verify import well_formed

    code = region + body[8:]
    code += uscc.calc_check_digit(code) if valid else last
    assert well_formed("credit_code", [code]) == [uscc.is_valid(code)]


@settings(max_examples=300, deadline=None)
@given(
    born=st.dates(dt.date(1900, 1, 1), dt.date(2025, 12, 31)),
    seq=st.integers(0, 999),
    valid=st.booleans(),
    last=st.sampled_from("0123456789X"),
)
def test_resident_id_check_agrees_with_stdnum(
    born: dt.date, seq: int, valid: bool, last: str
) -> None:
    from stdnum.cn import ric

    from subjectdb.sharing.verify import well_formed

    body = f"330102{born:%Y%m%d}{seq:03d}"
    number = body + (ric.calc_check_digit(body + "0") if valid else last)
    assert well_formed("resident_id", [number]) == [number[17] == ric.calc_check_digit(body + "0")]
    assert well_formed("resident_id", ["330102" + "20250230" + "0011"]) == [False]  # no such day


def test_project_catalogue_opens_every_release_table_and_no_register() -> None:
    """The project's own entries: every release table is catalogued and 无条件开放, the
    registers and case-level tables are 不予开放 and, but for verification, 不予共享."""
    project = cat.from_yaml()
    assert cat.release_refusals(project, RELEASE_TABLES) == []
    assert {t for e in project for t in e.release_tables} == set(RELEASE_TABLES)
    for model in ("fct_service_cases", "subj_applicant_demand"):
        assert project.entries[model].sharing_type == "不予共享"
    for model in ("int_verification__person_versions", "int_enterprises__versions"):
        entry = project.entries[model]
        assert entry.kind == "verification" and entry.opening_type == "不予开放"
        assert entry.sharing_type == "有条件共享" and entry.detail_departments
    assert all(e.kind == "dimension" for e in project if e.model.startswith("dim_"))


def test_cli_key_catalogue_and_audit(tmp_path: Path) -> None:
    """`subjectdb api-key create` prints the key once and keeps its hash; `catalogue` exports
    JSON and CSV (zh/en); `audit` reads the log back."""
    from typer.testing import CliRunner

    from subjectdb.cli import app

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(app, ["api-key", "create", "--department", "浙江省民政厅", *data])
    assert made.exit_code == 0, made.output
    key = next(w for w in made.output.split() if w.startswith("sdb_"))
    store = KeyStore(SharingPaths(Paths(tmp_path / "data")).keys)
    assert store.authenticate(key).department == "浙江省民政厅"
    assert key not in store.path.read_text(encoding="utf-8")
    listed = runner.invoke(app, ["api-key", "list", *data])
    assert "浙江省民政厅" in listed.output and key not in listed.output
    out = tmp_path / "catalogue.json"
    assert (
        runner.invoke(app, ["catalogue", "--format", "json", "--out", str(out), *data]).exit_code
        == 0
    )
    entries = json.loads(out.read_text(encoding="utf-8"))
    assert {e["model"] for e in entries} == set(cat.from_yaml().entries)
    csv_en = runner.invoke(app, ["catalogue", "--format", "csv", "--lang", "en", *data]).output
    assert csv_en.splitlines()[0].startswith("identifier,model,kind,title")
    assert "not opened" in csv_en and "不予开放" not in csv_en
    AuditLog(SharingPaths(Paths(tmp_path / "data")).audit).write(
        method="GET", path="/v1/catalogue", status=403, department="浙江省民政厅"
    )
    audited = runner.invoke(app, ["audit", "--errors", "--json", *data])
    assert json.loads(audited.output.splitlines()[0])["status"] == 403
