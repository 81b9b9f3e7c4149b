"""The resources the sharing API serves, and row selection over them (never re-aggregation).

Two sources, both read-only:

- **aggregates**: the tables of the latest open-data release (``data/opendata/latest.json``),
  read from the release's own Parquet files. They were built, primary- and secondary-suppressed
  and audited by ``subjectdb publish``; the API only selects rows of them (filters on their key
  dimensions, paging). No sum, count or other aggregate is ever computed here, so no sequence of
  filtered requests can return a number the release did not publish, and a suppressed cell
  stays empty whatever the filters (docs/sharing.md).
- **dimensions**: the ``marts.dim_*`` reference tables of the served warehouse (codes and
  names, no person data), attached read-only through :class:`subjectdb.serving.queries.Warehouse`.

Each resource belongs to the catalogue entry of its dbt model (``release_tables`` for
aggregates, ``kind: dimension`` for dimensions); the entry's sharing type decides who may read
it (:func:`subjectdb.catalogue.grant`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from subjectdb.catalogue import Catalogue, Entry
from subjectdb.config import Paths


class ResourceError(ValueError):
    """A request names something that does not exist (resource, filter, column)."""


@dataclass(frozen=True)
class Resource:
    """One servable table: where its rows are, its fields, and which columns filter it."""

    name: str
    entry: Entry
    source: str  # "release" | "warehouse"
    location: str  # a Parquet path, or schema.table in the warehouse
    fields: tuple[dict[str, Any], ...]
    dimensions: tuple[str, ...]
    release_version: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "catalogue_identifier": self.entry.identifier,
            "title_zh": self.entry.title_zh,
            "title_en": self.entry.title_en,
            "source": self.source,
            "release_version": self.release_version,
            "dimensions": list(self.dimensions),
        }


def _latest_release(paths: Paths) -> tuple[str, Path] | None:
    """(version, folder) of the latest release (the release stage's one rule for it)."""
    from subjectdb.release import latest_release

    folder = latest_release(paths)
    if folder is None or not (folder / "datapackage.json").is_file():
        return None
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    return str(package.get("version", folder.name)), folder


def release_resources(paths: Paths, catalogue: Catalogue) -> list[Resource]:
    """The latest release's tables that a catalogue entry claims (others are not served)."""
    latest = _latest_release(paths)
    if latest is None:
        return []
    version, folder = latest
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    out = []
    for res in package.get("resources", []):
        name = str(res.get("name", ""))
        if not name.endswith("-parquet"):
            continue
        table = name.removesuffix("-parquet")
        entry = catalogue.for_release_table(table)
        if entry is None:
            continue
        schema = res.get("schema") or {}
        standards = {f.name: f.standard for f in entry.fields}
        fields = tuple(
            {
                "name": f["name"],
                "type": f.get("type", ""),
                "description": f.get("description", ""),
                "standard": standards.get(f["name"], ""),
                "constraints": f.get("constraints", {}),
            }
            for f in schema.get("fields", [])
        )
        out.append(
            Resource(
                name=table,
                entry=entry,
                source="release",
                location=str(folder / res["path"]),
                fields=fields,
                dimensions=tuple(schema.get("primaryKey") or ()),
                release_version=version,
            )
        )
    return out


def dimension_resources(
    columns: Mapping[str, Sequence[tuple[str, str]]], catalogue: Catalogue
) -> list[Resource]:
    """Warehouse dimension tables with a ``kind: dimension`` catalogue entry.

    ``columns`` maps a table name in ``marts`` to its (column, type) list as served.
    """
    out = []
    for entry in catalogue:
        if entry.kind != "dimension" or entry.model not in columns:
            continue
        docs = {f.name: f for f in entry.fields}
        fields = tuple(
            {
                "name": col,
                "type": typ,
                "description": docs[col].description if col in docs else "",
                "standard": docs[col].standard if col in docs else "",
                "constraints": {},
            }
            for col, typ in columns[entry.model]
        )
        dims = tuple(col for col, typ in columns[entry.model] if typ.upper() == "VARCHAR")
        out.append(
            Resource(
                name=entry.model,
                entry=entry,
                source="warehouse",
                location=f"marts.{entry.model}",
                fields=fields,
                dimensions=dims,
            )
        )
    return out


@dataclass
class Selection:
    """The rows of one page and the number of rows matching the filters."""

    frame: pd.DataFrame
    total: int


def _where(resource: Resource, filters: Mapping[str, Sequence[str]]) -> tuple[str, list[Any]]:
    conds, params = [], []
    for column, values in filters.items():
        if column not in resource.dimensions:
            raise ResourceError(
                f"{column!r} is not a filter of {resource.name}: filter on "
                f"{', '.join(resource.dimensions)}"
            )
        conds.append(f'list_contains(?::varchar[], cast("{column}" as varchar))')
        params.append([str(v) for v in values])
    return (" where " + " and ".join(conds) if conds else ""), params


def select_rows(
    resource: Resource,
    filters: Mapping[str, Sequence[str]],
    limit: int,
    offset: int,
    run: Any,
) -> Selection:
    """Rows of ``resource`` matching every filter (values of one filter: any of), one page.

    Only selection and paging: rows come back exactly as stored. ``run(sql, params)`` runs
    the SQL (DuckDB) and returns a DataFrame; the source relation is ``src``.
    """
    where, params = _where(resource, filters)
    order = ", ".join(f'"{d}"' for d in resource.dimensions) or "1"
    total = int(run(f"select count(*) as n from src{where}", params)["n"].iloc[0])
    page = run(
        f"select * from src{where} order by {order} limit ? offset ?", [*params, limit, offset]
    )
    return Selection(page, total)


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (missing values None, dates ISO 8601)."""
    out = frame.astype(object).where(frame.notna(), None)
    return [{k: _jsonable(v) for k, v in r.items()} for r in out.to_dict(orient="records")]


def json_bytes(content: Any) -> bytes:
    """JSON exactly as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


@dataclass(frozen=True)
class ReleaseTable:
    """A release table in memory, sorted by its key, with what a filtered read needs ready.

    ``index`` maps each dimension to ``{value as text: row positions}`` (a filter is a union of
    position lists per dimension, intersected across dimensions: no scan of the table);
    ``rows_json`` holds each row already rendered as JSON, so a JSON page is a join of bytes.
    """

    frame: pd.DataFrame
    index: dict[str, dict[str, np.ndarray]]
    rows_json: list[bytes]

    @classmethod
    def build(cls, frame: pd.DataFrame, dimensions: Sequence[str]) -> ReleaseTable:
        index = {}
        for dim in dimensions:
            if dim in frame.columns:
                groups = frame.groupby(frame[dim].astype(str), sort=False).indices
                index[dim] = {str(k): np.asarray(v, dtype=np.int64) for k, v in groups.items()}
        rows_json = [json_bytes(r) for r in records(frame)]
        return cls(frame, index, rows_json)

    def positions(self, resource: Resource, filters: Mapping[str, Sequence[str]]) -> np.ndarray:
        """Row positions (ascending: key order) matching every filter (one filter: any value)."""
        chosen: np.ndarray | None = None
        for column, values in filters.items():
            if column not in resource.dimensions or column not in self.index:
                raise ResourceError(
                    f"{column!r} is not a filter of {resource.name}: filter on "
                    f"{', '.join(resource.dimensions)}"
                )
            by_value = self.index[column]
            parts = [by_value[str(v)] for v in dict.fromkeys(values) if str(v) in by_value]
            hit = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
            chosen = hit if chosen is None else np.intersect1d(chosen, hit, assume_unique=True)
        return np.arange(len(self.frame)) if chosen is None else chosen

    def page_json(self, positions: np.ndarray, meta: dict[str, Any]) -> bytes:
        """``{**meta, "rows": [...]}`` as JSON, the rows taken from ``rows_json``."""
        head = json_bytes(meta)
        rows = b",".join(self.rows_json[i] for i in positions.tolist())
        return head[:-1] + (b',"rows":[' if len(head) > 2 else b'{"rows":[') + rows + b"]}"


def select_frame(
    resource: Resource,
    table: ReleaseTable,
    filters: Mapping[str, Sequence[str]],
    limit: int,
    offset: int,
) -> tuple[np.ndarray, int]:
    """:func:`select_rows` over a release table in memory: (positions of the page, total)."""
    chosen = table.positions(resource, filters)
    return chosen[offset : offset + limit], len(chosen)


@dataclass
class ReleaseReader:
    """The release's Parquet tables held in memory, read once per file (path, size, mtime).

    Release tables are aggregates (thousands of rows, not millions), so a filtered read is a
    look-up in per-dimension indexes over a table in memory (:class:`ReleaseTable`): no SQL, no
    re-aggregation, well under a millisecond.
    """

    _tables: dict[str, tuple[tuple[int, int], ReleaseTable]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def table(self, resource: Resource) -> ReleaseTable:
        path = Path(resource.location)
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._tables.get(resource.location)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        df = pd.read_parquet(path)
        order = [d for d in resource.dimensions if d in df.columns]
        if order:
            df = df.sort_values(order, kind="stable").reset_index(drop=True)
        table = ReleaseTable.build(df, resource.dimensions)
        with self._lock:
            self._tables[resource.location] = (stamp, table)
        return table

    def frame(self, resource: Resource) -> pd.DataFrame:
        return self.table(resource).frame
