"""What lets the raw suites skip a batch: fingerprints of their inputs, kept in a state file.

A batch whose landing files, suite definition (suite JSON, seed-derived value sets, the seeds and
code of the custom expectations) and usual row-count range are unchanged since its last
successful validation, and whose quarantine file is intact, need not be re-checked. State:
``validation/raw_suite_state.json`` (written atomically).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from subjectdb.config import SEEDS_DIR, Paths
from subjectdb.files import write_text_atomic
from subjectdb.quality.landing import LandedBatch, quarantine_path
from subjectdb.quality.results import jsonable
from subjectdb.quality.suites import SUITES_DIR
from subjectdb.seeds import seed_path

STATE_VERSION = 1
"""Bump when a change of the raw-suite code changes their results (invalidates the skip state);
the custom expectations' code is fingerprinted itself."""

CUSTOM_EXPECTATIONS_FILE = Path(__file__).with_name("expectations.py")


def current_seeds_dir() -> Path:
    """The seeds folder the custom expectations check against, without importing GX.

    ``subjectdb.quality.expectations`` (which imports GX, several seconds) is only imported when a
    batch is really validated; until then the seeds folder is the project default.
    """
    mod = sys.modules.get("subjectdb.quality.expectations")
    return Path(mod.seeds_dir()) if mod is not None else SEEDS_DIR.resolve()


REFERENCE_SEEDS = ("ref_regions.csv", "ref_region_code_changes.csv", "ref_service_items.csv")
"""Seeds read by the custom expectations (``subjectdb.quality.expectations.reference``)."""


def suite_fingerprint(extract: str, params: dict[str, Any]) -> str:
    """sha256 of everything a raw suite's result depends on besides the batch itself.

    The suite JSON, the seed-derived value sets, the seeds of the custom expectations, the
    custom expectations' code and ``STATE_VERSION``.
    """
    h = hashlib.sha256(f"v{STATE_VERSION}".encode())
    h.update((SUITES_DIR / f"raw_{extract}.json").read_bytes())
    h.update(json.dumps(jsonable(params), sort_keys=True, ensure_ascii=False).encode())
    for name in REFERENCE_SEEDS:
        path = seed_path(name, current_seeds_dir())
        h.update(name.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    h.update(CUSTOM_EXPECTATIONS_FILE.read_bytes())
    return h.hexdigest()


def batch_fingerprint(
    batch: LandedBatch, suite_fp: str, row_range: tuple[int, int | None, str]
) -> str:
    """Landing files (name, size, mtime) + suite fingerprint + the usual row-count range."""
    parts: list[Any] = [suite_fp, list(row_range)]
    for f in batch.files:
        st = f.stat()
        parts.append([f.name, st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _state_path(paths: Paths) -> Path:
    return paths.validation / "raw_suite_state.json"


def load_state(paths: Paths) -> dict[str, Any]:
    """The batches' entries of the last run (empty when missing, unreadable or outdated)."""
    path = _state_path(paths)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return {}
    batches = state.get("batches")
    return batches if isinstance(batches, dict) else {}


def save_state(paths: Paths, batches: dict[str, Any]) -> None:
    """Replace the state file with these batches' entries."""
    text = json.dumps({"version": STATE_VERSION, "batches": batches}, ensure_ascii=False)
    write_text_atomic(_state_path(paths), text)


def reusable(paths: Paths, entry: Any, batch: LandedBatch, fingerprint: str) -> bool:
    """The batch's last successful validation still holds (same inputs, quarantine intact)."""
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
        return False
    qfile = quarantine_path(paths, batch.extract, batch.batch_id)
    try:
        return bool(pq.read_metadata(qfile).num_rows == entry.get("quarantined"))
    except (OSError, pa.ArrowException):
        return False
