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

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def select_frame(
    resource: Resource,
    frame: pd.DataFrame,
    filters: Mapping[str, Sequence[str]],
    limit: int,
    offset: int,
) -> Selection:
    """:func:`select_rows` over a table held in memory (a release table, sorted by its key)."""
    mask = pd.Series(True, index=frame.index)
    for column, values in filters.items():
        if column not in resource.dimensions:
            raise ResourceError(
                f"{column!r} is not a filter of {resource.name}: filter on "
                f"{', '.join(resource.dimensions)}"
            )
        mask &= frame[column].astype(str).isin([str(v) for v in values])
    chosen = frame[mask]
    return Selection(chosen.iloc[offset : offset + limit].reset_index(drop=True), len(chosen))


@dataclass
class ReleaseReader:
    """The release's Parquet tables held in memory, read once per file (path, size, mtime).

    Release tables are aggregates (thousands of rows, not millions), so a filtered read is a
    boolean mask over a DataFrame: no SQL, no re-aggregation, a few milliseconds.
    """

    _tables: dict[str, tuple[tuple[int, int], pd.DataFrame]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def frame(self, resource: Resource) -> pd.DataFrame:
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
        with self._lock:
            self._tables[resource.location] = (stamp, df)
        return df
