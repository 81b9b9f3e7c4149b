"""Performance: processing time against promised days, on-time, visits, satisfaction, league."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, fmt_value, get_ctx, metric_help
from dashboards.support import measure_kind
from subjectdb.serving import queries
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.performance"))

s = ctx.q("performance_summary", f)
qt = ctx.q("processing_quantiles", f)
st.subheader(ctx.t("pf.summary"))
row, qrow = s.data.iloc[0], qt.data.iloc[0]
cards = [
    ("on_time_rate", row),
    ("zero_visit_rate", row),
    ("max_one_visit_rate", row),
    ("satisfaction_rate", row),
    ("median_working_days", qrow),
    ("p90_working_days", qrow),
]
for col, (name, src) in zip(st.columns(len(cards)), cards, strict=True):
    col.metric(
        ctx.t(f"m.{name}"),
        fmt_value(src[name], measure_kind(name), ctx.lang, bool(src["suppressed"])),
        help=metric_help(ctx, name),
    )
if s.ignored:
    st.caption("⚠ " + ctx.t("f.ignored", dims=", ".join(ctx.t(f"f.{d}") for d in s.ignored)))

r = ctx.q("processing_time", f)
fig = px.bar(
    r.data,
    x="days_vs_promise",
    y="completed_cases",
    labels={
        "days_vs_promise": ctx.t("m.days_vs_promise"),
        "completed_cases": ctx.t("m.completed_cases"),
    },
)
fig.add_vline(x=0.5, line_dash="dash", line_color="#C8102E")
chart_block(
    ctx,
    "performance_processing_time",
    ctx.t("pf.hist"),
    fig,
    r,
    ("days_vs_promise",),
    ("completed_cases",),
    notes=[ctx.t("pf.hist_note")],
)

MEASURES = list(queries.PERF_MEASURES)
c1, c2 = st.columns([2, 1])
sort_by = c1.selectbox(
    ctx.t("pf.sort_by"), MEASURES, index=2, key="pf_sort", format_func=lambda m: ctx.t(f"m.{m}")
)
order = c2.radio(
    ctx.t("pf.order"),
    ["desc", "asc"],
    key="pf_order",
    horizontal=True,
    format_func=lambda o: ctx.t(f"pf.order_{o}"),
)
ascending = order == "asc"
LEAGUES = [("item", "pf.league_items"), ("department", "pf.league_depts")]
if "item_department" in queries.PERF_GROUPS:
    LEAGUES.append(("item_department", "pf.league_item_depts"))
for by, title in LEAGUES:
    r = ctx.q("performance_by", f, by)
    dims = ("item", "department") if by == "item_department" else (by,)
    d = r.data.sort_values(sort_by, ascending=ascending, na_position="last").reset_index(drop=True)
    top = d[~d["suppressed"] & d[sort_by].notna()].head(20)
    top = top.assign(
        name=[" · ".join(ctx.labels.name(x, row[x]) for x in dims) for _, row in top.iterrows()]
    )
    fig = px.bar(
        top.iloc[::-1],
        x=sort_by,
        y="name",
        orientation="h",
        labels={sort_by: ctx.t(f"m.{sort_by}"), "name": " · ".join(ctx.t(f"d.{x}") for x in dims)},
    )
    if measure_kind(sort_by) == "share":
        fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(height=max(300, 24 * len(top)))
    chart_block(
        ctx,
        f"performance_league_{by}",
        ctx.t(title, order=ctx.t(f"pf.order_{order}"), measure=ctx.t(f"m.{sort_by}")),
        fig,
        Result(d, r.source, r.ignored),
        dims,
        MEASURES,
        column=sort_by,
        show_table=True,
        empty=None if not top.empty else ctx.t("c.nothing_to_plot"),
    )
