"""接口访问审计 / API access audit: who called the sharing API for what, with what result —
the append-only audit log of ``subjectdb api`` (``data/sharing/audit.jsonl``) read through
:func:`subjectdb.sharing.query_audit`, filtered by department, resource and outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.common import PLOTLY_CONFIG, get_ctx, page_download
from subjectdb.sharing import AuditLog, SharingPaths, query_audit

ctx = get_ctx()
st.title(ctx.t("page.api_audit"))
st.caption(ctx.t("aud.intro"))
SHOWN = 1_000  # newest calls drawn in the table (the download holds all that match)
COLUMNS = (
    "time",
    "department",
    "key_id",
    "method",
    "path",
    "resource",
    "filters",
    "status",
    "error",
    "rows",
    "duration_ms",
    "client_address",
)
HEADERS = {
    "department": "aud.department",
    "resource": "aud.resource",
    "rows": "aud.rows",
    **{c: f"aud.col.{c}" for c in COLUMNS if c not in ("department", "resource", "rows")},
}


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def calls(
    path: str,
    file_state: tuple[int, int],
    department: str | None = None,
    resource: str | None = None,
    errors_only: bool = False,
) -> pd.DataFrame:
    """The audited calls matching the conditions, newest first (:func:`query_audit`; read
    again when the log has grown: ``file_state`` is its size and modification time)."""
    found = query_audit(
        AuditLog(Path(path)), department=department, resource=resource, errors_only=errors_only
    )
    frame = pd.DataFrame(found, columns=list(COLUMNS))
    frame["filters"] = [
        json.dumps(v, ensure_ascii=False) if isinstance(v, dict) and v else ""
        for v in frame["filters"]
    ]
    for col in ("status", "rows"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    frame["duration_ms"] = pd.to_numeric(frame["duration_ms"], errors="coerce")
    return frame


log_path = SharingPaths(ctx.paths).audit
if not log_path.is_file():
    st.info(ctx.t("aud.none", path=log_path))
    st.stop()
stat = log_path.stat()
state = (stat.st_size, stat.st_mtime_ns)
everything = calls(str(log_path), state)
if everything.empty:
    st.info(ctx.t("aud.none", path=log_path))
    st.stop()

departments = sorted(d for d in everything["department"].dropna().unique())
resources = sorted(r for r in everything["resource"].dropna().unique())
c1, c2, c3 = st.columns(3)
department = c1.selectbox(
    ctx.t("aud.department"),
    ["", *departments],
    key="aud_department",
    format_func=lambda v: v or ctx.t("f.all"),
)
resource = c2.selectbox(
    ctx.t("aud.resource"),
    ["", *resources],
    key="aud_resource",
    format_func=lambda v: v or ctx.t("f.all"),
)
outcome = c3.radio(
    ctx.t("aud.outcome"),
    ["all", "errors"],
    key="aud_outcome",
    horizontal=True,
    format_func=lambda v: ctx.t("f.all") if v == "all" else ctx.t("aud.errors"),
)
found = calls(str(log_path), state, department or None, resource or None, outcome == "errors")

refused = int((found["status"].fillna(0) >= 400).sum())
cols = st.columns(4)
cols[0].metric(ctx.t("aud.calls"), f"{len(found):,}")
cols[1].metric(ctx.t("aud.refused"), f"{refused:,}")
cols[2].metric(ctx.t("aud.departments"), f"{found['department'].nunique():,}")
cols[3].metric(ctx.t("aud.rows"), f"{int(found['rows'].fillna(0).sum()):,}")

anonymous = ctx.t("aud.anonymous")
shown = found.assign(department=found["department"].fillna(anonymous))
if not shown.empty:
    st.subheader(ctx.t("aud.by_department"))
    counts = (
        shown.assign(status=shown["status"].astype("string").fillna("?"))
        .groupby(["department", "status"], as_index=False)
        .size()
        .rename(columns={"size": "calls"})
    )
    fig = px.bar(
        counts,
        x="calls",
        y="department",
        color="status",
        orientation="h",
        labels={
            "calls": ctx.t("aud.calls"),
            "department": ctx.t("aud.department"),
            "status": ctx.t("aud.col.status"),
        },
    )
    fig.update_layout(
        height=max(260, 40 * counts["department"].nunique()),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": "Noto Sans CJK SC, sans-serif"},
    )
    st.plotly_chart(fig, key="chart_audit_departments", config=PLOTLY_CONFIG)

st.subheader(ctx.t("aud.log"))
table = shown.rename(columns={c: ctx.t(HEADERS[c]) for c in COLUMNS})
if len(table) > SHOWN:
    st.caption(ctx.t("aud.shown", shown=f"{SHOWN:,}", total=f"{len(table):,}"))
st.dataframe(table.head(SHOWN), hide_index=True, key="table_audit")
page_download(ctx, "api_audit", table)
