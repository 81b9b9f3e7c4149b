"""The stages a child process runs (``python -m subjectdb.bench --stage NAME SPEC``): generate,
load, the floor scan, the raw suites, dbt, the gates and publish, with the hand-written,
dashboard and sharing API stages, by name; and the child's report of one stage."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from subjectdb.bench.dashboard import dashboard_queries_stage, page_ready_stage
from subjectdb.bench.data import hold_back_last_day, landed_rows, split_batches, subject_rows
from subjectdb.bench.handwritten import handwritten_stage
from subjectdb.bench.measure import Outcome, clock, peak_rss_mib, stage_paths
from subjectdb.bench.spec import (
    COMPARED_TABLES,
    GENERATOR,
    SHARING_LOAD,
    SIZES,
    SMOKE_BATCHES,
    BenchmarkError,
)
from subjectdb.config import EXTRACTS, duckdb_connect


def _generate(spec: dict[str, Any]) -> Outcome:
    from subjectdb.synth import generate

    size = SIZES[spec["size"]]
    paths = stage_paths(spec)
    batches = SMOKE_BATCHES if spec["size"] == "smoke" else int(GENERATOR["batches"])  # type: ignore[call-overload]
    seconds, res = clock(
        lambda: generate(
            out=paths.raw,
            province=str(GENERATOR["province"]),
            persons=size["persons"],
            enterprises=size["enterprises"],
            cases=size["cases"],
            years=GENERATOR["years"],  # type: ignore[arg-type]
            batches=batches,
            fmt=str(GENERATOR["fmt"]),
            defect_rate=float(GENERATOR["defect_rate"]),  # type: ignore[arg-type]
            seed=int(GENERATOR["seed"]),  # type: ignore[call-overload]
        )
    )
    c = res.counts
    rows = int(c["cases_rows"] + c["persons_rows"] + c["enterprises_rows"])
    held = hold_back_last_day(paths.raw)
    extra = {
        "batches": batches,
        "files": len(res.files),
        "defects": int(c["defects"]),
        "bytes": sum(p.stat().st_size for p in res.files),
        "held_back_rows": held,
        **{k: int(v) for k, v in c.items()},
    }
    return Outcome(seconds, rows, extra)


def _load(spec: dict[str, Any], increment: bool) -> Outcome:
    from subjectdb.ingest import load_paths

    paths = stage_paths(spec).ensure()
    bulk, inc = split_batches(paths.raw)
    files = inc if increment else bulk
    seconds, reports = clock(lambda: load_paths(files, paths))
    bad = [
        f"{r.file.name}: {r.status} {r.reason or ''}"
        for r in reports
        if r.rejected or not r.balanced
    ]
    if bad:
        raise BenchmarkError("load failed for:\n" + "\n".join(bad[:20]))
    rows = sum(r.rows_read for r in reports)
    extra = {
        "files": len(files),
        "rows_landed": sum(r.rows_landed for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "bytes": sum(p.stat().st_size for p in files),
    }
    if increment:
        extra["batch"] = sorted({r.batch_id or "" for r in reports})
    return Outcome(seconds, rows, extra)


def _floor_scan(spec: dict[str, Any]) -> Outcome:
    """The least any loader must do: read every byte of the bulk raw files and split it into
    rows and fields (DuckDB's parallel CSV reader, all columns as text, nothing typed, checked
    or written). With the hand-written script it bounds from below what the pipeline can take
    on this machine."""
    import duckdb

    plain = "all_varchar = true, header = true"
    lenient = "union_by_name = true, ignore_errors = true, strict_mode = false, null_padding = true"
    paths = stage_paths(spec)
    bulk, _ = split_batches(paths.raw)
    with duckdb_connect(paths=paths, threads=2, preserve_order=False) as con:

        def scan() -> int:
            total = 0
            for extract in EXTRACTS:
                files = [p.as_posix() for p in bulk if p.parent.name == extract]
                if not files:
                    continue
                try:
                    row = con.execute(
                        f"select count(*) from read_csv($files, {plain})", {"files": files}
                    ).fetchone()
                except duckdb.Error:  # a ragged or mis-encoded file: the lenient reader
                    row = con.execute(
                        f"select count(*) from read_csv($files, {plain}, {lenient})",
                        {"files": files},
                    ).fetchone()
                total += int(row[0]) if row else 0
            return total

        seconds, rows = clock(scan)
    return Outcome(
        seconds, rows, {"files": len(bulk), "bytes": sum(p.stat().st_size for p in bulk)}
    )


def _raw_suites(spec: dict[str, Any]) -> Outcome:
    from subjectdb.quality import run_raw_suites

    paths = stage_paths(spec)
    seconds, report = clock(lambda: run_raw_suites(paths))
    if getattr(report, "errors", None):
        raise BenchmarkError("raw suites could not run:\n" + "\n".join(map(str, report.errors)))
    extra = {
        "ok": bool(report.ok),
        "expectations": len(report.outcomes),
        "failed_expectations": len(report.failures()),
        "quarantined_rows": int(report.quarantined_rows),
        "batches": len({(o.suite, o.batch) for o in report.outcomes}),
        "failed": [
            f"{o.suite} {o.batch}: {o.expectation}({o.column}) {o.unexpected_count} unexpected"
            for o in report.failures()
        ][:20],
    }
    return Outcome(seconds, landed_rows(paths), extra)


def _dbt(
    spec: dict[str, Any],
    args: list[str] | None,
    name: str,
    record: bool = False,
) -> Outcome:
    """One dbt invocation into a new file under ``data/build/``.

    ``args=None``: the dbt step of ``subjectdb build`` itself (:func:`build.dbt_step`: a copy
    of the served warehouse if there is one — the copy is part of the time — and the run
    :func:`build.plan_dbt_build` plans: the daily path when the served file was built from the
    same key, seeds and project files). ``record`` writes the build record a passing build
    leaves (the next plan reads it). Explicit ``args`` run into an empty file.
    """
    from subjectdb.warehouse.build import dbt_step, new_build_id, write_build_info
    from subjectdb.warehouse.dbt_runner import (
        ensure_quarantine_placeholder,
        run_dbt,
        scrub_key_material,
    )

    paths = stage_paths(spec).ensure()
    new_file = paths.build_dir / f"bench-{name}.duckdb"
    for stale in (new_file, Path(str(new_file) + ".wal")):
        stale.unlink(missing_ok=True)
    work_dir = paths.build_dir / f"dbt-bench-{name}"
    shutil.rmtree(work_dir, ignore_errors=True)
    used: dict[str, Any] = {}

    def work() -> Any:
        if args is not None:  # explicit arguments, into an empty file
            ensure_quarantine_placeholder(paths)
            used["args"] = args
            run = run_dbt(args, paths, new_file, work_dir)
            scrub_key_material(work_dir / "target")
            return run
        step = dbt_step(paths, new_file, work_dir)
        used.update(args=step.plan.args, plan=step.plan.reason, start=step.start_note)
        used["copy_seconds"] = round(step.copy_seconds, 3)
        if record and step.run.ok:
            write_build_info(
                new_file, new_build_id(), step.plan.full_refresh, step.run, step.fingerprints
            )
        return step.run

    seconds, run = clock(work)
    if not run.ok:
        raise BenchmarkError(f"dbt {' '.join(used['args'])} failed:\n{run.summary()}")
    timings = _dbt_node_timings(work_dir / "target" / "run_results.json")
    extra = {
        "file": str(new_file),
        "args": used["args"],
        "nodes": run.node_counts,
        "dbt_reported_seconds": round(run.seconds, 3),
        "slowest_nodes": timings[:8],
    }
    if "plan" in used:
        extra.update(plan=used["plan"], start=used["start"], copy_seconds=used["copy_seconds"])
    return Outcome(seconds, 0, extra)


def _dbt_node_timings(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    data = json.loads(results.read_text())
    rows = [
        {"node": r.get("unique_id"), "seconds": round(float(r.get("execution_time") or 0), 3)}
        for r in data.get("results", [])
    ]
    return sorted(rows, key=lambda r: -r["seconds"])


def _dbt_build(spec: dict[str, Any]) -> Outcome:
    out = _dbt(spec, None, "full", record=True)
    out.rows = landed_rows(stage_paths(spec))
    return out


def _dbt_same_models(spec: dict[str, Any]) -> Outcome:
    args = [
        "build",
        "--select",
        *[f"+{t}" for t in COMPARED_TABLES],
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    ]
    out = _dbt(spec, args, "same-models")
    out.rows = landed_rows(stage_paths(spec))
    Path(out.extra["file"]).unlink(missing_ok=True)
    return out


def _dbt_incremental(spec: dict[str, Any]) -> Outcome:
    out = _dbt(spec, None, "incremental")
    batch = spec.get("increment_batch")
    out.rows = landed_rows(stage_paths(spec), batch) if batch else 0
    return out


def _gates(spec: dict[str, Any]) -> Outcome:
    from subjectdb.quality import run_gates
    from subjectdb.release.checks import RELEASE_GATES

    paths = stage_paths(spec)
    new_file = Path(spec["new_file"])
    seconds, report = clock(lambda: run_gates(paths, new_file, extra_gates=RELEASE_GATES))
    extra = {
        "ok": bool(report.ok),
        "expectations": len(report.outcomes),
        "failed": [f"{o.suite} {o.batch}: {o.expectation}({o.column})" for o in report.failures()][
            :20
        ],
        "errors": [str(e) for e in report.errors][:20],
    }
    return Outcome(seconds, sum(subject_rows(new_file).values()), extra)


def _publish(spec: dict[str, Any]) -> Outcome:
    from subjectdb.release import publish

    paths = stage_paths(spec)
    rows = sum(subject_rows(paths.warehouse).values())
    seconds, release = clock(lambda: publish(paths, version=spec["version"], threshold=10))
    files = [p for p in Path(release).rglob("*") if p.is_file()]
    return Outcome(
        seconds,
        rows,
        {
            "release": str(release),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
        },
    )


def _sharing_api(spec: dict[str, Any]) -> Outcome:
    """The sharing API under load (:func:`subjectdb.sharing.loadtest.run`): ``subjectdb api``
    in its own process over the published release and the served warehouse, concurrent
    clients mixing catalogue reads, filtered aggregates and 10,000-identifier verifications.
    Seconds: the whole stage (keys, server start, the load); rows: requests sent. Errors and
    unaudited requests are reported (the targets say met or missed), not raised."""
    from subjectdb.sharing.loadtest import run as load

    paths = stage_paths(spec)
    clients = int(spec.get("clients", SHARING_LOAD["clients"]))
    seconds = float(spec.get("seconds", SHARING_LOAD["seconds"]))
    workers = int(spec.get("workers", SHARING_LOAD["workers"]))
    elapsed, result = clock(lambda: load(paths, clients=clients, seconds=seconds, workers=workers))
    return Outcome(elapsed, int(result["requests"]), result)


CHILD_STAGES: dict[str, Callable[[dict[str, Any]], Outcome]] = {
    "generate": _generate,
    "load": lambda s: _load(s, increment=False),
    "raw_suites": _raw_suites,
    "dbt_build": _dbt_build,
    "gates": _gates,
    "publish": _publish,
    "handwritten": handwritten_stage,
    "dbt_same_models": _dbt_same_models,
    "dashboard_queries": dashboard_queries_stage,
    "page_ready": page_ready_stage,
    "load_increment": lambda s: _load(s, increment=True),
    "floor_scan": _floor_scan,
    "raw_suites_increment": _raw_suites,
    "dbt_incremental": _dbt_incremental,
    "sharing_api": _sharing_api,
}


def run_stage(stage: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Child side: run one stage in this process and return its measurement."""
    out = CHILD_STAGES[stage](spec)
    return {
        "seconds": out.seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rows": out.rows,
        "extra": out.extra,
    }
