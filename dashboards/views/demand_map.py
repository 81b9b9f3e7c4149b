"""Demand map: choropleth of counties or prefectures (offline), ranking, click to drill down.

Answers "which counties have the lowest age-standardised demand for a theme, and how many of
their elderly apply online?": choose the theme (e.g. 养老 pension) in the sidebar and the
age-standardised metric here; the ranking lists the lowest first with the online share of
applicants aged 60+.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from shapely.geometry import shape

from dashboards.common import chart_block, get_ctx
from subjectdb.serving import geo
from subjectdb.serving.queries import Result

ctx = get_ctx()
f = ctx.filters
st.title(ctx.t("page.map"))

METRICS = ["cases", "rate_per_1000", "age_standardised_rate", "standardised_ratio"]
STANDARDISED = {"age_standardised_rate", "standardised_ratio"}
ELDERLY = ("60-74", "75+")

for key, url_key, allowed in (
    ("map_metric", "metric", METRICS),
    ("map_level", "level", ["prefecture", "county"]),
):
    if key not in st.session_state:
        v = st.query_params.get(url_key)
        st.session_state[key] = v if v in allowed else allowed[0 if key == "map_metric" else 1]

c1, c2 = st.columns([3, 1])
metric = c1.radio(
    ctx.t("map.metric"),
    METRICS,
    key="map_metric",
    horizontal=True,
    format_func=lambda m: ctx.t(f"m.{m}"),
)
if metric in STANDARDISED:
    st.session_state["map_level"] = "county"
level = c2.radio(
    ctx.t("map.level"),
    ["prefecture", "county"],
    key="map_level",
    horizontal=True,
    format_func=lambda v: ctx.t(f"d.{v}"),
    disabled=metric in STANDARDISED,
)
st.query_params["metric"], st.query_params["level"] = metric, level

notes: list[str] = [ctx.t("map.click")]
if metric in STANDARDISED:
    year = f.month_to.year
    theme = f.themes[0] if len(f.themes) == 1 else "ALL"
    if len(f.themes) > 1:
        notes.append(ctx.t("map.std_multi_theme"))
    theme_name = ctx.t("map.all_themes") if theme == "ALL" else ctx.labels.name("theme", theme)
    notes.append(ctx.t("map.std_note", year=year, theme=theme_name))
    r = ctx.q("standardised", f, year, theme)
    data = r.data.rename(columns={"county": "code"})
    period = replace(
        f,
        month_from=max(date(year, 1, 1), ctx.bounds[0]),
        month_to=min(date(year, 12, 1), ctx.bounds[1]),
    )
    elderly_themes = () if theme == "ALL" else (theme,)
else:
    r = ctx.q("demand", f, (level,))
    data = r.data.rename(columns={level: "code"})
    period, elderly_themes = f, f.themes

regions = ctx.label_tables["region"]
data = data[data["code"].notna()].copy()
data["name"] = [ctx.labels.name("region", c) for c in data["code"]]


@st.cache_data(max_entries=32, show_spinner=False)
def _geojson(level: str, codes: tuple[str, ...], cache_dir: str) -> dict[str, Any]:
    members = None
    if level == "prefecture":
        sub = regions[regions["prefecture_code"].isin(codes) & (regions["level"] == "county")]
        members = {p: tuple(g["code"]) for p, g in sub.groupby("prefecture_code")}
    from pathlib import Path

    return geo.boundaries(codes, level, Path(cache_dir), members=members)


gj = _geojson(level, tuple(sorted(data["code"])), str(ctx.paths.root / "cache" / "geo"))
if gj.get("missing"):
    notes.append(ctx.t("map.missing_geo", codes=", ".join(gj["missing"])))


def _view(gj: dict[str, Any]) -> tuple[dict[str, float], float]:
    if not gj["features"]:
        return {"lat": 30.0, "lon": 120.0}, 5.0
    b = [shape(ft["geometry"]).bounds for ft in gj["features"]]
    x0, y0 = min(v[0] for v in b), min(v[1] for v in b)
    x1, y1 = max(v[2] for v in b), max(v[3] for v in b)
    span = max(x1 - x0, (y1 - y0) * 1.3, 0.05)
    zoom = math.log2(360 / span) - 0.1  # the regions fill the 560 px high map
    return {"lat": (y0 + y1) / 2, "lon": (x0 + x1) / 2}, max(1.0, min(11.0, zoom))


center, zoom = _view(gj)
label = ctx.t(f"m.{metric}")
shown = data[~data["suppressed"]]
hidden = data[data["suppressed"]]


def _subset(codes: pd.Series) -> dict[str, Any]:
    """The features of ``codes`` only: each trace carries its own GeoJSON to the browser, so
    the shown and the suppressed trace each get their regions, not all of them twice."""
    keep = set(codes)
    return {"type": "FeatureCollection", "features": [x for x in gj["features"] if x["id"] in keep]}


hover: dict[str, Any] = {"code": False, metric: ":.2f" if metric != "cases" else ":,.0f"}
if metric == "standardised_ratio":
    shown = shown.assign(
        ci=[
            f"{a:.2f}–{b:.2f}" if pd.notna(a) else "—"
            for a, b in zip(shown["ratio_ci_low"], shown["ratio_ci_high"], strict=True)
        ]
    )
    hover["ci"] = True
fig = px.choropleth_map(
    shown,
    geojson=_subset(shown["code"]),
    locations="code",
    featureidkey="id",
    color=metric,
    hover_name="name",
    hover_data=hover,
    custom_data=["code"],
    color_continuous_scale="RdBu" if metric == "standardised_ratio" else "YlOrRd",
    color_continuous_midpoint=1.0 if metric == "standardised_ratio" else None,
    map_style="white-bg",
    center=center,
    zoom=zoom,
    opacity=0.85,
    labels={metric: label, "ci": ctx.t("map.ci"), "name": ctx.t(f"d.{level}")},
)
if metric in STANDARDISED and not shown.empty:
    sig = shown[(shown["ratio_ci_high"] < 1) | (shown["ratio_ci_low"] > 1)]
    if not sig.empty:
        # significant counties outlined: a transparent layer with a thick border
        fig.add_trace(
            go.Choroplethmap(
                geojson=_subset(sig["code"]),
                locations=sig["code"],
                featureidkey="id",
                z=[0] * len(sig),
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                showscale=False,
                marker_line_width=3,
                marker_line_color="#111111",
                customdata=sig[["code"]].to_numpy(),
                hovertext=[
                    f"{n}: {ctx.t('sig.low' if h < 1 else 'sig.high')}"
                    for n, h in zip(sig["name"], sig["ratio_ci_high"], strict=True)
                ],
                hoverinfo="text",
                name=ctx.t("d.significance"),
            )
        )
if not hidden.empty:
    fig.add_trace(
        go.Choroplethmap(
            geojson=_subset(hidden["code"]),
            locations=hidden["code"],
            featureidkey="id",
            z=[0] * len(hidden),
            colorscale=[[0, "#C9CED6"], [1, "#C9CED6"]],
            showscale=False,
            marker_opacity=0.85,
            customdata=hidden[["code"]].to_numpy(),
            hovertext=[
                f"{n}: {ctx.t('c.suppressed_value')} ({ctx.t('c.suppressed')})"
                for n in hidden["name"]
            ],
            hoverinfo="text",
        )
    )
# No dragmode here: with point selection on, Streamlit then sets dragmode "pan" and clickmode
# "event+select", and plotly.js selects the clicked region on map subplots in pan mode (a click
# drills down); the modebar's box and lasso tools select several regions (the first drills).
fig.update_layout(height=560, coloraxis_colorbar={"title": {"text": label}})


def _drill_to(code: str | None) -> None:
    """Set the region filter to the selected prefecture (then show its counties) or county."""
    hit = regions[regions["code"] == code]
    if hit.empty:
        return
    row = hit.iloc[0]
    st.session_state["f_prov"] = row["province_code"]
    st.session_state["f_pref"] = row["prefecture_code"]
    if row["level"] == "county":
        st.session_state["f_county"] = code
    else:
        st.session_state["f_county"] = ""
        st.session_state["map_level"] = "county"


def _drill() -> None:
    sel = st.session_state.get("chart_map_main")
    points = (sel or {}).get("selection", {}).get("points", []) if sel else []
    if points:
        p = points[0]
        _drill_to((p.get("customdata") or [None])[0] or p.get("location"))


dims: tuple[str, ...] = ("prefecture",) if level == "prefecture" else ("prefecture", "county")
if metric in STANDARDISED:
    data["significance"] = [
        "unknown" if s or pd.isna(lo) else ("low" if hi < 1 else "high" if lo > 1 else "none")
        for s, lo, hi in zip(
            data["suppressed"], data["ratio_ci_low"], data["ratio_ci_high"], strict=True
        )
    ]
    dims = (*dims, "significance")

    def _names(kind: str) -> str:
        names = data.loc[data["significance"] == kind].sort_values("standardised_ratio")["name"]
        return "、".join(names) if ctx.lang == "zh" else ", ".join(names)

    notes.append(
        ctx.t(
            "sig.sentence",
            low=_names("low") or ctx.t("sig.nobody"),
            high=_names("high") or ctx.t("sig.nobody"),
        )
    )
if level == "county" and "prefecture" not in data:
    data["prefecture"] = [regions.set_index("code")["prefecture_code"].get(c) for c in data["code"]]
plot_data = data.rename(columns={"code": level})
measures = ["cases", "distinct_applicants", "rate_per_1000", "online_share"]
if metric in STANDARDISED:
    measures = [
        "age_standardised_rate",
        "standardised_ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "crude_rate",
        "cases",
        "expected_cases",
        "population",
    ]
chart_block(
    ctx,
    "map_main",
    ctx.t("map.title", metric=label),
    fig,
    Result(plot_data, r.source, r.ignored),
    dims if level == "county" else (level,),
    measures,
    column=metric,
    notes=notes,
    on_select=_drill,
)

# Ranking, lowest first, with the online share of elderly applicants.
e = ctx.q(
    "demand",
    replace(period, age_groups=ELDERLY, applicant_types=("person",), themes=elderly_themes),
    (level,),
).data
e = e.rename(columns={level: "code"})[["code", "cases", "online_share", "suppressed"]]
e = e.rename(
    columns={
        "cases": "elderly_cases",
        "online_share": "elderly_online_share",
        "suppressed": "elderly_suppressed",
    }
)
rank = plot_data.merge(e, left_on=level, right_on="code", how="left").drop(columns="code")
rank["elderly_suppressed"] = rank["elderly_suppressed"].fillna(True).astype(bool)
rank = rank.sort_values(metric, ascending=True, na_position="last").reset_index(drop=True)


def _drill_row() -> None:
    rows = (st.session_state.get("table_map_ranking") or {}).get("selection", {}).get("rows", [])
    if rows and rows[0] < len(rank):
        _drill_to(str(rank.iloc[rows[0]][level]))


chart_block(
    ctx,
    "map_ranking",
    ctx.t("map.ranking"),
    None,
    Result(rank, r.source, r.ignored),
    dims if level == "county" else (level,),
    [*measures, "elderly_cases", "elderly_online_share"],
    column=metric,
    show_table=True,
    masks={
        "elderly_cases": rank["elderly_suppressed"],
        "elderly_online_share": rank["elderly_suppressed"],
    },
    on_row_select=_drill_row,
)
