"""Entry point of the planners' dashboard: `subjectdb serve` runs `streamlit run` on this file.

Reads the served warehouse read-only (subject tables and reference labels only) through a
connection that can touch no other file; the global filters live in the sidebar and in the URL
(values from a link are shown as text, never as Markdown); every page view, download and
rejected link is audited with who asked (docs/dashboard.md, "Access audit log").
"""

from __future__ import annotations

import streamlit as st

from dashboards import common
from dashboards.pages import DEFAULT, PAGES
from subjectdb.i18n import t

# The page scripts live in `views/`, not `pages/`: Streamlit treats a `pages/` folder beside the
# entry point as a legacy (v1) multipage app, so a deep link opened as the first request after a
# server start showed a "page not found" dialog. Only st.navigation below defines the pages.
st.set_page_config(page_title="政务服务需求分析 · subjectdb", page_icon="📊", layout="wide")
ctx = common.context()
st.session_state["_ctx"] = ctx

pages = [
    st.Page(
        str(p.script), title=t(p.title_key, ctx.lang), url_path=p.url_path, default=p is DEFAULT
    )
    for p in PAGES
]
pg = st.navigation(pages)
common.data_version(ctx, {p.stem: page for p, page in zip(PAGES, pages, strict=True)})
st.session_state["_page"] = pg.url_path or DEFAULT.url_path  # the default page has url_path ""
common.log_view(ctx, st.session_state["_page"])
pg.run()
