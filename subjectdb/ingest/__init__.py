"""Stage 1 — ingest: read raw extracts, standardise, quarantine what cannot be read, reconcile.

``load_paths`` (in :mod:`subjectdb.ingest.load`) loads files into the landing zone; the modules
beside it hold one step each: the extract contract (``schema``), text standardisation
(``standardise``), encodings and row numbers (``encoding``), reading and typing one file with
its quarantine (``reader``), reconciliation (``reconcile``) and the reports (``report``).
"""

from subjectdb.ingest.encoding import detect_encoding
from subjectdb.ingest.load import WORKERS_ENV, discover, load_file, load_paths, load_workers
from subjectdb.ingest.reconcile import RECONCILIATION_SCHEMA, read_reconciliation
from subjectdb.ingest.report import FileRejected, FileReport, LoadError, print_reports
from subjectdb.ingest.schema import (
    EXTRACT_COLUMNS,
    LANDING_TYPES,
    LINEAGE_FIELDS,
    REASONS,
    ROW_REASONS,
    landing_schema,
    parse_name,
)
from subjectdb.ingest.standardise import Standardiser, standardise_text, standardiser

__all__ = [
    "EXTRACT_COLUMNS",
    "LANDING_TYPES",
    "LINEAGE_FIELDS",
    "REASONS",
    "RECONCILIATION_SCHEMA",
    "ROW_REASONS",
    "WORKERS_ENV",
    "FileRejected",
    "FileReport",
    "LoadError",
    "Standardiser",
    "detect_encoding",
    "discover",
    "landing_schema",
    "load_file",
    "load_paths",
    "load_workers",
    "parse_name",
    "print_reports",
    "read_reconciliation",
    "standardise_text",
    "standardiser",
]
