"""The raw suites: every landed batch of every extract against ``expectations/raw_<extract>.json``.

Rule owners (DESIGN.md): the loader owns structure, the raw suites own *standards*, dbt tests own
model integrity. GX's SQL datasource is broken on DuckDB, so batches are read with DuckDB as
pandas chunks (:mod:`subjectdb.quality.landing`) and validated with GX's pandas datasource;
unexpected counts are summed over chunks. Rows failing a row-level standard are written to
``quarantine/raw_suites/<extract>/batch=<b>/part-0.parquet`` (always written, even empty) —
once per failing expectation. Large runs validate batches in ``WORKERS`` spawned processes;
unchanged batches are skipped (:mod:`subjectdb.quality.state`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from subjectdb.config import Paths, duckdb_connect
from subjectdb.contract import QUARANTINE_SCHEMA
from subjectdb.files import write_atomic
from subjectdb.quality.context import GX, quiet, run_identifier
from subjectdb.quality.frames import CHUNK_ROWS, outcomes_and_store, validate_frames
from subjectdb.quality.landing import (
    LandedBatch,
    chunks,
    drop_stale_quarantine,
    landed_batches,
    quarantine_path,
    row_count_range,
)
from subjectdb.quality.results import (
    Outcome,
    SuiteReport,
    ValidationError,
    append_results,
    jsonable,
    new_run,
    progress,
)
from subjectdb.quality.state import (
    batch_fingerprint,
    current_seeds_dir,
    load_state,
    reusable,
    save_state,
    suite_fingerprint,
)
from subjectdb.quality.suites import (
    SuiteDef,
    batch_cutoff,
    columns_of,
    domain_columns,
    domain_label,
    load_suite_def,
    suite_parameters,
)

WORKERS = max(1, min(2, os.cpu_count() or 1))
"""Processes validating batches in parallel on large runs."""
PARALLEL_MIN_ROWS = 500_000
"""Rows to check from which batches are validated by ``WORKERS`` processes (each pays ~3 s of
CPU to import GX; below this the per-batch work does not repay it)."""
SYSTEMATIC_MIN_ROWS = 50
"""A standard fails a batch only when more than ``1 - mostly`` of its checked rows AND at least
this many rows fail it (suite ``meta.systematic_min_rows`` overrides): one bad row of a 23-row
daily batch is a stray defect (quarantined), not a systematic source problem."""


def _original(df: pd.DataFrame, idx: list[int], cols: list[str]) -> list[str]:
    sub = df.loc[idx, cols]
    if len(cols) == 1:
        return [None if pd.isna(v) else str(v) for v in sub[cols[0]].tolist()]  # type: ignore[misc]
    out = []
    for rec in sub.to_dict(orient="records"):
        out.append(json.dumps(jsonable(rec), ensure_ascii=False))
    return out


def _validate_batch(
    gxs: GX,
    suite_def: SuiteDef,
    suite: Any,
    batch: LandedBatch,
    n_rows: int,
    row_range: tuple[int, int | None, str],
    params: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    run_id: Any,
    now: dt.datetime,
    chunk_rows: int | None = None,
) -> tuple[list[Outcome], pa.Table]:
    """Validate one landed batch chunk by chunk; returns the outcomes and its quarantine rows."""
    entries = suite_def.row_level()
    schema_cols = {
        r[0]
        for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{batch.glob}', union_by_name = true)"
        ).fetchall()
    }
    needed = sorted({c for e in entries for c in columns_of(e.get("kwargs", {}))})
    missing = [c for c in needed + [suite_def.record_key] if c not in schema_cols]
    if missing:
        raise ValidationError(
            f"{batch.files[0]}: column(s) {', '.join(sorted(set(missing)))} missing: "
            f"the landing file does not follow the {batch.extract} extract contract"
        )
    columns = sorted(set(needed) | {"_source_file", "_source_row", suite_def.record_key})
    q_frames: list[pd.DataFrame] = []

    def quarantine(df: pd.DataFrame, entry: dict[str, Any], r: Any, idx: list[int]) -> None:
        kw = entry.get("kwargs", {})
        q_frames.append(
            pd.DataFrame(
                {
                    "_source_file": df.loc[idx, "_source_file"].to_numpy(),
                    "_source_row": df.loc[idx, "_source_row"].to_numpy(),
                    "column": domain_label(kw),
                    "reason": entry["type"],
                    "original": _original(df, idx, domain_columns(kw)),
                }
            )
        )

    accs, template = validate_frames(
        gxs,
        f"landing_{batch.extract}",
        suite,
        entries,
        chunks(con, batch, columns, suite_def.record_key, n_rows, chunk_rows),
        dict(params, batch_cutoff=batch_cutoff(batch.batch_id)),
        quarantine,
    )

    # batch-level expectations: on a frame with the batch's row count (no columns needed)
    extra: list[tuple[dict[str, Any], Any, str]] = []
    if suite_def.batch_level():
        lo, hi, note = row_range
        table_suite = gxs.suite(f"{suite_def.name}_batch", suite_def.batch_level(), {})
        frame = pd.DataFrame(index=pd.RangeIndex(n_rows))
        with quiet():
            tres = (
                gxs.batch_definition(f"landing_{batch.extract}_rows")
                .get_batch(batch_parameters={"dataframe": frame})
                .validate(
                    table_suite,
                    expectation_parameters={"row_count_min": lo, "row_count_max": hi},
                    result_format={"result_format": "SUMMARY"},
                )
            )
        by_entry = {int(r.expectation_config.meta["entry"]): r for r in tres.results}
        extra = [
            (entry, by_entry[i], f"{n_rows:,} rows; {note}")
            for i, entry in enumerate(suite_def.batch_level())
        ]

    outcomes = outcomes_and_store(
        gxs,
        stage="raw_suite",
        suite_name=suite_def.name,
        label=batch.batch_id,
        doc_id=f"{batch.extract}-batch-{batch.batch_id}",
        entries=entries,
        accs=accs,
        template=template,
        mostly_default=suite_def.meta.get("mostly"),
        min_rows=int(suite_def.meta.get("systematic_min_rows", SYSTEMATIC_MIN_ROWS)),
        extra=extra,
        markers={
            "extract": batch.extract,
            "batch_id": batch.batch_id,
            "rows": n_rows,
            "landing": str(batch.files[0].parent),
        },
        run_id=run_id,
        now=now,
    )

    if q_frames:
        q = pd.concat(q_frames, ignore_index=True)
    else:
        q = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("_source_file", "column", "reason", "original")}
        )
        q["_source_row"] = pd.Series(dtype="int64")
    q["extract"] = batch.extract
    q["_batch_id"] = batch.batch_id
    q["stage"] = "raw_suite"
    q["_quarantined_at"] = pd.Timestamp(now.replace(tzinfo=None))
    q = q.sort_values(["_source_row", "reason", "column"], kind="stable")
    table = pa.Table.from_pandas(
        q[QUARANTINE_SCHEMA.names], schema=QUARANTINE_SCHEMA, preserve_index=False
    )
    return outcomes, table


@dataclass(frozen=True)
class _BatchTask:
    """One landed batch to validate (picklable: runs in a worker process for large runs)."""

    root: Path
    batch: LandedBatch
    n_rows: int
    row_range: tuple[int, int | None, str]
    params: dict[str, Any]
    run_name: str
    now: dt.datetime
    seeds_dir: Path
    threads: int
    chunk_rows: int


@dataclass
class _BatchDone:
    outcomes: list[Outcome]
    quarantined: int
    results: list[tuple[Any, str, str]]
    error: str = ""


_worker_gx: list[GX] = []


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initialiser: end this worker when the process that started it is gone.

    A `subjectdb build` killed during the raw suites otherwise leaves its workers behind,
    blocked on a result pipe nobody reads, each holding a chunk of a batch (seen: two 1.2 GB
    workers alive 90 minutes after their parent was killed)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_batch_task(task: _BatchTask, gxs: GX | None = None) -> _BatchDone:
    """Validate one batch and write its quarantine file; GX results are returned, not stored."""
    from subjectdb.quality import expectations as custom

    custom.use_seeds(task.seeds_dir)
    if gxs is None:  # worker process: one ephemeral context per process
        if not _worker_gx:
            _worker_gx.append(GX(None))
        gxs = _worker_gx[0]
    previous, gxs.collected = gxs.collected, []
    paths = Paths(task.root)
    sd = load_suite_def(task.batch.extract)
    suite = gxs.suite(sd.name, sd.row_level(), sd.meta)
    con = duckdb_connect(paths=paths, threads=task.threads)
    try:
        outcomes, qtable = _validate_batch(
            gxs,
            sd,
            suite,
            task.batch,
            task.n_rows,
            task.row_range,
            task.params,
            con,
            run_identifier(task.run_name, task.now),
            task.now,
            task.chunk_rows,
        )
    except ValidationError as exc:
        return _BatchDone([], 0, [], str(exc))
    finally:
        con.close()
        collected, gxs.collected = gxs.collected, previous
    qfile = quarantine_path(paths, task.batch.extract, task.batch.batch_id)
    write_atomic(qfile, lambda tmp: pq.write_table(qtable, tmp))
    return _BatchDone(outcomes, qtable.num_rows, collected or [])


def run_raw_suites(
    paths: Paths,
    show_progress: bool = False,
    *,
    workers: int | None = None,
    force: bool = False,
    _gx: GX | None = None,
    _run: tuple[str, dt.datetime] | None = None,
    _docs: bool = True,
) -> SuiteReport:
    """Validate the landed batches of every extract; quarantine rows failing a standard.

    Incremental: a batch whose landing files, suite definition (suite JSON, seeds, custom
    expectations) and usual row-count range are unchanged since its last successful
    validation, and whose quarantine file is intact, is not re-checked; its earlier outcomes
    are reported again (note "unchanged since run …") so the report and the results table
    still cover every batch. ``force=True`` re-checks every batch (``subjectdb validate``).
    State: ``validation/raw_suite_state.json``.

    ``workers``: processes validating batches in parallel; by default ``WORKERS`` when the
    batches to check hold at least ``PARALLEL_MIN_ROWS`` rows (a worker pays ~3 s to import
    GX), else 1 (in this process).
    """
    run_name, now = _run or new_run("raw")
    report = SuiteReport(run_id=run_name, run_time=now)
    batches = landed_batches(paths)
    if not batches:
        report.errors.append(f"no landed batch under {paths.landing}: run `subjectdb load` first")
        return report
    params = suite_parameters()
    suite_fps = {e: suite_fingerprint(e, params) for e in sorted({b.extract for b in batches})}
    with duckdb_connect(paths=paths) as con:
        counts = {
            (b.extract, b.batch_id): int(
                con.execute(
                    f"SELECT count(*) FROM read_parquet('{b.glob}', union_by_name = true)"
                ).fetchone()[0]  # type: ignore[index]
            )
            for b in batches
        }
    state = {} if force else load_state(paths)
    new_state: dict[str, Any] = {}
    reused: dict[tuple[str, str], dict[str, Any]] = {}
    tasks = []
    fingerprints: dict[tuple[str, str], str] = {}
    for b in batches:
        ext_batches = sorted(x.batch_id for x in batches if x.extract == b.extract)
        ext_counts = {x: counts[(b.extract, x)] for x in ext_batches}
        row_range = row_count_range(ext_counts, ext_batches, b.batch_id)
        key = f"{b.extract}/{b.batch_id}"
        fp = batch_fingerprint(b, suite_fps[b.extract], row_range)
        fingerprints[(b.extract, b.batch_id)] = fp
        if reusable(paths, state.get(key), b, fp):
            reused[(b.extract, b.batch_id)] = state[key]
            new_state[key] = state[key]
            continue
        tasks.append(
            _BatchTask(
                paths.root,
                b,
                counts[(b.extract, b.batch_id)],
                row_range,
                params,
                run_name,
                now,
                current_seeds_dir(),
                threads=2,
                chunk_rows=CHUNK_ROWS,
            )
        )
    total = sum(t.n_rows for t in tasks)
    if workers is None:
        workers = WORKERS if total >= PARALLEL_MIN_ROWS else 1
    workers = max(1, min(workers, len(tasks) or 1))
    if workers > 1:
        tasks = [dataclasses.replace(t, threads=1) for t in tasks]
    gxs = _gx
    if tasks:
        from subjectdb.quality import expectations as custom  # GX is imported only when needed

        custom.reference()  # fail early and clearly when a seed is missing
        if gxs is None:
            gxs = GX(paths)
    if tasks and gxs is not None:
        for extract in sorted({t.batch.extract for t in tasks}):
            sd = load_suite_def(extract)
            gxs.suite(sd.name, sd.row_level(), sd.meta)  # for Data Docs
    # largest first, so two workers finish together
    tasks.sort(key=lambda t: -t.n_rows)
    step = progress(show_progress, len(tasks), "raw suites")
    done: list[_BatchDone] = []
    if workers == 1:
        for t in tasks:
            done.append(_run_batch_task(t, gxs))
            step(f"{t.batch.extract} {t.batch.batch_id}")
    else:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=exit_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = {pool.submit(_run_batch_task, t): t for t in tasks}
            results = {}
            for fut in concurrent.futures.as_completed(futures):
                t = futures[fut]
                results[id(t)] = fut.result()
                step(f"{t.batch.extract} {t.batch.batch_id}")
            done = [results[id(t)] for t in tasks]
    by_batch = {(t.batch.extract, t.batch.batch_id): d for t, d in zip(tasks, done, strict=True)}
    run_id = run_identifier(run_name, now) if tasks else None
    for b in batches:
        key = (b.extract, b.batch_id)
        if key in reused:
            entry = reused[key]
            since = f"unchanged since run {entry.get('run_id')}: not re-checked"
            for o in entry.get("outcomes", []):
                out = Outcome(**o)
                out.note = f"{out.note}; {since}" if out.note else since
                report.outcomes.append(out)
            report.quarantined_rows += int(entry.get("quarantined", 0))
            continue
        d = by_batch[key]
        if d.error:
            report.errors.append(d.error)
            continue
        report.outcomes.extend(d.outcomes)
        report.quarantined_rows += d.quarantined
        new_state[f"{b.extract}/{b.batch_id}"] = {
            "fingerprint": fingerprints[key],
            "run_id": run_name,
            "quarantined": d.quarantined,
            "outcomes": [jsonable(dataclasses.asdict(o)) for o in d.outcomes],
        }
        assert gxs is not None
        for result, suite_name, ident in d.results:
            gxs.store(result, suite_name, ident, run_id)
    drop_stale_quarantine(paths, batches)
    save_state(paths, new_state)
    append_results(paths, report, target=str(paths.landing))
    if _docs and gxs is not None:
        gxs.build_docs()
    return report
