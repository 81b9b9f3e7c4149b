"""Open-data releases for researchers: publish one, list them, name the latest.

``publish(paths)`` reads the served warehouse read-only (``marts.subj_*`` subject tables, with
labels from the ``marts.dim_*`` dimensions), builds six aggregated tables in SQL, applies
primary and secondary cell suppression (:mod:`subjectdb.release.disclosure`) across all of them
at once, and writes a versioned release folder ``data/opendata/releases/<version>/`` with
Parquet and CSV files, a Frictionless Data Package (v2), a data dictionary, READMEs (zh/en),
CITATION.cff, a DCAT JSON-LD catalog, a changelog, the stored validation result and SHA256SUMS.
The release is assembled in a scratch folder and renamed into place, so a release folder is
complete or absent; ``data/opendata/latest.json`` then names the newest release. See
docs/opendata.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from subjectdb.catalogue import CatalogueError, check_release, load_catalogue
from subjectdb.config import Paths
from subjectdb.files import fsync_path, replace_atomic, sha256_file, write_text_atomic
from subjectdb.release import disclosure
from subjectdb.release.changelog import changelog
from subjectdb.release.manifest import ModelDocs, build_id_of, find_manifest, served_build_id
from subjectdb.release.package import (
    DATAPACKAGE_PROFILE,
    LICENSE,
    PUBLISHER,
    citation_cff,
    dcat_catalog,
    dictionary_md,
    markdown_html,
    readme_md,
    region_code_list,
    relative_path,
    table_resources,
    validate_package,
    write_table,
)
from subjectdb.release.reads import check_tables, connect, read_coverage
from subjectdb.release.specs import TABLES, PublishError
from subjectdb.release.tables import build_tables

TZ = ZoneInfo("Asia/Shanghai")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")


def list_releases(paths: Paths) -> list[dict[str, Any]]:
    """Published releases, newest first: version, folder, created, size, validation."""
    out = []
    if not paths.releases.exists():
        return out
    for folder in paths.releases.iterdir():
        pkg = folder / "datapackage.json"
        if folder.name.startswith(".") or not pkg.is_file():
            continue
        package = json.loads(pkg.read_text(encoding="utf-8"))
        validation_file = folder / "validation.json"
        validation = (
            json.loads(validation_file.read_text(encoding="utf-8"))
            if validation_file.is_file()
            else None
        )
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        out.append(
            {
                "version": package.get("version", folder.name),
                "folder": folder,
                "created": package.get("created", ""),
                "package": package,
                "validation": validation,
                "files": files,
                "bytes": sum(p.stat().st_size for p in files),
            }
        )
    out.sort(key=lambda r: r["created"], reverse=True)
    return out


def latest_release(paths: Paths) -> Path | None:
    """The latest release: the folder ``opendata/latest.json`` names, else the newest one.

    The one rule for "the latest release" (the previous release of a changelog, the open-data
    gate, the dashboard's "latest" badge). :func:`publish` writes the pointer right after it
    renames a release into place; without a readable pointer to an existing release (removed,
    or a publish stopped between the two steps) the release created last is the latest (the
    first of :func:`list_releases`). ``None`` when nothing is published.
    """
    pointer = paths.opendata / "latest.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        folder = paths.opendata / json.loads(pointer.read_text(encoding="utf-8"))["path"]
        if folder.is_dir():
            return folder
    releases = list_releases(paths)
    return releases[0]["folder"] if releases else None


def _default_version(paths: Paths) -> str:
    today = dt.datetime.now(TZ).date()
    base = f"{today.year}.{today.month}.{today.day}"
    version, n = base, 1
    while (paths.releases / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def _write_latest(paths: Paths, version: str, created: str) -> None:
    pointer = {"version": version, "path": f"releases/{version}", "created": created}
    write_text_atomic(paths.opendata / "latest.json", json.dumps(pointer, indent=2) + "\n")


def current_release(paths: Paths, threshold: int = 10) -> Path | None:
    """The latest release when it already publishes the served build at ``threshold``.

    A publish with nothing new (the same warehouse build, the same threshold) would write a
    second release with the same content under a new version: ``subjectdb publish`` without
    ``--version`` says "up to date" instead, so ``make demo`` can be repeated. ``None`` when
    nothing is published, the warehouse records no build id, or the latest release was made
    from another build or threshold.
    """
    folder = latest_release(paths)
    build_id = served_build_id(paths.warehouse)
    if folder is None or build_id is None:
        return None
    try:
        package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
        same_build = package["dbt"]["warehouse_build_id"] == build_id
        same_threshold = package["disclosure_control"]["threshold"] == threshold
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if same_build and same_threshold else None


def publish(paths: Paths, version: str | None = None, threshold: int = 10) -> Path:
    """Publish a versioned, disclosure-controlled open-data release; returns its folder."""
    try:
        threshold = disclosure.check_threshold(threshold)
    except disclosure.DisclosureError as exc:
        raise PublishError(str(exc)) from exc
    if version is not None and (not VERSION_RE.match(version) or version == "latest"):
        raise PublishError(
            f"bad release version {version!r}: use letters, digits, '.', '_', '+', '-' "
            "(e.g. 2026.11.22 or 1.0.0)"
        )
    if version is not None and (paths.releases / version).exists():
        raise PublishError(
            f"release {version} already exists at {paths.releases / version}: releases are "
            "never overwritten; choose a new version"
        )
    con = connect(paths)
    try:
        demand_cols, fact_cols = check_tables(con, paths)
        build_id = build_id_of(con)
        manifest = find_manifest(paths, build_id)
        docs = ModelDocs.load(manifest)
        try:  # the resource catalogue decides what may be opened to the public
            check_release(load_catalogue(manifest), [spec.name for spec in TABLES])
        except CatalogueError as exc:
            raise PublishError(str(exc)) from exc
        tables, stats = build_tables(con, threshold, demand_cols, fact_cols)
        coverage = read_coverage(con)
    except disclosure.DisclosureError as exc:
        raise PublishError(f"disclosure control failed: {exc}") from exc
    except duckdb.Error as exc:
        raise PublishError(f"cannot read the warehouse {paths.warehouse}: {exc}") from exc
    finally:
        con.close()

    paths.releases.mkdir(parents=True, exist_ok=True)
    previous = latest_release(paths)
    version = version or _default_version(paths)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    work = paths.releases / f".incoming-{version}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        _assemble(work, tables, stats, docs, coverage, version, created, previous, build_id)
        target = paths.releases / version
        if target.exists():
            raise PublishError(f"release {version} already exists at {target}")
        for path in sorted(work.rglob("*"), reverse=True):  # files before their folders
            fsync_path(path)
        try:
            replace_atomic(work, target)  # fails if another publish created it meanwhile
        except OSError as exc:
            raise PublishError(f"release {version} already exists at {target}: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _write_latest(paths, version, created)
    return target


def _assemble(
    work: Path,
    tables: dict[str, pd.DataFrame],
    stats: dict[str, Any],
    docs: ModelDocs,
    coverage: dict[str, Any],
    version: str,
    created: str,
    previous: Path | None,
    build_id: str | None,
) -> None:
    files = {name: write_table(work, name, df) for name, df in tables.items()}
    rows = {name: len(df) for name, df in tables.items()}
    resources = table_resources(work, files, docs)
    for res in resources:
        base = res["name"].removesuffix("-excel").removesuffix("-parquet")
        res["x-rows"] = rows[base]
    package: dict[str, Any] = {
        "$schema": DATAPACKAGE_PROFILE,
        "name": "subjectdb-government-services-open-data",
        "id": f"urn:subjectdb:opendata:{version}",
        "title": "Internet+ government services: demand and performance open data",
        "title_zh": "互联网+政务服务需求与绩效开放数据",
        "description": (
            "Aggregated, disclosure-controlled tables of demand for government services "
            "(administrative approval cases), service performance, enterprise demand, the "
            "digital divide and the resident population, from the subjectdb warehouse."
        ),
        "description_zh": "政务服务办件需求、办理绩效、企业需求、数字鸿沟与常住人口的汇总开放数据，"
        "已做统计披露控制。",
        "version": version,
        "created": created,
        "licenses": [LICENSE],
        "sources": [
            {
                "title": "行政审批办件 / administrative approval cases (subjectdb warehouse)",
                "path": "marts.subj_applicant_demand, marts.subj_service_performance, "
                "marts.subj_processing_time, marts.subj_demand_standardised",
            },
            {"title": "人口基础库 / population register", "path": "marts.subj_population_pyramid"},
            {
                "title": "法人/企业基础库 / enterprise register",
                "path": "marts.subj_enterprise_population",
            },
        ],
        "contributors": [{"title": PUBLISHER, "roles": ["publisher"]}],
        "keywords": ["政务服务", "open data", "government services", "disclosure control"],
        "temporalCoverage": coverage["temporal"],
        "spatialCoverage": coverage["spatial"],
        "region_code_list": region_code_list(),
        "disclosure_control": {
            "threshold": stats["threshold"],
            "min_count": disclosure.MIN_COUNT,
            "min_rate_population": disclosure.MIN_RATE_POPULATION,
            "protection_range": stats["protection_range"],
            "method": "primary threshold and minimum count + hierarchical complementary "
            "suppression across all tables, audited by linear programming: every suppressed "
            "count's feasible interval under all published equations is at least "
            "protection_range wide (see README.md)",
            **{k: stats[k] for k in ("cells", "primary", "secondary", "equations")},
            "narrowest_interval": stats["narrowest_interval"],
            "audited_cells": stats["audited_cells"],
        },
        "dbt": {
            "manifest_generated_at": docs.generated_at,
            "dbt_version": docs.dbt_version,
            "warehouse_build_id": build_id,
        },
        "resources": resources,
    }
    (work / "datapackage.json").write_text(
        json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    validation = validate_package(work)
    if not validation["valid"]:
        first = "; ".join(f"{e['resource']}: {e['message']}" for e in validation["errors"][:3])
        raise PublishError(f"the release does not pass frictionless validation: {first}")
    (work / "validation.json").write_text(json.dumps(validation, indent=2) + "\n", encoding="utf-8")
    readme = readme_md(package, stats, rows)
    (work / "README.md").write_text(readme, encoding="utf-8")
    dictionary = dictionary_md(package)
    (work / "data-dictionary.md").write_text(dictionary, encoding="utf-8")
    (work / "data-dictionary.html").write_text(
        markdown_html(f"Data dictionary {version}", dictionary), encoding="utf-8"
    )
    (work / "CITATION.cff").write_text(citation_cff(package), encoding="utf-8")
    (work / "catalog.jsonld").write_text(
        json.dumps(dcat_catalog(work, package), ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    current = {
        "version": version,
        "tables": {
            name: {"columns": list(df.columns), "rows": len(df)} for name, df in tables.items()
        },
    }
    change_data, change_md = changelog(previous, current)
    (work / "CHANGELOG.md").write_text(change_md, encoding="utf-8")
    (work / "changelog.json").write_text(json.dumps(change_data, indent=2) + "\n", encoding="utf-8")
    sums = [
        f"{sha256_file(p)}  {relative_path(work, p)}"
        for p in sorted(work.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    (work / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
