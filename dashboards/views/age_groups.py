"""Age groups: population pyramid beside the demand by age group; rate heatmap by theme."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import chart_block, get_ctx

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.age"))

left, right = st.columns(2)
with left:
    r = ctx.q("population_pyramid", f)
    p = r.data.copy()
    fig = go.Figure()
    for sex, sign in (("male", -1), ("female", 1)):
        part = p[p["sex"].isin([sex, "男" if sex == "male" else "女"])]
        if part.empty:
            continue
        fig.add_trace(
            go.Bar(
                y=part["band"],
                x=sign * part["population"],
                orientation="h",
                name=ctx.t(f"d.{sex}"),
                customdata=part["population"],
                hovertemplate="%{y}: %{customdata:,.0f}<extra>" + ctx.t(f"d.{sex}") + "</extra>",
            )
        )
    if "all" in set(p["sex"]):
        fig.add_trace(
            go.Bar(y=p["band"], x=p["population"], orientation="h", name=ctx.t("m.population"))
        )
    fig.update_layout(
        barmode="relative",
        height=480,
        bargap=0.05,
        xaxis_title=ctx.t("m.population"),
        yaxis_title=ctx.t("d.band"),
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
