"""The changelog of a release: tables, columns and row counts against the previous release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _release_summary(folder: Path) -> dict[str, Any]:
    """Tables, columns and row counts of a release, from its datapackage.json."""
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    tables: dict[str, Any] = {}
    for res in package.get("resources", []):
        if res.get("format") != "csv" or res["name"].endswith("-excel"):
            continue
        tables[res["name"]] = {
            "columns": [f["name"] for f in res.get("schema", {}).get("fields", [])],
            "rows": res.get("x-rows"),
        }
    return {"version": package.get("version"), "tables": tables}


def changelog(previous: Path | None, current: dict[str, Any]) -> tuple[dict[str, Any], str]:
    version = current["version"]
    if previous is None:
        data = {"version": version, "previous": None, "changes": "first release"}
        return data, f"# Changelog — {version}\n\nFirst release: no previous release.\n"
    prev = _release_summary(previous)
    cur_t, prev_t = current["tables"], prev["tables"]
    added = sorted(set(cur_t) - set(prev_t))
    removed = sorted(set(prev_t) - set(cur_t))
    changed: dict[str, Any] = {}
    for name in sorted(set(cur_t) & set(prev_t)):
        a, b = prev_t[name], cur_t[name]
        entry = {
            "columns_added": [c for c in b["columns"] if c not in a["columns"]],
            "columns_removed": [c for c in a["columns"] if c not in b["columns"]],
            "rows_before": a["rows"],
            "rows_after": b["rows"],
        }
        changed[name] = entry
    data = {
        "version": version,
        "previous": prev["version"],
        "tables_added": added,
        "tables_removed": removed,
        "tables": changed,
    }
    lines = [f"# Changelog — {version}", "", f"Compared with release {prev['version']}.", ""]
    lines.append(f"- Tables added: {', '.join(added) or 'none'}")
    lines.append(f"- Tables removed: {', '.join(removed) or 'none'}")
    lines += [
        "",
        "| table | rows before | rows after | columns added | columns removed |",
        "|---|---|---|---|---|",
    ]
    for name, e in changed.items():
        lines.append(
            f"| `{name}` | {e['rows_before']} | {e['rows_after']} | "
            f"{', '.join(e['columns_added']) or '–'} | {', '.join(e['columns_removed']) or '–'} |"
        )
    return data, "\n".join(lines) + "\n"
