"""The sharing API benchmark stage (``--only sharing``): a short load against ``subjectdb api``
on a copy of the built sample with a release, its targets and its table in the README section.
Never asserts a time; the full 20 clients × 60 s load is not run here."""

from __future__ import annotations

import pytest

from subjectdb import bench
from subjectdb.bench.measure import StageRun
from subjectdb.bench.run import _selected
from subjectdb.config import Paths
from subjectdb.release import publish


def test_sharing_stage_is_chosen_only_when_asked_and_brings_publish() -> None:
    assert "sharing_api" not in _selected(None)
    assert _selected(None) == list(bench.STAGES)
    chosen = _selected(["sharing"])
    assert chosen[-1] == "sharing_api" and "publish" in chosen
    assert _selected(["sharing_api"]) == chosen
    assert bench.SHARING_LOAD == {"clients": 20, "seconds": 60.0, "workers": 2}


@pytest.fixture(scope="module")
def released(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    from conftest import copy_data

    paths = copy_data(built, tmp_path_factory.mktemp("bench-sharing") / "data")
    publish(paths, version="0.0.1-bench", threshold=10)
    return paths


def test_sharing_stage_measures_an_audited_load(released: Paths) -> None:
    spec = {
        "data_dir": str(released.root),
        "size": "smoke",
        "clients": 3,
        "seconds": 3,
        "workers": 1,  # two workers: tests/test_sharing_scale.py
    }
    out = bench.run_stage("sharing_api", spec)
    load = out["extra"]
    assert out["rows"] == load["requests"] > 0
    assert out["seconds"] >= load["seconds"] >= 3
    assert load["clients"] == 3 and load["workers"] == 1 and load["errors"] == {}
    assert len(load["load_average_before"]) == len(load["load_average_after"]) == 3
    assert sum(load["audited_by_worker"].values()) == load["audited"]
    assert load["every_request_audited"] and load["audited"] == load["requests"]
    assert set(load["kinds"]) <= {"catalogue", "aggregate", "verify_10k"}
    assert "aggregate" in load["kinds"]
    for v in load["kinds"].values():
        assert v["p99_ms"] >= v["p95_ms"] >= v["p50_ms"] > 0

    run = StageRun("sharing_api", out["seconds"], out["peak_rss_mib"], out["rows"], load)
    result = bench.summarise("smoke", [{"sharing_api": run}], ["sharing_api"])
    assert result["stages"]["sharing_api"]["rows_per_second"] is None  # requests, not rows
    rows = {t["target"]: t for t in result["targets"]}
    audited = rows["sharing API under load: no error, every request audited"]
    assert audited["status"] == "met" and f"{load['requests']:,} requests" in audited["measured"]
    p95 = rows["sharing API filtered aggregate p95 (3 clients)"]
    assert p95["limit"] == "≤ 100 ms" and p95["applies_to"] == "10m"
    assert p95["measured"] == f"{load['kinds']['aggregate']['p95_ms']:,.0f} ms"
    assert p95["status"].startswith(("within limit", "over limit"))  # smoke is not 10m
    assert len(result["targets"]) == 7 + 3

    table = bench.render_table({**result, "environment": {}, "recorded_at": "now"})
    assert f"{load['requests']:,} requests" in table and "| sharing API request |" in table
    assert "against 1 API worker," in table and "load average" in table
    assert "filtered aggregate (GET /v1/resources/" in table


def test_sharing_target_missed_on_errors() -> None:
    load = {
        "clients": 20,
        "seconds": 60.0,
        "requests": 10,
        "requests_per_second": 0.2,
        "errors": {"aggregate 429": 2},
        "every_request_audited": True,
        "audited": 10,
        "kinds": {
            "aggregate": {"requests": 8, "p50_ms": 20.0, "p95_ms": 150.0, "p99_ms": 200.0},
            "verify_10k": {"requests": 2, "p50_ms": 400.0, "p95_ms": 600.0, "p99_ms": 700.0},
        },
    }
    run = StageRun("sharing_api", 70.0, 300.0, 10, load)
    result = bench.summarise("10m", [{"sharing_api": run}], ["sharing_api"])
    status = {t["target"]: t["status"] for t in result["targets"]}
    assert status["sharing API under load: no error, every request audited"] == "missed"
    assert status["sharing API filtered aggregate p95 (20 clients)"] == "missed"
    assert status["sharing API 10,000-identifier verification p95 (20 clients)"] == "met"
