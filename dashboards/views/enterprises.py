"""Enterprises: legal-person demand per 1,000 active enterprises by industry, size, region."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, get_ctx
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.enterprises"))
lb = ctx.labels
MEAS = ("cases", "distinct_applicants", "active_enterprises", "rate_per_1000")


def bar(dim: str, key: str, title: str) -> None:
    r = ctx.q("enterprise_demand", f, (dim,))
    d = r.data.assign(name=[lb.name(dim if dim != "county" else "region", c) for c in r.data[dim]])
    fig = px.bar(
        d.sort_values("rate_per_1000", na_position="first"),
        x="rate_per_1000",
        y="name",
        orientation="h",
        hover_data={"cases": ":,.0f"},
        labels={
            "rate_per_1000": ctx.t("m.ent_rate_per_1000"),
            "name": ctx.t(f"d.{dim}"),
            "cases": ctx.t("m.cases"),
        },
    )
    fig.update_layout(height=max(300, 24 * len(d)))
    chart_block(
        ctx,
        key,
        ctx.t(title),
        fig,
        Result(d.drop(columns="name"), r.source, r.ignored),
        (dim,),
        MEAS,
        column="rate_per_1000",
    )


c1, c2 = st.columns(2)
with c1:
    bar("industry", "enterprises_industry", "ent.industry")
with c2:
    bar("size_class", "enterprises_size", "ent.size")
region_level = "county" if f.region and not f.region.endswith("0000") else "prefecture"
bar(region_level, "enterprises_region", "ent.region")
