"""资源目录 / Resource catalogue: every shareable resource of the government information
resource catalogue with its zh/en title, provider, update cycle, sharing and opening type and
its fields with their data standards. Read from the served build's dbt manifest (the catalogue
``subjectdb catalogue`` prints and the open-data release and the sharing API enforce)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards.common import get_ctx, page_download
from subjectdb import catalogue as cat
from subjectdb.config import Paths
from subjectdb.i18n import STRINGS
from subjectdb.release import PublishError, find_manifest, served_build_id

ctx = get_ctx()
st.title(ctx.t("page.catalogue"))
st.caption(ctx.t("cat.intro"))
COLUMNS = (
    "identifier",
    "title",
    "kind",
    "provider",
    "update_cycle",
    "sharing_type",
    "departments",
    "purposes",
    "opening_type",
    "release_tables",
    "model",
    "description",
    "fields",
)


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def load(build_file: str, warehouse: str, data_root: str) -> cat.Catalogue:
    """The catalogue of the served build (its manifest), else of the models' YAML."""
    try:
        manifest: Path | None = find_manifest(
            Paths(Path(data_root)), served_build_id(Path(warehouse))
        )
    except PublishError:
        manifest = None
    return cat.load_catalogue(manifest)


def cycle(code: str) -> str:
    """An update cycle in the page's language (one the strings do not name is shown as is)."""
    key = f"cat.cycle_{code}"
    return ctx.t(key) if key in STRINGS else code


try:
    catalogue = load(ctx.build_id, str(ctx.paths.warehouse), str(ctx.paths.root))
except cat.CatalogueError as exc:
    st.error(ctx.t("cat.error", error=exc))
    st.stop()
st.caption(ctx.t("cat.source", source=catalogue.source))
entries = list(catalogue)

cols = st.columns(3)
cols[0].metric(ctx.t("cat.resources"), f"{len(entries):,}")
unconditional = sum(e.sharing_type == "无条件共享" for e in entries)
conditional = sum(e.sharing_type == "有条件共享" for e in entries)
cols[1].metric(ctx.t("cat.shared"), f"{unconditional} / {conditional}")
cols[2].metric(ctx.t("cat.opened"), f"{sum(e.opening_type == '无条件开放' for e in entries)}")

rows = pd.DataFrame(cat.rows(catalogue, ctx.lang), columns=list(COLUMNS))
kinds = [k for k in cat.KINDS if k in set(rows["kind"])]
chosen = st.multiselect(
    ctx.t("cat.kind"),
    kinds,
    key="cat_kinds",
    format_func=lambda k: ctx.t(f"cat.kind_{k}"),
    placeholder=ctx.t("f.all"),
)
shown = rows[rows["kind"].isin(chosen)] if chosen else rows
shown = shown.assign(
    kind=[ctx.t(f"cat.kind_{k}") for k in shown["kind"]],
    update_cycle=[cycle(c) for c in shown["update_cycle"]],
)
table = shown.rename(columns={c: ctx.t(f"cat.col.{c}") for c in COLUMNS})
st.subheader(ctx.t("cat.table"))
st.dataframe(table, hide_index=True, key="table_catalogue")
page_download(ctx, f"resource_catalogue_{ctx.lang}", table)

st.subheader(ctx.t("cat.fields"))
for entry in entries:
    if chosen and entry.kind not in chosen:
        continue
    title = entry.title_zh if ctx.lang == "zh" else entry.title_en
    with st.expander(f"{entry.identifier} · {title} · {entry.model}"):
        st.write(entry.description_zh if ctx.lang == "zh" else entry.description_en)
        if not entry.fields:
            st.caption(ctx.t("cat.no_fields"))
            continue
        fields = pd.DataFrame(
            [(f.name, f.data_type, f.standard, f.description) for f in entry.fields],
            columns=[
                ctx.t("cat.col.name"),
                ctx.t("cat.col.data_type"),
                ctx.t("cat.col.standard"),
                ctx.t("cat.col.description"),
            ],
        )
        st.dataframe(fields, hide_index=True, key=f"fields_{entry.identifier}")
