"""Shared leaf: the government information resource catalogue (政务信息资源目录).

Every shareable resource has a catalogue entry kept with its dbt model, in the model's YAML::

    config:
      meta:
        catalogue:
          identifier: SJ-330000-0001          # resource code, unique
          kind: table                          # table | dimension | verification | feedback
          title_zh: … ; title_en: …
          description_zh: … ; description_en: …
          provider: 省大数据发展管理局          # providing department
          update_cycle: daily                  # daily | monthly | yearly | on_release …
          sharing_type: 有条件共享              # 无条件共享 | 有条件共享 | 不予共享
          departments: [市场监管局]             # 有条件共享: departments granted
          purposes: [市场主体登记核验]           # 有条件共享: purposes granted
          detail_departments: [公安局]          # verification: may also receive county/region
          opening_type: 无条件开放              # 无条件开放 | 有条件开放 | 不予开放
          release_tables: [population]         # open-data release tables cut from this model
          standards: {region_code: GB/T 2260}  # column → data standard

This module reads the entries — from the dbt manifest of the served build when one is given
(the ``meta`` dbt compiled), otherwise by parsing the models' YAML — and states the rules both
the open-data release and the sharing API enforce: :func:`release_refusals` (what publish may
not publish) and :func:`grant` (what a department may be served). It imports no pipeline stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subjectdb.config import PROJECT_DIR

SHARING_TYPES = ("无条件共享", "有条件共享", "不予共享")
OPENING_TYPES = ("无条件开放", "有条件开放", "不予开放")
SHARING_EN = {"无条件共享": "unconditional", "有条件共享": "conditional", "不予共享": "not shared"}
OPENING_EN = {"无条件开放": "unconditional", "有条件开放": "conditional", "不予开放": "not opened"}
KINDS = ("table", "dimension", "verification", "feedback")
REQUIRED = (
    "identifier",
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "provider",
    "update_cycle",
    "sharing_type",
    "opening_type",
)


class CatalogueError(ValueError):
    """A catalogue entry is malformed, or a rule of the catalogue refuses an action."""


@dataclass(frozen=True)
class Field:
    """One field of a resource: its column, description, type and data standard."""

    name: str
    description: str = ""
    data_type: str = ""
    standard: str = ""


@dataclass(frozen=True)
class Entry:
    """One resource of the catalogue (one dbt model)."""

    model: str
    identifier: str
    kind: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    provider: str
    update_cycle: str
    sharing_type: str
    opening_type: str
    departments: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    detail_departments: tuple[str, ...] = ()
    release_tables: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fields as a list of dicts; English names of the types added)."""
        return {
            "identifier": self.identifier,
            "model": self.model,
            "kind": self.kind,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "description_zh": self.description_zh,
            "description_en": self.description_en,
            "provider": self.provider,
            "update_cycle": self.update_cycle,
            "sharing_type": self.sharing_type,
            "sharing_type_en": SHARING_EN[self.sharing_type],
            "departments": list(self.departments),
            "purposes": list(self.purposes),
            "detail_departments": list(self.detail_departments),
            "opening_type": self.opening_type,
            "opening_type_en": OPENING_EN[self.opening_type],
            "release_tables": list(self.release_tables),
            "fields": [f.__dict__ for f in self.fields],
        }


@dataclass
class Catalogue:
    """Every catalogue entry, by dbt model name; ``source`` says where they were read from."""

    entries: dict[str, Entry] = field(default_factory=dict)
    source: str = ""

    def by_identifier(self, identifier: str) -> Entry | None:
        return next((e for e in self.entries.values() if e.identifier == identifier), None)

    def for_release_table(self, table: str) -> Entry | None:
        """The entry whose model the open-data table ``table`` is cut from."""
        return next((e for e in self.entries.values() if table in e.release_tables), None)

    def __iter__(self) -> Iterator[Entry]:
        """Entries sorted by identifier."""
        return iter(sorted(self.entries.values(), key=lambda e: e.identifier))

    def __len__(self) -> int:
        return len(self.entries)


# --------------------------------------------------------------------------- parsing


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise CatalogueError(f"{where}: catalogue.{key} must be a list of strings")


def parse_entry(
    model: str, raw: dict[str, Any], columns: dict[str, dict[str, Any]] | None = None
) -> Entry:
    """One catalogue entry from a model's ``meta.catalogue`` and its documented columns."""
    where = f"model {model}"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: meta.catalogue must be a mapping")
    missing = [k for k in REQUIRED if not str(raw.get(k) or "").strip()]
    if missing:
        raise CatalogueError(f"{where}: catalogue entry lacks {', '.join(missing)}")
    sharing, opening = str(raw["sharing_type"]), str(raw["opening_type"])
    if sharing not in SHARING_TYPES:
        raise CatalogueError(f"{where}: sharing_type {sharing!r} is not one of {SHARING_TYPES}")
    if opening not in OPENING_TYPES:
        raise CatalogueError(f"{where}: opening_type {opening!r} is not one of {OPENING_TYPES}")
    kind = str(raw.get("kind") or "table")
    if kind not in KINDS:
        raise CatalogueError(f"{where}: kind {kind!r} is not one of {KINDS}")
    departments = _strings(raw.get("departments"), where, "departments")
    purposes = _strings(raw.get("purposes"), where, "purposes")
    if sharing == "有条件共享" and not (departments or purposes):
        raise CatalogueError(f"{where}: 有条件共享 needs departments or purposes granted")
    release_tables = _strings(raw.get("release_tables"), where, "release_tables")
    standards = raw.get("standards") or {}
    if not isinstance(standards, dict):
        raise CatalogueError(f"{where}: catalogue.standards must map columns to standards")
    fields = tuple(
        Field(
            name=name,
            description=" ".join(str(col.get("description") or "").split()),
            data_type=str(col.get("data_type") or ""),
            standard=str(standards.get(name) or ""),
        )
        for name, col in (columns or {}).items()
    )
    return Entry(
        model=model,
        identifier=str(raw["identifier"]),
        kind=kind,
        title_zh=str(raw["title_zh"]),
        title_en=str(raw["title_en"]),
        description_zh=" ".join(str(raw["description_zh"]).split()),
        description_en=" ".join(str(raw["description_en"]).split()),
        provider=str(raw["provider"]),
        update_cycle=str(raw["update_cycle"]),
        sharing_type=sharing,
        opening_type=opening,
        departments=departments,
        purposes=purposes,
        detail_departments=_strings(raw.get("detail_departments"), where, "detail_departments"),
        release_tables=release_tables,
        fields=fields,
    )


