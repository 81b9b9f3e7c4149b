"""The dbt metadata of a release: the served build's manifest and its column docs.

:func:`find_manifest` is the one rule for "the manifest of the served build" (the dbt run that
made the warehouse being read, recorded in ``main.build_info``: :func:`build_id_of` on an open
connection, :func:`served_build_id` on the file); :class:`ModelDocs` reads that manifest's
model and column docs and turns them into the Table Schema fields of the published columns.
The dashboard's metric definitions come from the same manifest through the same two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.release import disclosure
from subjectdb.release.specs import ALL, FieldSpec, PublishError

MANIFEST_NAME = "manifest.json"


def find_manifest(paths: Paths, build_id: str | None = None) -> Path:
    """The dbt manifest describing the served warehouse's models.

    ``subjectdb build`` runs dbt in ``build/dbt-<build id>/`` and records the build id in the
    warehouse (``main.build_info``): that run's ``target/manifest.json`` is the one. Without a
    recorded build, the newest manifest under the build folder, else the project's
    ``target/manifest.json`` (a ``dbt parse``/``dbt build`` in the repository).
    """
    if build_id:
        exact = paths.build_dir / f"dbt-{build_id}" / "target" / MANIFEST_NAME
        if exact.is_file():
            return exact
    found = (
        sorted(
            (p for p in paths.build_dir.rglob(MANIFEST_NAME) if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if paths.build_dir.exists()
        else []
    )
    candidates = [*reversed(found), PROJECT_DIR / "target" / MANIFEST_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise PublishError(
        f"no dbt manifest found under {paths.build_dir} or {PROJECT_DIR / 'target'}: the "
        "column documentation comes from it; run `subjectdb build` (or `dbt parse`) first"
    )


def build_id_of(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the build that made the warehouse attached as ``wh`` (``main.build_info``).

    ``None`` when the warehouse records no build (one not made by ``subjectdb build``).
    """
    exists = con.execute(
        "select count(*) from information_schema.tables where table_catalog = 'wh' "
        "and table_schema = 'main' and table_name = 'build_info'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(
        "select build_id from wh.main.build_info order by built_at desc limit 1"
    ).fetchone()
    return str(row[0]) if row else None


def served_build_id(warehouse: Path) -> str | None:
    """:func:`build_id_of` a warehouse file, opened read-only for this one query.

    For readers without a connection of their own to the warehouse (the dashboard's metric
    definitions); ``None`` when the file is missing or unreadable.
    """
    if not warehouse.is_file():
        return None
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        quoted = warehouse.as_posix().replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS wh (READ_ONLY)")
        return build_id_of(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


@dataclass
class ModelDocs:
    """Column docs, types and test-derived constraints of the dbt models, from manifest.json."""

    columns: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    generated_at: str = ""
    dbt_version: str = ""

    @classmethod
    def load(cls, path: Path) -> ModelDocs:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PublishError(f"cannot read dbt manifest {path}: {exc}") from exc
        docs = cls(
            generated_at=str(manifest.get("metadata", {}).get("generated_at", "")),
            dbt_version=str(manifest.get("metadata", {}).get("dbt_version", "")),
        )
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") != "model":
                continue
            name = node.get("name", "")
            docs.models[name] = node.get("description", "") or ""
            for col_name, col in (node.get("columns") or {}).items():
                entry = {
                    "description": (col.get("description") or "").strip(),
                    "data_type": (col.get("data_type") or "").lower(),
                    "required": any(
                        c.get("type") == "not_null" for c in col.get("constraints") or []
                    ),
                    "enum": None,
                }
                docs.columns[(name, col_name.lower())] = entry
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") != "test":
                continue
            meta = node.get("test_metadata") or {}
            kwargs = meta.get("kwargs") or {}
            column = (kwargs.get("column_name") or node.get("column_name") or "").lower()
            attached = (node.get("attached_node") or "").split(".")[-1]
            entry = docs.columns.get((attached, column))
            if entry is None:
                continue
            if meta.get("name") == "not_null":
                entry["required"] = True
            elif meta.get("name") == "accepted_values":
                values = kwargs.get("values") or (kwargs.get("arguments") or {}).get("values")
                if values:
                    entry["enum"] = [str(v) for v in values]
        return docs

    def field_schema(self, spec: FieldSpec, table: str) -> dict[str, Any]:
        """The Table Schema field of one published column."""
        out: dict[str, Any] = {"name": spec.name, "type": spec.type}
        description = spec.description
        constraints: dict[str, Any] = {}
        if spec.source is not None:
            entry = self.columns.get((spec.source[0], spec.source[1].lower()))
            if entry is None and spec.description is None:
                raise PublishError(
                    f"{table}.{spec.name}: column {spec.source[1]} of dbt model "
                    f"{spec.source[0]} is not in the dbt manifest (document it in the model's "
                    "YAML and rebuild)"
                )
            if entry is not None:
                if entry["description"]:
                    description = entry["description"]
                elif description is None:
                    raise PublishError(
                        f"{table}.{spec.name}: column {spec.source[1]} of dbt model "
                        f"{spec.source[0]} has no description in the dbt docs"
                    )
                if entry["enum"]:
                    values = list(entry["enum"])
                    if spec.has_total:
                        values.append(ALL)
                    constraints["enum"] = values
                out["x-dbt-source"] = f"{spec.source[0]}.{spec.source[1]}"
                if entry["data_type"]:
                    out["x-dbt-data-type"] = entry["data_type"]
        if spec.has_total:
            description = f"{description} `{ALL}` = total over every value."
        out["description"] = description or ""
        if spec.key:
            constraints["required"] = True
        if spec.minimum is not None:
            constraints["minimum"] = spec.minimum
        if spec.status_of is not None:
            constraints["enum"] = list(disclosure.RELEASE_STATUSES)
        if constraints:
            out["constraints"] = constraints
        return out
