"""What the served build's latest open-data release suppresses, withheld on the dashboard too.

The release protects its cells with secondary (complementary) suppression: cells with enough
applicants are suppressed so that no small cell can be recovered from the published totals. A
dashboard that showed one of those cells would undo the protection. The release's
``service_performance`` table is one row per year × service item; every item-year cell it
suppresses (primary or complementary) is suppressed on the dashboard in every item row whose
period touches that year (:func:`withhold_released_items`), whatever the other filters (a
filtered part of a suppressed cell could be added back up to it).

"The served build's latest release" is the newest release whose ``datapackage.json`` records the
served build's id (``dbt.warehouse_build_id``). Without one (nothing published from this build)
nothing more is withheld: the primary rule on exact counts still decides every row.

Functions:

- ``released_suppressed_items(wh) -> dict[int, frozenset[str]]`` — year → item codes suppressed;
- ``withhold_released_items(wh, f, df) -> DataFrame`` — ``df`` (a column ``item`` and a column
  ``distinct_applicants``) with the count emptied on those items, so that
  :func:`~subjectdb.serving.suppression.suppress` suppresses them; adds ``released_suppressed``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from subjectdb.config import Paths
from subjectdb.release import disclosure, list_releases
from subjectdb.release.specs import PERFORMANCE
from subjectdb.serving.connection import DB, Warehouse
from subjectdb.serving.filters import Filters

log = logging.getLogger(__name__)


def served_build(wh: Warehouse) -> str | None:
    """The id of the served build (``main.build_info``), ``None`` when it records none."""
    if not wh.has_table("main", "build_info"):
        return None
    df = wh.df(f"SELECT build_id FROM {DB}.main.build_info ORDER BY built_at DESC LIMIT 1")
    return str(df["build_id"].iloc[0]) if len(df) else None


def build_release(paths: Paths, build_id: str | None) -> Path | None:
    """The newest release made from the build ``build_id`` (``None``: none, or no build id)."""
    if build_id is None:
        return None
    for release in list_releases(paths):
        dbt_meta = release["package"].get("dbt") or {}
        if dbt_meta.get("warehouse_build_id") == build_id:
            return Path(release["folder"])
    return None


def _stamp(paths: Paths) -> str:
    """Changes whenever a release is added, removed or re-pointed."""
    parts = []
    for p in (paths.releases, paths.opendata / "latest.json"):
        try:
            parts.append(str(p.stat().st_mtime_ns))
        except OSError:
            parts.append("-")
    return "/".join(parts)


def _read(paths: Paths, build_id: str | None) -> dict[int, frozenset[str]]:
    folder = build_release(paths, build_id)
    if folder is None:
        return {}
    file = folder / "data" / f"{PERFORMANCE}.parquet"
    try:
        df = pd.read_parquet(file, columns=["year", "item_code", "status"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("cannot read %s (%s): no release suppression applied", file, exc)
        return {}
    hidden = df[df["status"].fillna("").astype(str) != disclosure.PUBLISHED]
    out: dict[int, set[str]] = {}
    for year, item in zip(hidden["year"], hidden["item_code"], strict=True):
        out.setdefault(int(year), set()).add(str(item))
    return {y: frozenset(items) for y, items in out.items()}


def released_suppressed_items(wh: Warehouse) -> dict[int, frozenset[str]]:
    """Year → the item codes whose item-year cell the served build's latest release
    suppresses (empty when no release publishes this build)."""
    paths = Paths(wh.path.parent)
    key = f"released_suppressed_items:{_stamp(paths)}"
    value: Any = wh.memo(key, lambda w: _read(paths, served_build(w)))
    return value  # type: ignore[no-any-return]


def withhold_released_items(wh: Warehouse, f: Filters, df: pd.DataFrame) -> pd.DataFrame:
    """Empty ``distinct_applicants`` of the item rows whose item-year cell the release
    suppresses for a year the period of ``f`` touches; adds the flag ``released_suppressed``."""
    suppressed = released_suppressed_items(wh)
    items: set[str] = set()
    for year in range(f.month_from.year, f.month_to.year + 1):
        items |= suppressed.get(year, frozenset())
    flag = df["item"].astype(str).isin(items).to_numpy() if items else np.zeros(len(df), bool)
    counts = pd.to_numeric(df["distinct_applicants"], errors="coerce").to_numpy(dtype="float64")
    return df.assign(distinct_applicants=np.where(flag, np.nan, counts), released_suppressed=flag)
