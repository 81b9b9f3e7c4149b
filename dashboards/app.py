"""Entry point of the planners' dashboard: `subjectdb serve` runs `streamlit run` on this file.

Reads the served warehouse read-only (subject tables and reference labels only); the global
filters live in the sidebar and in the URL; every page view and download is audited.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # pages import `dashboards.*` and `subjectdb.*`
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards import common  # noqa: E402
from subjectdb.i18n import t  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "views"
# The page scripts live in `views/`, not `pages/`: Streamlit treats a `pages/` folder beside the
# entry point as a legacy (v1) multipage app, so a deep link opened as the first request after a
# server start showed a "page not found" dialog. Only st.navigation below defines the pages.
PAGES = [  # (file, title key, url path)
    ("overview.py", "page.overview", "home"),
    ("demand_map.py", "page.map", "map"),
    ("age_groups.py", "page.age", "age-groups"),
    ("service_types.py", "page.services", "services"),
    ("trends.py", "page.trends", "demand-trends"),
    ("performance.py", "page.performance", "service-performance"),
    ("digital_divide.py", "page.digital", "digital-divide"),
    ("enterprises.py", "page.enterprises", "enterprise-demand"),
    ("data_quality.py", "page.quality", "data-quality"),
]

st.set_page_config(page_title="政务服务需求分析 · subjectdb", page_icon="📊", layout="wide")
ctx = common.context()
st.session_state["_ctx"] = ctx


def _open_data_unavailable() -> None:
    st.title(t("page.opendata", ctx.lang))
    st.info(t("opendata.unavailable", ctx.lang))


pages = [
    st.Page(str(PAGES_DIR / f), title=t(k, ctx.lang), url_path=u, default=(i == 0))
    for i, (f, k, u) in enumerate(PAGES)
]
open_data = PAGES_DIR / "open_data.py"
if open_data.exists():
    pages.append(
        st.Page(str(open_data), title=t("page.opendata", ctx.lang), url_path="open-data-release")
    )
else:
    pages.append(
        st.Page(
            _open_data_unavailable, title=t("page.opendata", ctx.lang), url_path="open-data-release"
        )
    )

pg = st.navigation(pages)
st.session_state["_page"] = pg.url_path or PAGES[0][2]  # the default page has url_path ""
common.log_view(ctx, st.session_state["_page"])
pg.run()