def _add(cat: Catalogue, entry: Entry) -> None:
    for other in cat.entries.values():
        if other.identifier == entry.identifier:
            raise CatalogueError(
                f"catalogue identifier {entry.identifier} is used by {other.model} and "
                f"{entry.model}"
            )
        clash = set(other.release_tables) & set(entry.release_tables)
        if clash:
            raise CatalogueError(
                f"release table(s) {sorted(clash)} claimed by {other.model} and {entry.model}"
            )
    cat.entries[entry.model] = entry


def from_manifest(manifest: Path) -> Catalogue:
    """The catalogue as dbt compiled it into ``manifest.json`` (the served build's)."""
    try:
        data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"cannot read dbt manifest {manifest}: {exc}") from exc
    cat = Catalogue(source=str(manifest))
    for node in (data.get("nodes") or {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        raw = meta.get("catalogue")
        if raw is None:
            continue
        _add(cat, parse_entry(node["name"], raw, node.get("columns") or {}))
    return cat


def from_yaml(models_dir: Path | None = None) -> Catalogue:
    """The catalogue parsed from the models' YAML files (no dbt run needed)."""
    import yaml

    root = models_dir or PROJECT_DIR / "models"
    cat = Catalogue(source=str(root))
    for path in sorted(root.rglob("*.yml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CatalogueError(f"cannot parse {path}: {exc}") from exc
        for model in doc.get("models") or []:
            config = model.get("config") or {}
            meta = config.get("meta") or model.get("meta") or {}
            raw = meta.get("catalogue")
            if raw is None:
                continue
            columns = {c["name"]: c for c in model.get("columns") or [] if "name" in c}
            _add(cat, parse_entry(model["name"], raw, columns))
    return cat


def load_catalogue(manifest: Path | None = None, models_dir: Path | None = None) -> Catalogue:
    """The catalogue from ``manifest`` when it exists and holds entries, else from the YAML."""
    if manifest is not None and Path(manifest).is_file():
        cat = from_manifest(manifest)
        if len(cat):
            return cat
    return from_yaml(models_dir)


# --------------------------------------------------------------------------- rules


def release_refusals(catalogue: Catalogue, tables: Iterable[str]) -> list[str]:
    """Why each of the open-data ``tables`` may not be published (empty: all may).

    An open-data release is downloadable by anyone without conditions, so a table is published
    only when the catalogue entry it is cut from says 无条件开放; 有条件开放 resources are
    opened on application (through the sharing API), 不予开放 ones never. A table no entry
    claims is refused too: nothing leaves the warehouse uncatalogued.
    """
    out = []
    for table in tables:
        entry = catalogue.for_release_table(table)
        if entry is None:
            out.append(f"{table}: no catalogue entry lists it in release_tables")
        elif entry.opening_type != "无条件开放":
            out.append(
                f"{table}: resource {entry.identifier} ({entry.model}) is "
                f"{entry.opening_type} ({OPENING_EN[entry.opening_type]}); the open-data "
                "release publishes only 无条件开放 resources"
            )
    return out


def check_release(catalogue: Catalogue, tables: Sequence[str]) -> None:
    """Raise :class:`CatalogueError` when the catalogue refuses any of ``tables``."""
    refusals = release_refusals(catalogue, tables)
    if refusals:
        raise CatalogueError("the catalogue refuses to open: " + "; ".join(refusals))


def grant(entry: Entry, department: str, purposes: Iterable[str] = ()) -> bool:
    """Whether the sharing type of ``entry`` lets ``department`` (with ``purposes``) use it."""
    if entry.sharing_type == "无条件共享":
        return True
    if entry.sharing_type == "不予共享":
        return False
    return department in entry.departments or bool(set(purposes) & set(entry.purposes))


def grants_detail(entry: Entry, department: str) -> bool:
    """Whether ``department`` may receive the detail answers of a verification resource."""
    return department in entry.detail_departments


def rows(catalogue: Catalogue, lang: str = "zh") -> list[dict[str, str]]:
    """One flat row per resource (for CSV and tables), titles in ``lang`` (zh or en)."""
    if lang not in ("zh", "en"):
        raise CatalogueError(f"unknown language {lang!r}: zh or en")
    out = []
    for e in catalogue:
        d = e.as_dict()
        out.append(
            {
                "identifier": e.identifier,
                "model": e.model,
                "kind": e.kind,
                "title": d[f"title_{lang}"],
                "description": d[f"description_{lang}"],
                "provider": e.provider,
                "update_cycle": e.update_cycle,
                "sharing_type": e.sharing_type if lang == "zh" else d["sharing_type_en"],
                "departments": ";".join(e.departments),
                "purposes": ";".join(e.purposes),
                "opening_type": e.opening_type if lang == "zh" else d["opening_type_en"],
                "release_tables": ";".join(e.release_tables),
                "fields": ";".join(
                    f.name + (f" ({f.standard})" if f.standard else "") for f in e.fields
                ),
            }
        )
    return out
