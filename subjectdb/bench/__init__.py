"""Stage 6 — benchmarks: every pipeline stage timed in its own process.

One command (``subjectdb bench`` / ``make bench`` / ``python -m subjectdb.bench``) generates data
at a chosen size, runs the whole pipeline stage by stage, times the hand-written DuckDB script
(``benchmarks/handwritten.sql``) against dbt, measures the dashboard's queries and page-ready
times and (when chosen) the sharing API under load, writes ``benchmarks/results/<size>.json``
and rewrites the README's benchmark table.

The modules, in the order they depend on each other:

- ``spec``: the sizes, generator parameters, stage names, labels and groups; ``BenchmarkError``.
- ``measure``: a stage's time and peak memory in its own process, the environment, medians.
- ``data``: the generator's batch files, the held-back daily batch, rows landed and built.
- ``handwritten``: the hand-written SQL baseline and its row-for-row comparison with dbt.
- ``dashboard``: filter sets, the queries of each page, page ready in headless Chromium.
- ``stages``: the stages a child process runs, by name (``--stage NAME SPEC``).
- ``summary``: medians per stage, derived figures and the targets met or missed.
- ``report``: the results files and the README table rendered from them.
- ``run``: orchestration of the runs (``run_benchmark``).
- ``cli``: ``python -m subjectdb.bench``.
"""

from __future__ import annotations

from subjectdb.bench.cli import main
from subjectdb.bench.dashboard import dashboard_pages, filter_sets, page_queries
from subjectdb.bench.data import batch_files, hold_back_last_day, split_batches
from subjectdb.bench.handwritten import compare_tables, handwritten_sql
from subjectdb.bench.report import (
    MARK_END,
    MARK_START,
    render_section,
    render_table,
    update_readme_table,
    write_result,
)
from subjectdb.bench.run import run_benchmark
from subjectdb.bench.spec import (
    ALL_STAGES,
    COMPARED_TABLES,
    EXTRA_STAGES,
    PIPELINE,
    SHARING_LOAD,
    SIZES,
    STAGE_LABELS,
    STAGES,
    BenchmarkError,
)
from subjectdb.bench.stages import run_stage
from subjectdb.bench.summary import summarise, targets

__all__ = [
    "ALL_STAGES",
    "COMPARED_TABLES",
    "EXTRA_STAGES",
    "MARK_END",
    "MARK_START",
    "PIPELINE",
    "SHARING_LOAD",
    "SIZES",
    "STAGES",
    "STAGE_LABELS",
    "BenchmarkError",
    "batch_files",
    "compare_tables",
    "dashboard_pages",
    "filter_sets",
    "handwritten_sql",
    "hold_back_last_day",
    "main",
    "page_queries",
    "render_section",
    "render_table",
    "run_benchmark",
    "run_stage",
    "split_batches",
    "summarise",
    "targets",
    "update_readme_table",
    "write_result",
]
