"""Read-only, parameterised queries behind the planners' dashboard: the one name every caller
uses (``queries.demand``, ``queries.kpis`` …; the dashboard and the benchmark call them by
name).

All SQL the dashboard runs lives in this package, one module per concern, re-exported here:

- :mod:`~subjectdb.serving.connection` — :class:`Warehouse`, the read-only attachment that
  follows rebuilds (and reports what it reads);
- :mod:`~subjectdb.serving.filters` — :class:`Filters`, :class:`Result`, the WHERE builder;
- :mod:`~subjectdb.serving.suppression` — small-cell suppression (:data:`THRESHOLD`);
- :mod:`~subjectdb.serving.labels` — reference labels, period bounds, regions present;
- :mod:`~subjectdb.serving.demand` — cases, exact distinct applicants, rate, online share;
- :mod:`~subjectdb.serving.kpis`, :mod:`~subjectdb.serving.standardised`,
  :mod:`~subjectdb.serving.population`, :mod:`~subjectdb.serving.performance`,
  :mod:`~subjectdb.serving.items`, :mod:`~subjectdb.serving.enterprises` — one page's
  questions each;
- :mod:`~subjectdb.serving.data_quality` — the data-quality files (quarantine, validation);
- :mod:`~subjectdb.serving.verification` — cross-verification against the registers and a
  department's feedback list.

Filter values never enter SQL text: they are bound as parameters; only fixed column names are
composed into statements. Rates and shares are the metrics of :mod:`subjectdb.metrics`.
Tunables (``demand.BITMAP_BUDGET_BYTES``) are read where they live, so they are not re-exported.
"""

from __future__ import annotations

from subjectdb.serving.connection import DB, Warehouse, WarehouseUnavailable
from subjectdb.serving.data_quality import quarantine_counts, quarantine_rows, read_parquet_file
from subjectdb.serving.demand import DEMAND_DIMS, demand, require_serving_tables
from subjectdb.serving.enterprises import ENT_GROUPS, enterprise_demand
from subjectdb.serving.filters import FILTER_DIMS, Filters, Result, month_span
from subjectdb.serving.items import items_demand
from subjectdb.serving.kpis import KPI_NAMES, kpis
from subjectdb.serving.labels import labels, period_bounds, regions_present
from subjectdb.serving.performance import (
    PERF_GROUPS,
    PERF_MEASURES,
    performance_by,
    performance_summary,
    processing_quantiles,
    processing_time,
)
from subjectdb.serving.population import population_pyramid
from subjectdb.serving.standardised import standardised, standardised_years
from subjectdb.serving.suppression import THRESHOLD, suppress
from subjectdb.serving.verification import (
    CHECK_ORDER,
    CHECKS,
    MISMATCH_RATE,
    XV_DIMS,
    cross_verification,
    feedback_cases,
)

__all__ = [
    "CHECKS",
    "CHECK_ORDER",
    "DB",
    "DEMAND_DIMS",
    "ENT_GROUPS",
    "FILTER_DIMS",
    "KPI_NAMES",
    "MISMATCH_RATE",
    "PERF_GROUPS",
    "PERF_MEASURES",
    "THRESHOLD",
    "XV_DIMS",
    "Filters",
    "Result",
    "Warehouse",
    "WarehouseUnavailable",
    "cross_verification",
    "demand",
    "enterprise_demand",
    "feedback_cases",
    "items_demand",
    "kpis",
    "labels",
    "month_span",
    "performance_by",
    "performance_summary",
    "period_bounds",
    "population_pyramid",
    "processing_quantiles",
    "processing_time",
    "quarantine_counts",
    "quarantine_rows",
    "read_parquet_file",
    "regions_present",
    "require_serving_tables",
    "standardised",
    "standardised_years",
    "suppress",
]
