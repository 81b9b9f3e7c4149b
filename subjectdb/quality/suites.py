"""Raw-suite definitions: ``expectations/raw_<extract>.json``, their parameters and domains.

The suites are version-controlled GX suite JSON (``type``, ``kwargs``, ``meta``, ``severity``);
enumeration value sets are ``$PARAMETER`` references filled from the seeds at run time
(:func:`suite_parameters`), so the seeds stay the single source of the code lists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subjectdb.config import PROJECT_DIR, SEEDS_DIR
from subjectdb.quality.results import ValidationError
from subjectdb.seeds import SeedError, read_seed

SUITES_DIR = PROJECT_DIR / "expectations"


@dataclass(frozen=True)
class SuiteDef:
    """One raw suite: its extract, record key, meta and expectation entries."""

    name: str
    extract: str
    record_key: str
    meta: dict[str, Any]
    expectations: list[dict[str, Any]]

    def row_level(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if e.get("meta", {}).get("level") != "batch"]

    def batch_level(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if e.get("meta", {}).get("level") == "batch"]


def load_suite_def(extract: str, suites_dir: Path = SUITES_DIR) -> SuiteDef:
    """The version-controlled raw suite of an extract (``expectations/raw_<extract>.json``)."""
    path = suites_dir / f"raw_{extract}.json"
    if not path.exists():
        raise ValidationError(f"suite definition {path} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: line {exc.lineno}: {exc.msg}") from exc
    meta = data.get("meta", {})
    return SuiteDef(
        name=data["name"],
        extract=meta.get("extract", extract),
        record_key=meta["record_key"],
        meta=meta,
        expectations=data["expectations"],
    )


def columns_of(kwargs: dict[str, Any]) -> list[str]:
    """Every column an expectation reads (its row condition's column included)."""
    cols: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(key), str):
            cols.append(kwargs[key])
    cols.extend(kwargs.get("column_list", []) or [])
    cond = kwargs.get("row_condition")
    if isinstance(cond, dict) and isinstance(cond.get("column"), dict):
        cols.append(cond["column"]["name"])
    return cols


def domain_columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation checks (its row condition's column excluded)."""
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    return cols + list(kwargs.get("column_list", []) or [])


def domain_label(kwargs: dict[str, Any]) -> str:
    """The column(s) an expectation checks as one label (``a`` or ``a,b``)."""
    if isinstance(kwargs.get("column"), str):
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return ""


def _seed(name: str, seeds_dir: Path, columns: Iterable[str]) -> list[dict[str, str]]:
    try:
        return read_seed(name, seeds_dir, columns)
    except SeedError as exc:
        raise ValidationError(str(exc)) from exc


def suite_parameters(seeds_dir: Path = SEEDS_DIR) -> dict[str, Any]:
    """Enumeration value sets for the suites' ``$PARAMETER`` references, from the seeds."""

    def column(name: str, col: str) -> list[str]:
        return [row[col] for row in _seed(name, seeds_dir, [col])]

    def enum(name: str, enum_name: str) -> list[str]:
        rows = _seed(name, seeds_dir, ["enum", "value_zh"])
        values = [r["value_zh"] for r in rows if r["enum"] == enum_name]
        if not values:
            raise ValidationError(f"reference seed has no values for enum {enum_name!r}")
        return values

    person, ent = "ref_person_enums", "ref_enterprise_enums"
    return {
        "channels": column("ref_channels", "channel_name_zh"),
        "case_statuses": column("ref_case_statuses", "status_name_zh"),
        "ratings": [int(r) for r in column("ref_ratings", "rating")],
        "industry_sections": column("ref_industries", "industry_section"),
        "applicant_types": enum(person, "applicant_type"),
        "sexes": enum(person, "sex"),
        "person_statuses": enum(person, "status"),
        "outcomes": enum(person, "outcome"),
        "elicence_reused": enum(person, "elicence_reused"),
        "legal_forms": enum(ent, "legal_form"),
        "size_classes": enum(ent, "size_class"),
        "enterprise_statuses": enum(ent, "status"),
    }


def batch_cutoff(batch_id: str) -> str:
    """End of the batch's cut-off day (``_batch_id`` = YYYYMMDD) as ``YYYY-MM-DD HH:MM:SS``."""
    try:
        day = dt.datetime.strptime(batch_id, "%Y%m%d")
    except ValueError as exc:
        raise ValidationError(f"batch id {batch_id!r} is not a YYYYMMDD cut-off date") from exc
    return (day + dt.timedelta(days=1, microseconds=-1)).strftime("%Y-%m-%d %H:%M:%S.%f")
