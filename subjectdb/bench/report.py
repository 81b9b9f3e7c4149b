"""The results files (``benchmarks/results/<size>.json``) and the README's benchmark table
rendered from them."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from subjectdb.bench.spec import SIZE_ORDER
from subjectdb.config import PROJECT_DIR

RESULTS_DIR = PROJECT_DIR / "benchmarks" / "results"
README = PROJECT_DIR / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"
SHARING_KINDS = {
    "catalogue": "catalogue (GET /v1/catalogue)",
    "aggregate": "filtered aggregate (GET /v1/resources/…?region_code=&year=)",
    "verify_10k": "10,000 resident IDs verified (POST /v1/verify/resident-id)",
}


def write_result(size: str, payload: dict[str, Any], results_dir: Path | None = None) -> Path:
    folder = results_dir or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "size": size,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **payload,
    }
    out = folder / f"{size}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def render_table(result: dict[str, Any]) -> str:
    """Markdown for one results file: the stages, then the targets."""
    env = result.get("environment", {})
    gen = result.get("generator", {})
    head = (
        f"### {result['size']}: {gen.get('cases', 0):,} cases, {gen.get('persons', 0):,} "
        f"persons, {gen.get('enterprises', 0):,} enterprises\n\n"
        f"Median of {result.get('runs')} run(s), recorded {result.get('recorded_at')} on "
        f"{env.get('cpus')} CPUs ({env.get('cpu', '?')}), {env.get('memory_gib')} GiB, "
        f"load average at start {env.get('load_average_at_start')}, at end "
        f"{env.get('load_average_at_end', '?')}, commit {env.get('commit', '?')}, DuckDB "
        f"{env.get('versions', {}).get('duckdb')}, dbt-core "
        f"{env.get('versions', {}).get('dbt-core')}, memory_limit "
        f"{env.get('duckdb_memory_limit')}.\n"
    )
    lines = [
        head,
        "| stage | median s | rows | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for st in result["stages"].values():
        extra = st.get("extra", {})
        if "not_measured" in extra:
            lines.append(f"| {st['label']} | {extra['not_measured']} | | | |")
            continue
        rps = f"{st['rows_per_second']:,}" if st.get("rows_per_second") else ""
        lines.append(
            f"| {st['label']} | {st['median_seconds']:,.2f} | {st['rows']:,} | {rps} "
            f"| {st['peak_rss_mib']:,.0f} |"
        )
    d = result["derived"]
    lines.append(
        f"| **end to end** ({' → '.join(d['end_to_end_stages'])}) | "
        f"**{d['end_to_end_seconds']:,.2f}** | | | |"
    )
    if "floor_seconds" in d:
        lines.append(
            f"| floor: raw CSV scan + hand-written script (no standardising, quarantine, "
            f"validation, tests or publishing) | {d['floor_seconds']:,.2f} | | | |"
        )
    lines += ["", "| target | limit | measured | status |", "|---|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['limit']} | {t['measured']} | {t['status']} |")
    pages = result["stages"].get("dashboard_queries", {}).get("extra", {}).get("pages")
    ready = result["stages"].get("page_ready", {}).get("extra", {}).get("pages", {})
    if pages:
        lines += [
            "",
            "| dashboard page | queries p50 ms | queries p95 ms | page ready s |",
            "|---|---:|---:|---:|",
        ]
        for p, v in pages.items():
            r = f"{ready[p]:.2f}" if p in ready else ""
            lines.append(f"| {p} | {v['p50_ms']:,.0f} | {v['p95_ms']:,.0f} | {r} |")
    load = result["stages"].get("sharing_api", {}).get("extra", {})
    if load.get("kinds"):
        errors = sum(load.get("errors", {}).values())
        lines += [
            "",
            f"Sharing API load: {load['clients']} clients for {load['seconds']:,.0f} s"
            + (
                f" against {load['workers']} API worker{'s' if load['workers'] != 1 else ''}"
                if load.get("workers")
                else ""
            )
            + f", {load['requests']:,} requests, {load['requests_per_second']:,} requests/s, "
            f"{errors:,} errors, {load['audited']:,} audited"
            + (
                f"; load average {load['load_average_before'][0]:.1f} before, "
                f"{load['load_average_after'][0]:.1f} after"
                if load.get("load_average_before") and load.get("load_average_after")
                else ""
            )
            + ".",
            "",
            "| sharing API request | requests | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, v in load["kinds"].items():
            lines.append(
                f"| {SHARING_KINDS.get(kind, kind)} | {v['requests']:,} | {v['p50_ms']:,.0f} "
                f"| {v['p95_ms']:,.0f} | {v['p99_ms']:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def render_section(results_dir: Path | None = None) -> str:
    folder = results_dir or RESULTS_DIR
    found = []
    for f in folder.glob("*.json") if folder.is_dir() else []:
        with contextlib.suppress(ValueError, KeyError, OSError):
            found.append(json.loads(f.read_text(encoding="utf-8")))
    found.sort(key=lambda r: SIZE_ORDER.index(r["size"]) if r.get("size") in SIZE_ORDER else 99)
    body = "\n".join(render_table(r) for r in found) if found else "No results yet.\n"
    return (
        f"{MARK_START}\n_Regenerated by `make bench` (`subjectdb bench`); see "
        f"docs/benchmarks.md. Machine-shared runs are noisy: compare ratios, not seconds._\n\n"
        f"{body}{MARK_END}"
    )


def update_readme_table(readme: Path = README, results_dir: Path | None = None) -> Path:
    """Rewrite the text between the bench markers (append a section if they are absent)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    section = render_section(results_dir)
    if MARK_START in text and MARK_END in text and text.index(MARK_START) < text.index(MARK_END):
        a = text.index(MARK_START)
        b = text.index(MARK_END) + len(MARK_END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")
    return readme
