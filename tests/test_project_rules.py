"""Project rules over the dbt manifest, in the spirit of dbt-project-evaluator.

The module runs ``dbt parse`` into a temporary target path and checks the project as a whole:
every model has a primary-key test, states its grain and sits in a group; public models
enforce contracts written in type names Spark also reads; exposures read public models only;
every macro and every column is documented (shared columns through the docs blocks of
models/_docs.md); personal columns are marked ``meta.pii`` and stay out of the public models
and the open-data release; the incremental models follow the three documented patterns; every
SQL file opens with the same header. One rule reads the built warehouse (the session's
``built`` folder): the YAML lists every column a model's table has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from subjectdb.config import PROJECT_DIR, Paths

PACKAGE = "subjectdb"

# Type names DuckDB and Spark SQL both accept (dbt's `string` is VARCHAR on DuckDB, STRING on
# Spark). DuckDB-only names (varchar, text, hugeint, ubigint, utinyint, blob, ...) are not.
PORTABLE_TYPES = {
    "string",
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "integer",
    "bigint",
    "float",
    "double",
    "decimal",
    "date",
    "timestamp",
    "binary",
}

# Pseudonymised personal columns allowed in public models, and why. Nothing marked
# `pii: true` (an identifier or birth date in the clear) may be in a public model.
PSEUDONYMISED_IN_PUBLIC = {
    ("subj_applicant_demand", "applicant_key"): "exact distinct-applicant counts over any cells",
    ("subj_applicant_demand", "applicant_id_int"): "the same counts on a 60-bit prefix",
    ("fct_service_cases", "applicant_key"): "the release's disclosure bounds per service item",
    ("dash_applicant_ids", "applicant_key"): "the dashboard's key → number mapping",
    ("dash_applicant_ids", "applicant_seq"): "the dashboard's key → number mapping",
    ("dash_applicant_demand", "applicant_seq"): "the dashboard's exact distinct counts",
    ("dash_service_performance", "applicant_seq"): "exact distinct applicants per item, department",
}

# Columns several models share, documented once in models/_docs.md; (model, column) pairs
# whose meaning differs keep their own description.
SHARED_COLUMNS = {
    "region_code",
    "prefecture_code",
    "province_code",
    "urban_rural",
    "age_group_code",
    "band_code",
    "sex",
    "month",
    "year",
    "item_code",
    "category_code",
    "theme_code",
    "channel_code",
    "is_online",
    "applicant_type",
    "industry_section",
    "size_class",
    "dept_name",
    "dept_region_code",
    "case_id",
    "applicant_key",
    "person_key",
    "enterprise_key",
    "cases",
    "distinct_applicants",
    "population",
    "active_enterprises",
    "_batch_id",
    "_source_file",
    "_source_row",
    "_loaded_at",
    "_changed_invocation_id",
}
OWN_MEANING = {
    ("dim_region", "region_code"),  # the dimension's key: a code of any level, not a county
    ("dim_date", "month"),  # month number 1-12
    ("dim_date", "year"),  # calendar year
}

# The incremental patterns (docs/architecture-incremental.md): replace keys everywhere, plain
# append for the immutable landed batches, append-only numbering for the id tables.
APPEND_MODELS = {
    "stg_approval__cases": "landed batches",
    "stg_population__persons": "landed batches",
    "stg_enterprise__enterprises": "landed batches",
    "dash_applicant_ids": "append-only numbering",
    "dash_codes": "append-only numbering",
}

SQL_FOLDERS = ("models", "macros", "snapshots", "tests/dbt")


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict[str, Any]:
    """The project's manifest, from a ``dbt parse`` of the working tree."""
    return json.loads(dbt_manifest.read_text(encoding="utf-8"))


def _nodes(manifest: dict[str, Any], *types: str) -> Iterator[dict[str, Any]]:
    for node in manifest["nodes"].values():
        if node["resource_type"] in types and node["package_name"] == PACKAGE:
            yield node


def _models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_nodes(manifest, "model"))


