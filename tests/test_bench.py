"""The benchmark harness: the smoke size end to end, the held-back daily batch, the hand-written
SQL baseline against dbt, the results file and the README table. Never asserts a time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from subjectdb import bench
from subjectdb.config import Paths
from subjectdb.serving.serve import CHROMIUM

STATUSES = ("met", "missed")


def _rows(path: Path) -> list[list[str]]:
    """Rows by physical line (the generator's CSV is unquoted, one record a line; a stray-quote
    defect would make a CSV parser swallow the lines after it)."""
    return [line.split(",") for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_hold_back_last_day_splits_the_last_batch_by_updated_at(raw_sample, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(raw_sample.out, raw)
    before = {e: [p for _, p in files] for e, files in bench.batch_files(raw).items()}
    originals = {e: _rows(files[-1]) for e, files in before.items()}

    held = bench.hold_back_last_day(raw)

    bulk, increment = bench.split_batches(raw)
    assert {p.name for p in increment} == {files[-1].name for files in before.values()}
    assert len(bulk) == sum(len(files) for files in before.values())  # + day-before, − last
    for extract, files in before.items():
        last = files[-1]
        last_day = last.stem.split("_")[1]
        day = f"{last_day[:4]}-{last_day[4:6]}-{last_day[6:]}"
        day_before = next(p for p in bulk if p.parent.name == extract and p not in files)
        assert day_before.stem.split("_")[1] < last_day
        head, *on_day = _rows(last)
        head2, *rest = _rows(day_before)
        assert head == head2 == originals[extract][0]
        assert len(on_day) == held[extract]
        assert all(r[-1].startswith(day) for r in on_day)
        assert not any(r[-1].startswith(day) for r in rest)
        # no row lost or invented: the two files together are the original file
        assert sorted(map(tuple, on_day + rest)) == sorted(map(tuple, originals[extract][1:]))
    assert held["cases"] > 0


def test_compare_tables_finds_rows_on_either_side() -> None:
    con = duckdb.connect()
    con.execute(
        "create table a as select * from (values (1, 0.1 + 0.2), (2, 1.0), (2, 1.0)) t(k, v)"
    )
    con.execute("create table b as select * from (values (1, 0.3), (2, 1.0), (2, 1.0)) t(k, v)")
    assert bench.compare_tables(con, "a", "b") == {"rows": 3, "only_left": 0, "only_right": 0}
    con.execute("create table c as select * from (values (1, 0.3), (2, 1.0), (3, 1.0)) t(k, v)")
    assert bench.compare_tables(con, "a", "c") == {"rows": 3, "only_left": 1, "only_right": 1}
    con.execute("create table d as select 1 as k")
    with pytest.raises(bench.BenchmarkError, match="different columns"):
        bench.compare_tables(con, "a", "d")


def test_handwritten_sql_equals_dbt_on_the_built_sample(built: Paths, tmp_path: Path) -> None:
    """The baseline script and dbt's subject tables agree on the shared session warehouse."""
    con = duckdb.connect(str(tmp_path / "hand.duckdb"))
    con.execute(bench.handwritten_sql(built))
    con.execute(f"attach '{built.warehouse.as_posix()}' as wh (read_only)")
    for table in bench.COMPARED_TABLES:
        check = bench.compare_tables(con, f"main.{table}", f"wh.marts.{table}")
        assert check["rows"] > 0
        assert check["only_left"] == check["only_right"] == 0, (table, check)
    # and the comparison is not vacuous: one changed count is found
    con.execute(
        "update main.subj_service_demand set cases = cases + 1 "
        "where rowid = (select min(rowid) from main.subj_service_demand)"
    )
    check = bench.compare_tables(con, "main.subj_service_demand", "wh.marts.subj_service_demand")
    assert check["only_left"] == check["only_right"] == 1


