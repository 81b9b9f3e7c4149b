"""Stage 5 — serving: read-only queries over the served warehouse, boundaries, the server.

The public surface: :mod:`subjectdb.serving.queries` (every query, called by name by the
dashboard and the benchmark), :mod:`subjectdb.serving.geo` (boundaries),
:mod:`subjectdb.serving.serve` (the Streamlit command line), and the types below, which are
imported on first use so that importing the server's command line stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Warehouse": "subjectdb.serving.connection",
    "WarehouseUnavailable": "subjectdb.serving.connection",
    "Filters": "subjectdb.serving.filters",
    "Result": "subjectdb.serving.filters",
    "THRESHOLD": "subjectdb.serving.suppression",
}

__all__ = ["THRESHOLD", "Filters", "Result", "Warehouse", "WarehouseUnavailable"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