def _pii(column: dict[str, Any]) -> Any:
    return (
        (column.get("config") or {}).get("meta", {}).get("pii", column.get("meta", {}).get("pii"))
    )


# ------------------------------------------------------------------------------------ rules


def test_every_model_and_snapshot_has_a_primary_key_test(manifest: dict[str, Any]) -> None:
    """A primary_key test, a unique_combination_of_columns test (keys that may hold NULLs) or
    unique + not_null on one column."""
    tests: dict[str, list[tuple[str, str | None]]] = {}
    for test in _nodes(manifest, "test"):
        meta = test.get("test_metadata") or {}
        if test.get("attached_node") and meta.get("name"):
            tests.setdefault(test["attached_node"], []).append(
                (meta["name"], test.get("column_name"))
            )
    missing = []
    for node in _nodes(manifest, "model", "snapshot"):
        attached = tests.get(node["unique_id"], [])
        names = {name for name, _ in attached}
        unique_columns = {col for name, col in attached if name == "unique"}
        not_null_columns = {col for name, col in attached if name == "not_null"}
        if not (
            names & {"primary_key", "unique_combination_of_columns"}
            or unique_columns & not_null_columns
        ):
            missing.append(node["name"])
    assert not missing, f"no primary-key test: {missing}"


def test_every_model_states_its_grain(manifest: dict[str, Any]) -> None:
    vague = [
        m["name"]
        for m in _nodes(manifest, "model", "snapshot")
        if not re.search(r"\bone row per\b", m["description"], re.IGNORECASE)
    ]
    assert not vague, f"description says no 'one row per …': {vague}"


def test_every_node_is_in_a_group_with_an_owner(manifest: dict[str, Any]) -> None:
    groups = {g["name"]: g for g in manifest["groups"].values()}
    assert groups, "no groups declared"
    assert all(g["owner"].get("name") for g in groups.values()), "a group has no owner name"
    loose = [
        n["name"]
        for n in _nodes(manifest, "model", "seed", "snapshot")
        if n["config"].get("group") not in groups
    ]
    assert not loose, f"not in a declared group: {loose}"


def test_public_models_enforce_contracts_with_portable_types(manifest: dict[str, Any]) -> None:
    public = [m for m in _models(manifest) if m["access"] == "public"]
    # the subject and serving tables, and the dimensions and fact the readers use
    assert {"subj_applicant_demand", "dash_applicant_demand", "dim_region"} <= {
        m["name"] for m in public
    }
    uncontracted = [m["name"] for m in public if not m["config"]["contract"]["enforced"]]
    assert not uncontracted, f"public models without an enforced contract: {uncontracted}"
    problems = []
    for model in (m for m in _models(manifest) if m["config"]["contract"]["enforced"]):
        for name, column in model["columns"].items():
            base = re.split(r"[\s(<]", (column.get("data_type") or "").strip().lower())[0]
            if base not in PORTABLE_TYPES:
                problems.append(f"{model['name']}.{name}: {column.get('data_type')!r}")
    assert not problems, f"contract types DuckDB and Spark do not both accept: {problems}"


def test_subject_and_serving_tables_are_public(manifest: dict[str, Any]) -> None:
    closed = [
        m["name"]
        for m in _models(manifest)
        if m["name"].startswith(("subj_", "dash_")) and m["access"] != "public"
    ]
    assert not closed, f"subject/serving tables not public: {closed}"


def test_exposures_read_public_models_and_seeds_only(manifest: dict[str, Any]) -> None:
    nodes = manifest["nodes"]
    assert manifest["exposures"], "no exposures"
    wrong = []
    for exposure in manifest["exposures"].values():
        for parent in exposure["depends_on"]["nodes"]:
            node = nodes.get(parent)
            if node is None:  # a source: raw data is never read by a reader
                wrong.append(f"{exposure['name']} <- {parent}")
            elif node["resource_type"] == "model" and node["access"] != "public":
                wrong.append(f"{exposure['name']} <- {node['name']} ({node['access']})")
            elif node["resource_type"] not in ("model", "seed"):
                wrong.append(f"{exposure['name']} <- {parent}")
    assert not wrong, f"exposures reading non-public nodes: {wrong}"


