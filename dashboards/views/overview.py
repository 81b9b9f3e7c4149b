"""Overview: KPI cards with the change on the previous period, and the monthly trend."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, fmt_value, get_ctx, metric_help
from dashboards.support import measure_kind
from subjectdb.serving import queries

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.overview"))

k = ctx.q("kpis", f)
cur, prev = k.data.iloc[0], k.data.iloc[1]
st.subheader(ctx.t("ov.kpis"))
st.caption(
    ctx.t(
        "ov.period",
        a=f.month_from.strftime("%Y-%m"),
        b=f.month_to.strftime("%Y-%m"),
        c=prev["month_from"].strftime("%Y-%m"),
        d=prev["month_to"].strftime("%Y-%m"),
    )
)
cols = st.columns(len(queries.KPI_NAMES))
for col, name in zip(cols, queries.KPI_NAMES, strict=True):
    kind = measure_kind(name)
    value, before = cur[name], prev[name]
    hidden = bool(cur["suppressed"]) and name in (
        "cases",
        "distinct_applicants",
        "rate_per_1000",
        "online_share",
    )
    delta = None
    if (
        not hidden
        and value == value
        and before == before
        and value is not None
        and before is not None
        and not bool(prev["suppressed"])
    ):
        diff = float(value) - float(before)
        # shares change in percentage points, counts and rates in per cent
        delta = (
            f"{diff * 100:+.1f} pp"
            if kind == "share"
            else f"{diff / float(before):+.1%}"
            if before
            else None
        )
    col.metric(
        ctx.t(f"m.{name}"),
        fmt_value(value, kind, ctx.lang, hidden),
        delta,
        help=metric_help(ctx, name),
    )
if k.ignored:
    st.caption(
        "⚠ "
        + ctx.t("f.ignored", dims=", ".join(ctx.t(f"f.{d}") for d in k.ignored))
        + f" ({ctx.t('m.on_time_rate')}, {ctx.t('m.satisfaction_rate')})"
    )

r = ctx.q("demand", f, ("month",))
df = r.data
fig = px.line(
    df,
    x="month",
    y="cases",
    markers=True,
    labels={"month": ctx.t("d.month"), "cases": ctx.t("m.cases")},
)
chart_block(
    ctx,
    "overview_trend",
    ctx.t("ov.trend"),
    fig,
    r,
    ("month",),
    ("cases", "distinct_applicants", "rate_per_1000", "online_share"),
)
