"""Stage 2 — quality: Great Expectations context, custom expectations, raw suites, gates.

Rule owners (DESIGN.md): the loader owns structure, this stage owns *standards*, dbt tests own
model integrity. A rule lives in exactly one place.

* :func:`run_raw_suites` validates every landed batch of every extract against the suite in
  ``expectations/raw_<extract>.json`` and quarantines rows failing a standard
  (:mod:`~subjectdb.quality.raw_suites`; batches in :mod:`~subjectdb.quality.landing`, the skip
  state in :mod:`~subjectdb.quality.state`, definitions in :mod:`~subjectdb.quality.suites`).
* :func:`run_gates` checks a built warehouse (opened read-only) before it is served; a later
  stage adds its gates as :class:`GateStep` s (:mod:`~subjectdb.quality.gates`).
* :func:`validate_all` runs both for ``subjectdb validate``.

Every expectation result is appended to ``validation/results.parquet`` (the dashboard reads it,
:mod:`~subjectdb.quality.results`) and rendered into Data Docs under ``validation/docs``
(:mod:`~subjectdb.quality.context`); chunked validation is :mod:`~subjectdb.quality.frames`, the
custom expectations :mod:`~subjectdb.quality.expectations` (imported with GX, only when used).
"""

from subjectdb.quality.context import GX, gx_suite
from subjectdb.quality.frames import PERSONAL_COLUMNS, mask_example
from subjectdb.quality.gates import (
    Gates,
    GateStep,
    load_gates_config,
    record_batches,
    reference_labels,
    run_gate_steps,
    run_gates,
    validate_all,
)
from subjectdb.quality.landing import LandedBatch, landed_batches, quarantine_path
from subjectdb.quality.raw_suites import (
    SYSTEMATIC_MIN_ROWS,
    exit_with_parent,
    run_raw_suites,
)
from subjectdb.quality.results import (
    RESULTS_SCHEMA,
    Outcome,
    SuiteReport,
    ValidationError,
    failed,
    not_checked,
)
from subjectdb.quality.state import STATE_VERSION
from subjectdb.quality.suites import (
    SUITES_DIR,
    SuiteDef,
    batch_cutoff,
    load_suite_def,
    suite_parameters,
)

__all__ = [
    "GX",
    "PERSONAL_COLUMNS",
    "RESULTS_SCHEMA",
    "STATE_VERSION",
    "SUITES_DIR",
    "SYSTEMATIC_MIN_ROWS",
    "GateStep",
    "Gates",
    "LandedBatch",
    "Outcome",
    "SuiteDef",
    "SuiteReport",
    "ValidationError",
    "batch_cutoff",
    "exit_with_parent",
    "failed",
    "gx_suite",
    "landed_batches",
    "load_gates_config",
    "load_suite_def",
    "mask_example",
    "not_checked",
    "quarantine_path",
    "record_batches",
    "reference_labels",
    "run_gate_steps",
    "run_gates",
    "run_raw_suites",
    "suite_parameters",
    "validate_all",
]