def _signature(macro_sql: str) -> list[str]:
    head = re.search(r"\{%-?\s*(?:macro|test|materialization)\s+\w+\s*\(([^)]*)\)", macro_sql)
    assert head, macro_sql[:200]
    return [a.split("=")[0].strip() for a in head.group(1).split(",") if a.strip()]


def test_every_macro_is_documented_with_its_arguments(manifest: dict[str, Any]) -> None:
    macros = [m for m in manifest["macros"].values() if m["package_name"] == PACKAGE]
    assert len(macros) > 30
    undocumented = [m["name"] for m in macros if not m["description"].strip()]
    assert not undocumented, f"macros without a description (macros/_macros.yml): {undocumented}"
    wrong = []
    for macro in macros:
        documented = [a["name"] for a in macro["arguments"]]
        if documented != _signature(macro["macro_sql"]):
            wrong.append(f"{macro['name']}: documented {documented}")
        if any(not a.get("description") for a in macro["arguments"]):
            wrong.append(f"{macro['name']}: an argument without a description")
    assert not wrong, f"macro arguments not documented as defined: {wrong}"


def test_every_column_is_documented(manifest: dict[str, Any]) -> None:
    nodes = list(_nodes(manifest, "model", "seed", "snapshot"))
    nodes += [s for s in manifest["sources"].values() if s["package_name"] == PACKAGE]
    empty = [n["name"] for n in nodes if not n["columns"]]
    assert not empty, f"nodes that document no column: {empty}"
    bare = [
        f"{n['name']}.{c}"
        for n in nodes
        for c, col in n["columns"].items()
        if not col["description"].strip()
    ]
    assert not bare, f"columns without a description: {bare}"


def test_documented_columns_are_the_built_tables_columns(
    manifest: dict[str, Any], built: Paths
) -> None:
    """The YAML lists exactly the columns of each model's table (get_where_subquery relies on
    it to find the change stamp)."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        actual: dict[tuple[str, str], set[str]] = {}
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database()"
        ).fetchall():
            actual.setdefault((schema, table), set()).add(column)
    wrong = []
    for node in _nodes(manifest, "model", "snapshot"):
        have = actual.get((node["schema"], node["alias"]))
        assert have is not None, f"{node['name']} is not in the built warehouse"
        if set(node["columns"]) != have:
            wrong.append(
                f"{node['name']}: undocumented {sorted(have - set(node['columns']))}, "
                f"not in the table {sorted(set(node['columns']) - have)}"
            )
    assert not wrong, wrong


def test_shared_columns_use_the_docs_blocks(manifest: dict[str, Any]) -> None:
    assert {d["name"] for d in manifest["docs"].values()} >= SHARED_COLUMNS
    by_hand = [
        f"{n['name']}.{c}"
        for n in _nodes(manifest, "model", "snapshot")
        for c, col in n["columns"].items()
        if c in SHARED_COLUMNS
        and (n["name"], c) not in OWN_MEANING
        and f"doc.{PACKAGE}.{c}" not in (col.get("doc_blocks") or [])
    ]
    assert not by_hand, f"shared columns described by hand, not by {{{{ doc() }}}}: {by_hand}"


def test_personal_columns_are_marked_and_kept_out_of_public_models(
    manifest: dict[str, Any],
) -> None:
    columns = [
        (n, name, col)
        for n in [*_nodes(manifest, "model", "snapshot"), *manifest["sources"].values()]
        if n["package_name"] == PACKAGE
        for name, col in n["columns"].items()
    ]
    marks = {(n["name"], name): _pii(col) for n, name, col in columns}
    assert set(marks.values()) <= {None, True, "pseudonymised"}, set(marks.values())
    # the identifiers of the extracts are marked
    for source_column in ("applicant_id", "applicant_name", "applicant_phone", "person_id"):
        assert any(name == source_column and mark is True for (_, name), mark in marks.items())
    # a column named like a personal column carries a mark wherever it is
    personal_names = {name for (_, name), mark in marks.items() if mark}
    unmarked = sorted(
        f"{m}.{c}" for (m, c), mark in marks.items() if c in personal_names and not mark
    )
    assert not unmarked, f"personal columns without meta.pii: {unmarked}"
    # no personal data in the clear leaves staging/intermediate; hashes only where allowed
    public = {m["name"] for m in _models(manifest) if m["access"] == "public"}
    leaks = [
        f"{m}.{c} (pii: {mark})"
        for (m, c), mark in marks.items()
        if m in public and mark and (mark is True or (m, c) not in PSEUDONYMISED_IN_PUBLIC)
    ]
    assert not leaks, f"personal columns in public models: {leaks}"
    # the extracts' identifiers are hashed or dropped in staging: no model has a column of
    # their name (birth dates, kept in staging and intermediate models, are marked there)
    identifiers = {
        name
        for s in manifest["sources"].values()
        if s["package_name"] == PACKAGE
        for name, col in s["columns"].items()
        if _pii(col) is True
    } - {"birth_date"}
    kept = [
        f"{m['name']}.{c}"
        for m in _nodes(manifest, "model", "snapshot")
        for c in m["columns"]
        if c in identifiers
    ]
    assert not kept, f"raw identifiers in models: {kept}"


def _release_tables() -> tuple[Any, ...]:
    """The open-data release's table specs (its public surface once it exports them)."""
    import subjectdb.release as release

    tables = getattr(release, "TABLES", None)
    if tables is None:
        from subjectdb.release import publish

        tables = publish.TABLES
    return tuple(tables)


