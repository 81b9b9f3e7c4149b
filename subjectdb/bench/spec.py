"""What a benchmark runs: the sizes, the generator's parameters, the stages and their labels,
the optional stage groups and the error that stops a benchmark."""

from __future__ import annotations

SIZES: dict[str, dict[str, int]] = {
    "smoke": {"cases": 20_000, "persons": 10_000, "enterprises": 1_000},
    "1m": {"cases": 1_000_000, "persons": 500_000, "enterprises": 50_000},
    "10m": {"cases": 10_000_000, "persons": 5_000_000, "enterprises": 500_000},
    "50m": {"cases": 50_000_000, "persons": 25_000_000, "enterprises": 2_500_000},
}
SIZE_ORDER = list(SIZES)
GENERATOR = {
    "province": "330000",
    "years": (2024, 2025),
    "batches": 24,  # about one extract a month (smoke: 6); the last one split off a day
    "fmt": "csv",
    "defect_rate": 0.01,
    "seed": 2026,
}
SMOKE_BATCHES = 6

PIPELINE = ("load", "raw_suites", "dbt_build", "gates", "publish")
"""The stages of the end-to-end time (generation is the source systems' work, not ours)."""
STAGES = (
    "generate",
    "floor_scan",
    "load",
    "raw_suites",
    "dbt_build",
    "gates",
    "publish",
    "handwritten",
    "dbt_same_models",
    "dashboard_queries",
    "page_ready",
    "load_increment",
    "raw_suites_increment",
    "dbt_incremental",
)
EXTRA_STAGES = ("sharing_api",)
"""Stages a run includes only when chosen (``--only sharing``): the sharing API load keeps
the machine busy for a minute (:data:`SHARING_LOAD`), so the default and smoke runs leave it out."""
ALL_STAGES = STAGES + EXTRA_STAGES
REQUIRED = ("generate", "load", "raw_suites", "dbt_build", "gates")
"""Stages every run needs (later stages read their output); the others can be left out."""
OPTIONAL_GROUPS = {
    "publish": ("publish",),
    "handwritten": ("handwritten", "dbt_same_models"),
    "dashboard": ("dashboard_queries",),
    "page_ready": ("page_ready",),
    "increment": ("load_increment", "raw_suites_increment", "dbt_incremental"),
    "floor": ("floor_scan",),
    "sharing": ("sharing_api",),
}
NEEDS = {"sharing_api": ("publish",)}
"""Stages a chosen stage reads the output of (the API serves the open-data release)."""
SHARING_LOAD = {"clients": 20, "seconds": 60.0, "workers": 2}
"""The sharing API load of issue 13: 20 concurrent clients on localhost for 60 s, mixing
catalogue reads, filtered aggregates and 10,000-identifier verifications, against
``subjectdb api --workers 2`` (:mod:`subjectdb.sharing.loadtest`); a stage spec's ``clients`` /
``seconds`` / ``workers`` override it."""
STAGE_LABELS = {
    "generate": "generate raw extracts",
    "floor_scan": "floor: DuckDB reads the same raw CSV as text, nothing else",
    "load": "load (bulk)",
    "raw_suites": "raw suites (GX)",
    "dbt_build": "dbt build (full)",
    "gates": "publication gates",
    "publish": "publish open data",
    "handwritten": "hand-written DuckDB SQL",
    "dbt_same_models": "dbt build, same models as the script, no tests",
    "dashboard_queries": "dashboard queries (all pages × filter sets; rows = query calls)",
    "page_ready": "dashboard page ready in Chromium (sum over pages; rows = pages)",
    "load_increment": "load (daily batch)",
    "raw_suites_increment": "raw suites after the daily batch",
    "dbt_incremental": "dbt build (incremental, daily batch)",
    "sharing_api": "sharing API under load (concurrent clients on localhost; rows = requests)",
}
COMPARED_TABLES = ("subj_service_demand", "subj_service_performance")
NOT_ROWS = ("dashboard_queries", "page_ready", "sharing_api")
"""Stages whose count is query calls, pages or requests, not data rows: no rows per second."""


class BenchmarkError(RuntimeError):
    """A stage failed or produced wrong results: the benchmark stops with this message."""
