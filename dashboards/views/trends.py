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