def test_readme_table_between_markers(tmp_path: Path) -> None:
    results = tmp_path / "results"
    result = {
        "size": "smoke",
        "runs": 1,
        "recorded_at": "2026-01-01T00:00:00+00:00",
        "environment": {"cpus": 2, "memory_gib": 24.0, "versions": {"duckdb": "2.0.0"}},
        "generator": {"cases": 20_000, "persons": 10_000, "enterprises": 1_000},
        "stages": {
            "load": {
                "label": "load (bulk)",
                "median_seconds": 2.0,
                "rows": 1000,
                "rows_per_second": 500,
                "peak_rss_mib": 100.0,
                "extra": {},
            },
            "page_ready": {
                "label": "page",
                "median_seconds": 0.0,
                "rows": 0,
                "rows_per_second": None,
                "peak_rss_mib": 1.0,
                "extra": {"not_measured": "chromium missing"},
            },
        },
        "derived": {"end_to_end_stages": ["load"], "end_to_end_seconds": 2.0},
        "targets": [{"target": "t", "limit": "≤ 1", "measured": "2.00 s", "status": "missed"}],
    }
    bench.write_result("smoke", result, results)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nintro\n")
    bench.update_readme_table(readme, results)
    text = readme.read_text()
    assert text.startswith("# x\n\nintro\n\n## Benchmarks\n")
    assert text.count(bench.MARK_START) == 1 and text.count(bench.MARK_END) == 1
    assert "| load (bulk) | 2.00 | 1,000 | 500 | 100 |" in text
    assert "chromium missing" in text and "| t | ≤ 1 | 2.00 s | missed |" in text
    # a second run replaces the section in place and keeps the text around it
    readme.write_text(text.replace("intro", "intro changed") + "\ntail\n")
    bench.update_readme_table(readme, results)
    again = readme.read_text()
    assert again.count(bench.MARK_START) == 1 and "intro changed" in again
    assert again.rstrip().endswith("tail")


def test_unknown_size_and_stage_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(bench.BenchmarkError, match="unknown size"):
        bench.run_benchmark("2m", runs=1, data_dir=tmp_path, update_readme=False)
    with pytest.raises(bench.BenchmarkError, match="unknown benchmark stage 'nope'"):
        bench.run_benchmark(
            "smoke", runs=1, data_dir=tmp_path, stages=["nope"], update_readme=False
        )


def test_smoke_benchmark_end_to_end(tmp_path: Path) -> None:
    """Every stage runs at the smoke size and reports plausible, consistent measurements."""
    out = bench.run_benchmark(
        "smoke",
        runs=1,
        data_dir=tmp_path / "work",
        stages=None,
        update_readme=False,
        results_dir=tmp_path / "results",
        progress=lambda _: None,
    )
    assert out == tmp_path / "results" / "smoke.json"
    result = json.loads(out.read_text())
    stages = result["stages"]
    assert list(stages) == list(bench.STAGES)
    for name, st in stages.items():
        if "not_measured" in st["extra"]:
            assert name == "page_ready" and not CHROMIUM.exists()
            continue
        assert st["median_seconds"] > 0, name
        assert st["peak_rss_mib"] > 20, name  # a Python interpreter at least
        assert st["rows"] > 0, name
    gen = stages["generate"]["extra"]
    assert gen["cases"] == bench.SIZES["smoke"]["cases"]
    # the held-back day is what the incremental load reads, and the bulk load read the rest
    assert stages["load_increment"]["rows"] == sum(gen["held_back_rows"].values())
    assert stages["load"]["rows"] + stages["load_increment"]["rows"] == stages["generate"]["rows"]
    assert stages["dbt_incremental"]["rows"] > 0
    # the daily build is planned as `subjectdb build` plans it: the daily path
    assert "daily path" in stages["dbt_incremental"]["extra"]["plan"]
    # the floor reads exactly the files the bulk load read, row for row
    assert stages["floor_scan"]["rows"] == stages["load"]["rows"]
    assert stages["floor_scan"]["extra"]["files"] == stages["load"]["extra"]["files"]
    assert stages["handwritten"]["extra"]["equal_to_dbt"] is True
    for table in bench.COMPARED_TABLES:
        assert stages["handwritten"]["extra"]["compared"][table]["rows"] > 0
    pages = stages["dashboard_queries"]["extra"]["pages"]
    assert {"overview", "performance", "enterprises", "data_quality"} <= set(pages)
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in pages.values())
    if CHROMIUM.exists():
        ready = stages["page_ready"]["extra"]["pages"]
        assert set(ready) == {stem for stem, _ in bench.dashboard_pages()}
    d = result["derived"]
    assert d["end_to_end_stages"] == list(bench.PIPELINE)
    assert d["end_to_end_seconds"] == pytest.approx(
        sum(stages[s]["median_seconds"] for s in d["end_to_end_stages"]), rel=1e-3
    )
    assert stages["publish"]["extra"]["files"] > 0
    assert d["dbt_build_vs_handwritten"] > 0
    assert d["floor_seconds"] == pytest.approx(
        stages["floor_scan"]["median_seconds"] + stages["handwritten"]["median_seconds"], abs=2e-3
    )
    assert len(result["targets"]) == 7
    for t in result["targets"]:
        if t["applies_to"] == "all":
            assert t["status"] in STATUSES
        else:  # smoke is not the size these targets are set for
            assert t["status"].startswith(("within limit", "over limit", "not measured"))
    assert result["environment"]["cpus"] >= 1 and result["environment"]["versions"]["duckdb"]
    table = bench.render_table(result)
    assert "dbt build ÷ hand-written SQL" in table and "**end to end**" in table
