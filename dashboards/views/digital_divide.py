"""Digital divide: online share by age group × urban/rural and by region; channel mix."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, get_ctx
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.digital"))
lb = ctx.labels

r = ctx.q("demand", f, ("age_group", "urban_rural"))
d = r.data[r.data["age_group"] != "NA"].copy()
d = d.assign(
    age=[lb.name("age_group", a) for a in d["age_group"]],
    ur=[lb.name("urban_rural", u) for u in d["urban_rural"]],
)
fig = px.bar(
    d,
    x="age",
    y="online_share",
    color="ur",
    barmode="group",
    hover_data={"cases": ":,.0f"},
    labels={
        "age": ctx.t("d.age_group"),
        "online_share": ctx.t("m.online_share"),
        "ur": ctx.t("d.urban_rural"),
        "cases": ctx.t("m.cases"),
    },
)
fig.update_yaxes(tickformat=".0%")
chart_block(
    ctx,
    "digital_age_urban",
    ctx.t("dd.age_ur"),
    fig,
    Result(d.drop(columns=["age", "ur"]), r.source, r.ignored),
    ("age_group", "urban_rural"),
    ("cases", "online_cases", "online_share"),
    column="online_share",
)

level = (
    "county"
    if f.region and len(f.region) == 6 and not f.region.endswith("00")
    else (
        "county"
        if f.region and f.region.endswith("00") and not f.region.endswith("0000")
        else "prefecture"
    )
)
r = ctx.q("demand", f, (level,))
d = r.data.sort_values("online_share", na_position="last")
d = d.assign(name=[lb.name("region", c) for c in d[level]])
fig = px.bar(
    d,
    x="name",
    y="online_share",
    hover_data={"cases": ":,.0f"},
    labels={
        "name": ctx.t(f"d.{level}"),
        "online_share": ctx.t("m.online_share"),
        "cases": ctx.t("m.cases"),
    },
)
fig.update_yaxes(tickformat=".0%")
chart_block(
    ctx,
    "digital_region",
    ctx.t("dd.region"),
    fig,
    Result(d.drop(columns="name"), r.source, r.ignored),
    (level,),
    ("cases", "online_cases", "online_share"),
    column="online_share",
)

r = ctx.q("demand", f, ("age_group", "channel"))
totals = ctx.q("demand", f, ("age_group",)).data.set_index("age_group")
d = r.data[r.data["age_group"] != "NA"].copy()
# each channel's share of its age group's cases; the cases of suppressed channels are not
# shown, but their total share is (the rest of the age group's cases): bars end at 100 %
d["total"] = d["age_group"].map(totals["cases"])
d["share"] = d["cases"] / d["total"]
rest = []
for age, g in d.groupby("age_group", sort=False):
    total = g["total"].iloc[0]
    hidden = g["suppressed"].any() and total == total
    if hidden:
        rest.append(
            {"age_group": age, "ch": ctx.t("dd.suppressed_channels"), "share": 1 - g["share"].sum()}
        )
plot = d[~d["suppressed"] & d["share"].notna()].assign(
    ch=lambda x: [lb.name("channel", c) for c in x["channel"]]
)[["age_group", "ch", "share"]]
plot = pd.concat([plot, pd.DataFrame(rest, columns=["age_group", "ch", "share"])])
plot["age"] = [lb.name("age_group", a) for a in plot["age_group"]]
fig = px.bar(
    plot,
    x="age",
    y="share",
    color="ch",
    barmode="stack",
    color_discrete_map={ctx.t("dd.suppressed_channels"): "#C9CED6"},
    labels={
        "age": ctx.t("d.age_group"),
        "share": ctx.t("dd.channel_share"),
        "ch": ctx.t("d.channel"),
    },
)
fig.update_yaxes(tickformat=".0%", range=[0, 1])
chart_block(
    ctx,
    "digital_channels",
    ctx.t("dd.channels"),
    fig if not plot.empty else None,
    Result(d.drop(columns=["total"]), r.source, r.ignored),
    ("age_group", "channel"),
    ("cases", "distinct_applicants", "share"),
    column="online_share",
    show_table=True,
    notes=[ctx.t("dd.channel_note")],
)
