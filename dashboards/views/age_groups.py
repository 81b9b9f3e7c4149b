"""Age groups: population pyramid beside the demand by age group; rate heatmap by theme."""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import chart_block, get_ctx
from subjectdb.serving import queries


def _nice_ticks(peak: float) -> list[float]:
    """0 and round steps up to ``peak`` (the pyramid's axis shows residents, unsigned)."""
    if peak <= 0:
        return [0.0]
    step = 10 ** math.floor(math.log10(peak))
    if peak / step < 3:
        step /= 2
    return [i * step for i in range(int(peak // step) + 1)]


ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.age"))

left, right = st.columns(2)
with left:
    r = ctx.q("population_pyramid", f)
    p = r.data.copy()
    # the 5-year bands are categories (not dates), youngest at the bottom; men left, women right
    bands = list(dict.fromkeys(p["band"].astype(str)))
    suppressed = p["suppressed"] if "suppressed" in p else pd.Series(False, index=p.index)
    fig = go.Figure()
    for sex, sign in (("male", -1), ("female", 1)):
        part = p[p["sex"].isin([sex, "男" if sex == "male" else "女"]) & ~suppressed]
        if part.empty:
            continue
        fig.add_trace(
            go.Bar(
                y=part["band"].astype(str),
                x=sign * part["population"],
                orientation="h",
                name=ctx.t(f"d.{sex}"),
                customdata=part["population"],
                hovertemplate="%{y}: %{customdata:,.0f}<extra>" + ctx.t(f"d.{sex}") + "</extra>",
            )
        )
    peak = float(p.loc[~suppressed, "population"].max()) if (~suppressed).any() else 0.0
    ticks = [v for v in _nice_ticks(peak)]
    fig.update_layout(barmode="relative", height=480, bargap=0.05)
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=bands,
        title_text=ctx.t("d.band"),
    )
    fig.update_xaxes(
        title_text=ctx.t("age.pyramid_axis"),
        tickvals=[-v for v in ticks[::-1]] + ticks[1:],
        ticktext=[f"{v:,.0f}" for v in ticks[::-1]] + [f"{v:,.0f}" for v in ticks[1:]],
    )
    chart_block(
        ctx,
        "age_population_pyramid",
        ctx.t("age.pop_pyramid", year=f.month_to.year),
        fig,
        r,
        ("band", "sex"),
        ("population",),
    )
with right:
    r = ctx.q("demand", f, ("age_group",))
    d = r.data[r.data["age_group"] != "NA"].copy()
    d["label"] = [ctx.labels.name("age_group", a) for a in d["age_group"]]
    fig = px.bar(
        d,
        y="label",
        x="rate_per_1000",
        orientation="h",
        hover_data=["cases"],
        labels={
            "label": ctx.t("d.age_group"),
            "rate_per_1000": ctx.t("m.rate_per_1000"),
            "cases": ctx.t("m.cases"),
        },
    )
    fig.update_layout(height=480)
    chart_block(
        ctx,
        "age_demand",
        ctx.t("age.demand_pyramid"),
        fig,
        type(r)(d.drop(columns="label"), r.source, r.ignored),
        ("age_group",),
        ("cases", "distinct_applicants", "population", "rate_per_1000"),
        column="rate_per_1000",
    )

r = ctx.q("demand", f, ("age_group", "theme"))
h = r.data[(r.data["age_group"] != "NA")].copy()
person_themes = set(ctx.label_tables["theme"].query("applicant_type == 'person'")["code"])
h = h[h["theme"].isin(person_themes)]
if not h.empty:
    grid = h.assign(
        age=[ctx.labels.name("age_group", a) for a in h["age_group"]],
        th=[ctx.labels.name("theme", x) for x in h["theme"]],
    ).pivot_table(index="age", columns="th", values="rate_per_1000", aggfunc="first", dropna=False)
    order = [ctx.labels.name("age_group", a) for a in ctx.label_tables["age_group"]["code"]]
    grid = grid.reindex([a for a in order if a in grid.index])
    fig = px.imshow(
        grid,
        aspect="auto",
        color_continuous_scale="YlOrRd",
        text_auto=".1f",
        labels={
            "x": ctx.t("d.theme"),
            "y": ctx.t("d.age_group"),
            "color": ctx.t("m.rate_per_1000"),
        },
    )
else:
    fig = None
chart_block(
    ctx,
    "age_theme_heatmap",
    ctx.t("age.heatmap"),
    fig,
    type(r)(h, r.source, r.ignored),
    ("age_group", "theme"),
    ("cases", "distinct_applicants", "population", "rate_per_1000"),
    column="rate_per_1000",
)

# demand by sex and age group (rates over residents of the same sex and age group)
if "sex" in queries.DEMAND_DIMS:
    r = ctx.q("demand", f, ("age_group", "sex"))
    s = r.data[(r.data["age_group"] != "NA") & r.data["sex"].isin(["male", "female"])].copy()
    shown = s[~s["suppressed"] & s["cases"].notna()]
    plot = shown.assign(
        age=[ctx.labels.name("age_group", a) for a in shown["age_group"]],
        sx=[ctx.labels.name("sex", x) for x in shown["sex"]],
    )
    order = [ctx.labels.name("age_group", a) for a in ctx.label_tables["age_group"]["code"]]
    fig = px.bar(
        plot,
        x="age",
        y="cases",
        color="sx",
        barmode="group",
        hover_data={"rate_per_1000": ":,.1f"},
        category_orders={"age": order, "sx": [ctx.t("d.male"), ctx.t("d.female")]},
        labels={
            "age": ctx.t("d.age_group"),
            "rate_per_1000": ctx.t("m.rate_per_1000"),
            "sx": ctx.t("d.sex"),
            "cases": ctx.t("m.cases"),
        },
    )
    fig.update_xaxes(type="category")
    chart_block(
        ctx,
        "age_sex_demand",
        ctx.t("age.sex_demand"),
        fig,
        type(r)(s, r.source, r.ignored),
        ("age_group", "sex"),
        ("cases", "distinct_applicants", "population", "rate_per_1000"),
        column="rate_per_1000",
        show_table=True,
        empty=None if not plot.empty else ctx.t("c.nothing_to_plot"),
    )
