"""Transitional: the names ``subjectdb.bench.harness`` had, now in the modules of
``subjectdb.bench`` (removed once its callers import from the package)."""

from subjectdb.bench import *  # noqa: F403
from subjectdb.bench import __all__
from subjectdb.bench.data import batch_files as _batch_files
from subjectdb.bench.report import render_table
from subjectdb.serving.serve import CHROMIUM

__all__ = [*__all__, "CHROMIUM", "_batch_files", "render_table"]
