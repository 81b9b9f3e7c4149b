"""开放数据 / Open data: the published releases with their licence, size, validation result and
a download button for every file. Reads the release folders only (never the warehouse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from dashboards.common import get_ctx
from dashboards.support import audit
from subjectdb.release import latest_release, list_releases

PAGE = "open-data-release"
MIME = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".md": "text/markdown",
    ".html": "text/html",
    ".cff": "text/yaml",
}
# the page's own strings (Chinese first); the shared ones come from subjectdb.i18n
S: dict[str, tuple[str, str]] = {
    "intro": (
        "面向研究人员发布的汇总开放数据：每个版本都经过统计披露控制（一级与二级抑制），"
        "附带数据字典、Frictionless 数据包元数据、DCAT 目录与校验和。",
        "Aggregated open data for researchers: every release is disclosure-controlled "
        "(primary and secondary suppression) and ships a data dictionary, Frictionless "
        "Data Package metadata, a DCAT catalog and checksums.",
    ),
    "none": (
        "尚无发布版本。请运行 `subjectdb publish`。",
        "No release yet: run `subjectdb publish`.",
    ),
    "latest": ("最新", "latest"),
    "version": ("版本", "Version"),
    "created": ("发布时间", "Created"),
    "licence": ("许可", "Licence"),
    "size": ("大小", "Size"),
    "files": ("文件数", "Files"),
    "period": ("时间范围", "Period"),
    "threshold": ("抑制阈值（不同申请人数）", "Suppression threshold (distinct applicants)"),
    "suppressed": (
        "被抑制单元格：一级 {primary}，二级 {secondary}（共 {cells} 个单元格）",
        "Suppressed cells: {primary} primary, {secondary} secondary (of {cells} cells)",
    ),
    "valid": ("✅ Frictionless 校验通过", "✅ Frictionless validation passed"),
    "invalid": (
        "❌ Frictionless 校验未通过（{n} 个错误）",
        "❌ Frictionless validation failed ({n} errors)",
    ),
    "unvalidated": ("⚠️ 无校验记录", "⚠️ No validation record"),
    "validated": ("校验工具 {validator}，时间 {at}", "Validated with {validator} at {at}"),
    "tables": ("数据表", "Tables"),
    "downloads": ("下载文件", "Download files"),
    "docs": ("说明与元数据", "Documentation and metadata"),
    "readme": ("版本说明（README）", "Release notes (README)"),
    "rows": ("行", "rows"),
    "cite": (
        "引用方式见 CITATION.cff；校验：`sha256sum -c SHA256SUMS` 与 "
        "`frictionless validate datapackage.json`。",
        "How to cite: CITATION.cff. Verify: `sha256sum -c SHA256SUMS` and "
        "`frictionless validate datapackage.json`.",
    ),
}

ctx = get_ctx()
LANG = 0 if ctx.lang == "zh" else 1


def s(key: str, **kw: Any) -> str:
    return S[key][LANG].format(**kw)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def on_download(version: str, name: str) -> None:
    audit(
        ctx.paths.audit_log,
        session=ctx.session,
        event="download",
        page=PAGE,
        filters={},
        rows=None,
        detail=f"opendata/{version}/{name}",
        who=ctx.who,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def file_bytes(path: str, mtime: float) -> bytes:
    return Path(path).read_bytes()


st.title(ctx.t("page.opendata"))
st.caption(s("intro"))

releases = list_releases(ctx.paths)
if not releases:
    st.info(s("none"))
    st.stop()
latest = latest_release(ctx.paths)

for rel in releases:
    package: dict[str, Any] = rel["package"]
    version = rel["version"]
    is_latest = latest is not None and rel["folder"].resolve() == latest.resolve()
    label = f"{s('version')} {version}" + (f" · {s('latest')}" if is_latest else "")
    with st.expander(label, expanded=is_latest):
        title = package.get("title_zh") if LANG == 0 else package.get("title")
        description = package.get("description_zh") if LANG == 0 else package.get("description")
        st.subheader(title or version)
        st.write(description or "")
        validation = rel["validation"]
        if validation is None:
            st.warning(s("unvalidated"))
        elif validation.get("valid"):
            st.success(s("valid"))
        else:
            st.error(s("invalid", n=len(validation.get("errors", []))))
        if validation is not None:
            st.caption(
                s(
                    "validated",
                    validator=validation.get("validator", "?"),
                    at=validation.get("validated_at", "?"),
                )
            )
        cols = st.columns(5)
        licences = ", ".join(lic.get("name", "") for lic in package.get("licenses", []))
        cov = package.get("temporalCoverage") or {}
        cols[0].metric(s("created"), str(package.get("created", ""))[:10])
        cols[1].metric(s("licence"), licences or "–")
        cols[2].metric(s("size"), human_size(rel["bytes"]))
        cols[3].metric(s("files"), len(rel["files"]))
        cols[4].metric(s("period"), f"{cov.get('start', '?')[:7]} – {cov.get('end', '?')[:7]}")
        control = package.get("disclosure_control") or {}
        if control:
            st.caption(
                f"{s('threshold')}: {control.get('threshold')} · "
                + s(
                    "suppressed",
                    primary=control.get("primary"),
                    secondary=control.get("secondary"),
                    cells=control.get("cells"),
                )
            )

        st.markdown(f"**{s('tables')}**")
        for res in package.get("resources", []):
            if res.get("format") != "csv" or res["name"].endswith("-excel"):
                continue
            titles = str(res.get("title", "")).split(" / ", 1)
            st.markdown(
                f"- `{res['name']}` — {titles[min(LANG, len(titles) - 1)]} "
                f"({res.get('x-rows', '?')} {s('rows')})"
            )

        folder: Path = rel["folder"]
        data_files = [p for p in rel["files"] if p.relative_to(folder).parts[0] == "data"]
        doc_files = [p for p in rel["files"] if p not in data_files]
        for heading, files in ((s("downloads"), data_files), (s("docs"), doc_files)):
            st.markdown(f"**{heading}**")
            grid = st.columns(3)
            for j, path in enumerate(files):
                name = path.relative_to(folder).as_posix()
                grid[j % 3].download_button(
                    f"⬇ {name} ({human_size(path.stat().st_size)})",
                    data=file_bytes(str(path), path.stat().st_mtime),
                    file_name=f"{version}_{name.replace('/', '_')}",
                    mime=MIME.get(path.suffix, "application/octet-stream"),
                    key=f"dl-{version}-{name}",
                    on_click=on_download,
                    args=(version, name),
                )
        readme = folder / "README.md"
        if readme.is_file() and st.toggle(s("readme"), key=f"readme-{version}"):
            st.markdown(readme.read_text(encoding="utf-8"))
        st.caption(s("cite"))
        changelog = folder / "changelog.json"
        if changelog.is_file():
            change = json.loads(changelog.read_text(encoding="utf-8"))
            if change.get("previous"):
                st.caption(f"CHANGELOG: {change['previous']} → {version}")
