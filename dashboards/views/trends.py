"""Trends: monthly series, year on year, seasonality."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboards.common import chart_block, get_ctx
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.trends"))

r = ctx.q("demand", f, ("month",))
df = r.data
fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Bar(x=df["month"], y=df["cases"], name=ctx.t("m.cases")), secondary_y=False)
fig.add_trace(
    go.Scatter(
        x=df["month"], y=df["rate_per_1000"], name=ctx.t("m.rate_per_1000"), mode="lines+markers"
    ),
    secondary_y=True,
)
fig.update_xaxes(title_text=ctx.t("d.month"))
fig.update_yaxes(title_text=ctx.t("m.cases"), secondary_y=False)
fig.update_yaxes(title_text=ctx.t("m.rate_per_1000"), secondary_y=True)
chart_block(
    ctx,
    "trends_monthly",
    ctx.t("tr.monthly"),
    fig,
    r,
    ("month",),
    ("cases", "distinct_applicants", "rate_per_1000", "online_share"),
)

# the planners' monthly indicators: online share (demand) and performance by month
p = ctx.q("performance_by", f, "month")
perf = p.data.sort_values("month")
monthly = df[["month", "online_share", "suppressed"]].rename(columns={"suppressed": "d_supp"})
both_m = monthly.merge(perf, on="month", how="outer").sort_values("month")
INDICATORS = [
    ("online_share", "d_supp"),
    ("on_time_rate", "suppressed"),
    ("satisfaction_rate", "suppressed"),
    ("bad_review_rate", "suppressed"),
    ("zero_visit_rate", "suppressed"),
    ("max_one_visit_rate", "suppressed"),
]
fig = make_subplots(
    rows=2,
    cols=3,
    subplot_titles=[ctx.t(f"m.{m}") for m, _ in INDICATORS],
    shared_xaxes=True,
    vertical_spacing=0.14,
)
for i, (m, flag) in enumerate(INDICATORS):
    part = both_m[~both_m[flag].fillna(True).astype(bool) & both_m[m].notna()]
    fig.add_trace(
        go.Scatter(
            x=part["month"],
            y=part[m],
            mode="lines+markers",
            name=ctx.t(f"m.{m}"),
            hovertemplate="%{x|%Y-%m}: %{y:.1%}<extra></extra>",
        ),
        row=i // 3 + 1,
        col=i % 3 + 1,
    )
fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
fig.update_layout(height=560, showlegend=False)
masks = {m: both_m[flag].fillna(True).astype(bool) for m, flag in INDICATORS}
chart_block(
    ctx,
    "trends_indicators",
    ctx.t("tr.indicators"),
    fig if not both_m.empty else None,
    Result(both_m.drop(columns=["d_supp"]), p.source, tuple(set(r.ignored) | set(p.ignored))),
    ("month",),
    [m for m, _ in INDICATORS],
    column="online_share",
    show_table=True,
    masks=masks,
    notes=[ctx.t("tr.indicators_note")],
)

# year on year: the same months one year earlier
prev = ctx.q("demand", f.shifted(-12), ("month",)).data.copy()
cur = df.copy()
cur["series"], prev["series"] = ctx.t("d.period_current"), ctx.t("d.period_previous")
prev["month"] = pd.to_datetime(prev["month"]) + pd.DateOffset(years=1)
both = pd.concat([cur, prev], ignore_index=True)
both["month"] = pd.to_datetime(both["month"])
fig = px.line(
    both,
    x="month",
    y="cases",
    color="series",
    markers=True,
    labels={"month": ctx.t("d.month"), "cases": ctx.t("m.cases"), "series": ctx.t("d.series")},
)
yoy = both[["series", "month", "cases", "distinct_applicants", "suppressed"]]
chart_block(
    ctx,
    "trends_yoy",
    ctx.t("tr.yoy"),
    fig,
    Result(yoy, r.source, r.ignored),
    ("series", "month"),
    ("cases", "distinct_applicants"),
)

# seasonality over every month in the warehouse
allf = replace(f, month_from=ctx.bounds[0], month_to=ctx.bounds[1])
s = ctx.q("demand", allf, ("month",)).data.copy()
s["year"] = pd.to_datetime(s["month"]).dt.year.astype(str)
s["month_of_year"] = pd.to_datetime(s["month"]).dt.month
fig = px.line(
    s,
    x="month_of_year",
    y="cases",
    color="year",
    markers=True,
    labels={
        "month_of_year": ctx.t("d.month_of_year"),
        "cases": ctx.t("m.cases"),
        "year": ctx.t("d.year"),
    },
)
fig.update_xaxes(dtick=1)
chart_block(
    ctx,
    "trends_seasonality",
    ctx.t("tr.season"),
    fig,
    Result(s[["year", "month_of_year", "cases", "distinct_applicants", "suppressed"]], r.source),
    ("year", "month_of_year"),
    ("cases", "distinct_applicants"),
    notes=[ctx.t("tr.season_note")],
)
