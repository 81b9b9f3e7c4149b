"""Comparison: 2–4 regions (counties or prefectures) side by side on every metric, the province
as a dashed reference line; the regions are kept in the URL (``cmp=``), so a comparison is a
link.

Every number is one of the serving queries over the region (the sidebar's other filters apply;
its region filter is replaced by the regions compared).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import chart_block, get_ctx
from dashboards.support import format_number, measure_kind
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
lb = ctx.labels
st.title(ctx.t("page.compare"))

regions = ctx.label_tables["region"]
present = ctx.q("regions_present")
counties = sorted(set(present["county"].dropna()))
prefectures = sorted(set(present["prefecture"].dropna()))
province = str(present["province"].dropna().iloc[0]) if not present.empty else None
options = prefectures + counties
parent = dict(zip(present["county"], present["prefecture"], strict=False))


def _label(code: str) -> str:
    if code in parent:
        return f"{lb.name('region', parent[code])} · {lb.name('region', code)}"
    return lb.name("region", code)


if "cmp_regions" not in st.session_state:
    wanted = [c for c in str(st.query_params.get("cmp", "")).split(",") if c]
    bad = [c for c in wanted if c not in options]
    if bad:
        st.warning(ctx.t("cmp.bad", values=", ".join(bad)))
    # without a link: the first two prefectures, so the page opens on a comparison
    picked = [c for c in wanted if c in options][:4] if "cmp" in st.query_params else []
    st.session_state["cmp_regions"] = picked or prefectures[:2]
chosen = st.multiselect(
    ctx.t("cmp.pick"),
    options,
    key="cmp_regions",
    format_func=_label,
    max_selections=4,
    placeholder=ctx.t("cmp.placeholder"),
)
if chosen:
    st.query_params["cmp"] = ",".join(chosen)
elif "cmp" in st.query_params:
    del st.query_params["cmp"]
if f.region:
    st.caption("⚠ " + ctx.t("cmp.region_filter"))
if len(chosen) < 2:
    st.info(ctx.t("cmp.need_two"))
    st.stop()

year = f.month_to.year
theme = f.themes[0] if len(f.themes) == 1 else "ALL"
METRICS = [
    "cases",
    "rate_per_1000",
    "online_share",
    "on_time_rate",
    "satisfaction_rate",
    "bad_review_rate",
    "zero_visit_rate",
    "standardised_ratio",
]


def _values(code: str) -> dict[str, Any]:
    """Every metric of one region (suppressed cells as None, with a flag per metric)."""
    rf = replace(f, region=code)
    out: dict[str, Any] = {"region": code}
    d = ctx.q("demand", rf).data.iloc[0]
    for m in ("cases", "rate_per_1000", "online_share"):
        out[m], out[f"{m}__s"] = d[m], bool(d["suppressed"])
    p = ctx.q("performance_summary", rf).data.iloc[0]
    for m in ("on_time_rate", "satisfaction_rate", "bad_review_rate", "zero_visit_rate"):
        out[m], out[f"{m}__s"] = p[m], bool(p["suppressed"])
    out["standardised_ratio"], out["standardised_ratio__s"] = None, False
    if code in parent:  # standardised ratios are county results
        s = ctx.q("standardised", rf, year, theme).data
        s = s[s["county"] == code]
        if not s.empty:
            out["standardised_ratio"] = s["standardised_ratio"].iloc[0]
            out["standardised_ratio__s"] = bool(s["suppressed"].iloc[0])
    return out


rows = pd.DataFrame([_values(c) for c in chosen])
ref = _values(province) if province else None
rows["name"] = [_label(c) for c in rows["region"]]
cols = st.columns(2)
for i, m in enumerate(METRICS):
    kind = measure_kind(m)
    shown = rows[~rows[f"{m}__s"] & rows[m].notna()]
    fig = px.bar(
        shown,
        x="name",
        y=m,
        text=[format_number(v, kind) for v in shown[m]],
        labels={"name": ctx.t("cmp.region"), m: ctx.t(f"m.{m}")},
        category_orders={"name": list(rows["name"])},
    )
    fig.update_traces(textposition="outside", cliponaxis=False)
    ref_value = ref[m] if ref is not None and not ref[f"{m}__s"] else None
    if m == "standardised_ratio":
        ref_value = 1.0  # the province as a whole is its own standard
    if kind == "count":  # a province total is no reference for a region's count: said in words
        if ref_value is not None and ref_value == ref_value:
            fig.update_layout(
                title={"text": f"{ctx.t('cmp.province')} {format_number(ref_value, kind)}"}
            )
        ref_value = None
    if ref_value is not None and ref_value == ref_value:
        fig.add_hline(
            y=float(ref_value),
            line_dash="dash",
            line_color="#C8102E",
            annotation_text=f"{ctx.t('cmp.province')} {format_number(ref_value, kind)}",
            annotation_position="top right",
        )
    if kind == "share":
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_layout(height=340, xaxis={"type": "category"})
    notes = []
    if rows[f"{m}__s"].any():
        notes.append(ctx.t("cmp.withheld", names=", ".join(rows.loc[rows[f"{m}__s"], "name"])))
    missing = ~rows[f"{m}__s"] & rows[m].isna()
    if missing.any():
        notes.append(ctx.t("cmp.missing", names=", ".join(rows.loc[missing, "name"])))
    if m == "standardised_ratio":
        notes.append(ctx.t("cmp.std_note", year=year))
    data = (
        rows[["region", m]].rename(columns={"region": "county"}).assign(suppressed=rows[f"{m}__s"])
    )
    with cols[i % 2]:
        chart_block(
            ctx,
            f"compare_{m}",
            ctx.t(f"m.{m}"),
            fig,
            Result(data, "subj_applicant_demand" if i < 3 else "subj_service_performance"),
            ("county",),
            (m,),
            column=m,
            notes=notes,
            empty=None if not shown.empty else ctx.t("c.nothing_to_plot"),
        )

# one table: every region and the province on every metric
table = pd.concat([rows, pd.DataFrame([ref])] if ref is not None else [rows], ignore_index=True)
table["region"] = table["region"].astype(str)
masks = {m: table[f"{m}__s"].astype(bool) for m in METRICS}
chart_block(
    ctx,
    "compare_table",
    ctx.t("cmp.table"),
    None,
    Result(table.rename(columns={"region": "county"}), "subj_applicant_demand"),
    ("county",),
    METRICS,
    show_table=True,
    masks=masks,
)

# monthly online share, one line per region, the province dashed
lines = []
for code in [*chosen, province] if province else chosen:
    m = ctx.q("demand", replace(f, region=code), ("month",)).data
    lines.append(m.assign(region=code, name=_label(code) if code != province else None))
monthly = pd.concat(lines, ignore_index=True)
fig = go.Figure()
for code in chosen:
    part = monthly[(monthly["region"] == code) & ~monthly["suppressed"]]
    fig.add_trace(
        go.Scatter(x=part["month"], y=part["online_share"], mode="lines+markers", name=_label(code))
    )
if province:
    part = monthly[(monthly["region"] == province) & ~monthly["suppressed"]]
    fig.add_trace(
        go.Scatter(
            x=part["month"],
            y=part["online_share"],
            mode="lines",
            name=ctx.t("cmp.province"),
            line={"dash": "dash", "color": "#C8102E"},
        )
    )
fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title_text=ctx.t("m.online_share"))
fig.update_xaxes(title_text=ctx.t("d.month"))
chart_block(
    ctx,
    "compare_online_monthly",
    ctx.t("cmp.online_monthly"),
    fig,
    Result(monthly.rename(columns={"region": "county"}), "subj_applicant_demand"),
    ("county", "month"),
    ("cases", "online_share"),
    column="online_share",
)