def test_the_release_publishes_no_personal_column(manifest: dict[str, Any]) -> None:
    models = {m["name"]: m for m in _models(manifest)}
    sources = [
        (table.name, spec.name, spec.source)
        for table in _release_tables()
        for spec in table.fields
        if spec.source is not None
    ]
    assert sources, "no release field reads a dbt column"
    wrong = []
    for table, field, (model, column) in sources:
        node = models.get(model)
        if node is None or column not in node["columns"]:
            wrong.append(f"{table}.{field}: {model}.{column} is not a documented column")
        elif _pii(node["columns"][column]):
            wrong.append(f"{table}.{field}: {model}.{column} is personal")
        elif node["access"] != "public":
            wrong.append(f"{table}.{field}: {model} is not public")
    assert not wrong, wrong


def test_incremental_models_follow_the_three_patterns(manifest: dict[str, Any]) -> None:
    wrong = []
    for model in _models(manifest):
        config = model["config"]
        hooks = [h["sql"] for h in config.get("pre-hook", []) + config.get("post-hook", [])]
        if any(re.search(r"\bdelete\b", sql, re.IGNORECASE) for sql in hooks):
            wrong.append(f"{model['name']}: deletes in a hook")
        if config["materialized"] != "incremental":
            continue
        strategy = config.get("incremental_strategy")
        if model["name"] in APPEND_MODELS:
            if strategy not in ("append", None) or config.get("unique_key"):
                wrong.append(f"{model['name']}: an append model with {strategy}")
        elif strategy != "replace_keys" or not config.get("unique_key"):
            wrong.append(f"{model['name']}: {strategy} (replace_keys with a unique_key expected)")
    assert not wrong, wrong
    incremental = {
        m["name"] for m in _models(manifest) if m["config"]["materialized"] == "incremental"
    }
    assert set(APPEND_MODELS) <= incremental


def test_every_sql_file_opens_with_a_jinja_header() -> None:
    """One header style: a Jinja comment ({#- … -#}) saying what the file is (it stays out of
    the compiled SQL)."""
    files = [p for folder in SQL_FOLDERS for p in (PROJECT_DIR / folder).rglob("*.sql")]
    assert len(files) > 40
    wrong = [
        str(p.relative_to(PROJECT_DIR))
        for p in files
        if not p.read_text(encoding="utf-8").startswith("{#-")
    ]
    assert not wrong, f"SQL files without the {{#- … -#}} header: {wrong}"
