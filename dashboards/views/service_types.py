"""Service types: treemap category → theme → item, top items, growth on the previous period."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, get_ctx

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.services"))

r = ctx.q("items_demand", f)
d = r.data.copy()
lb = ctx.labels
d["category_name"] = [lb.name("category", c) for c in d["category"]]
d["theme_name"] = [lb.name("theme", c) for c in d["theme"]]
d["item_name"] = [lb.name("item", c) for c in d["item"]]
shown = d[~d["suppressed"] & (d["cases"] > 0)]
fig = px.treemap(
    shown,
    path=["category_name", "theme_name", "item_name"],
    values="cases",
    labels={
        "cases": ctx.t("m.cases"),
        "category_name": ctx.t("d.category"),
        "theme_name": ctx.t("d.theme"),
        "item_name": ctx.t("d.item"),
    },
)
fig.update_traces(hovertemplate="%{label}<br>" + ctx.t("m.cases") + ": %{value:,.0f}")
fig.update_layout(height=520)
base = d.drop(columns=["category_name", "theme_name", "item_name"])
chart_block(
    ctx,
    "services_treemap",
    ctx.t("svc.treemap"),
    fig,
    type(r)(base, r.source, r.ignored),
    ("category", "theme", "item"),
    ("cases", "previous_cases", "growth"),
    show_table=True,
    empty=None if not shown.empty else ctx.t("c.nothing_to_plot"),
)

n = st.slider(ctx.t("svc.top_n"), 5, 50, 15, key="svc_top_n")
top = shown.nlargest(n, "cases")
fig = px.bar(
    top.iloc[::-1],
    x="cases",
    y="item_name",
    orientation="h",
    labels={"cases": ctx.t("m.cases"), "item_name": ctx.t("d.item")},
)
fig.update_layout(height=max(300, 24 * len(top)))
chart_block(
    ctx,
    "services_top",
    ctx.t("svc.top"),
    fig,
    type(r)(top.drop(columns=["category_name", "theme_name", "item_name"]), r.source, r.ignored),
    ("item", "theme", "category"),
    ("cases", "previous_cases", "growth"),
    empty=None if not top.empty else ctx.t("c.nothing_to_plot"),
)

g = shown[shown["growth"].notna()].nlargest(n, "cases").sort_values("growth")
fig = px.bar(
    g,
    x="growth",
    y="item_name",
    orientation="h",
    labels={"growth": ctx.t("m.growth"), "item_name": ctx.t("d.item")},
)
fig.update_xaxes(tickformat=".0%")
fig.update_layout(height=max(300, 24 * len(g)))
chart_block(
    ctx,
    "services_growth",
    ctx.t("svc.growth"),
    fig,
    type(r)(g.drop(columns=["category_name", "theme_name", "item_name"]), r.source, r.ignored),
    ("item",),
    ("cases", "previous_cases", "growth"),
    empty=None if not g.empty else ctx.t("c.nothing_to_plot"),
)
