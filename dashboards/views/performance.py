"""Performance: processing time against promised days, on-time, visits, satisfaction, league."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.common import chart_block, fmt_value, get_ctx, measure_kind, metric_help
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
sort_by = st.selectbox(
    ctx.t("pf.sort_by"), MEASURES, index=2, key="pf_sort", format_func=lambda m: ctx.t(f"m.{m}")
)
for by, title in (("item", "pf.league_items"), ("department", "pf.league_depts")):
    r = ctx.q("performance_by", f, by)
    d = r.data.sort_values(sort_by, ascending=False, na_position="last").reset_index(drop=True)
    top = d[~d["suppressed"]].head(20)
    top = top.assign(name=[ctx.labels.name(by, c) for c in top[by]])
    fig = px.bar(
        top.iloc[::-1],
        x=sort_by,
        y="name",
        orientation="h",
        labels={sort_by: ctx.t(f"m.{sort_by}"), "name": ctx.t(f"d.{by}")},
    )
    if measure_kind(sort_by) == "share":
        fig.update_xaxes(tickformat=".0%")
    fig.update_layout(height=max(300, 24 * len(top)))
    chart_block(
        ctx,
        f"performance_league_{by}",
        ctx.t(title),
        fig,
        Result(d, r.source, r.ignored),
        (by,),
        MEASURES,
        column=sort_by,
        notes=[ctx.t("pf.lower_bound")],
        show_table=True,
    )
