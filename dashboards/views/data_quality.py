"""Data quality: latest validation results, quarantine counts by reason and batch, load
reconciliation. Counts only: quarantined rows themselves (raw text) are never shown."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.common import get_ctx, page_download
from dashboards.support import served_build
from subjectdb.config import Paths
from subjectdb.i18n import dq_label
from subjectdb.release import latest_release
from subjectdb.serving import queries

# the served build's record in the data folder (subjectdb.warehouse.build.BUILD_INFO_JSON, not
# imported: that module loads Great Expectations)
BUILD_RECORD = "warehouse.build.json"


def build_record(paths: Paths) -> dict[str, Any]:
    """The served build's record (build id, time, full refresh), written by the build."""
    try:
        return dict(json.loads((paths.root / BUILD_RECORD).read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        return {}


REC_COLUMNS = (
    "file",
    "extract",
    "batch",
    "encoding",
    "rows_read",
    "rows_landed",
    "rows_quarantined",
    "loaded_at",
    "lines",
)

ctx = get_ctx()
st.title(ctx.t("page.quality"))
st.caption(ctx.t("dq.definition"))

st.subheader(ctx.t("dq.build"), anchor="build-record")
record = build_record(ctx.paths)
b1, b2, b3 = st.columns([2, 1.3, 0.7])
b1.metric(ctx.t("dq.build_id"), served_build(ctx.paths) or "—")
b2.metric(ctx.t("dq.built_at"), str(record.get("built_at", "—"))[:19].replace("T", " "))
b3.metric(
    ctx.t("dq.full_refresh"), ctx.t("dq.yes") if record.get("full_refresh") else ctx.t("dq.no")
)

results_path = ctx.paths.validation / "results.parquet"
st.subheader(ctx.t("dq.validation"))
v = queries.read_parquet_file(results_path)
release = latest_release(ctx.paths)
lang = ctx.lang
if v.empty:
    st.info(ctx.t("dq.no_validation", path=results_path))
else:
    # failing examples may quote raw values (IDs): never shown here
    v = v.drop(columns=[c for c in ("examples", "target") if c in v.columns])
    if {"run_id", "run_time", "stage"} <= set(v.columns):
        latest = v.sort_values("run_time").groupby("stage")["run_id"].last()
        v = v[v["run_id"].isin(latest)]
    v = v.copy()
    v["judged"] = v["status"].astype("string").fillna("not checked")
    # a release check judges the state shown: before any release it does not apply
    release_check = v["suite"].astype("string").eq("gate_open_data")
    if release is None:
        v.loc[release_check, "judged"] = "not_published"
    if release is not None and release_check.any() and "run_time" in v:
        published = pd.Timestamp(release.stat().st_mtime, unit="s", tz="UTC")
        if (pd.to_datetime(v.loc[release_check, "run_time"], utc=True) < published).all():
            st.caption("⚠ " + ctx.t("dq.release_stale", release=release.name))
    applicable = v[v["judged"].isin(["passed", "failed", "warning"])]
    stages = list(dict.fromkeys(v["stage"]))
    for col, stage in zip(st.columns(max(1, len(stages))), stages, strict=False):
        part = applicable[applicable["stage"] == stage]
        rate = f"{(part['judged'] == 'passed').mean():.1%}" if len(part) else "—"
        col.metric(
            f"{ctx.t('dq.success_rate')} · {dq_label('stage', stage, lang)}",
            rate,
            help=ctx.t("dq.expectations", n=len(part)),
        )
    if release is None and release_check.any():
        st.info(ctx.t("dq.not_published"))
    summary = (
        v.groupby(["stage", "suite", "expectation", "severity", "judged"], dropna=False)
        .size()
        .reset_index(name="n")
    )
    shown = pd.DataFrame(
        {
            ctx.t("dq.stage"): [dq_label("stage", x, lang) for x in summary["stage"]],
            ctx.t("dq.suite"): [dq_label("suite", x, lang) for x in summary["suite"]],
            ctx.t("dq.rule"): [dq_label("rule", x, lang) for x in summary["expectation"]],
            ctx.t("dq.severity"): [dq_label("severity", x, lang) for x in summary["severity"]],
            ctx.t("dq.status"): [dq_label("status", x, lang) for x in summary["judged"]],
            ctx.t("dq.checks"): summary["n"].astype(int),
        }
    )
    bad = summary["judged"].isin(["failed", "warning"]).to_numpy()
    if bad.any():
        st.markdown("**" + ctx.t("dq.failed") + "**")
        st.dataframe(shown[bad], hide_index=True, key="dq_validation_failed")
    else:
        st.success(ctx.t("dq.all_passed"))
    with st.expander(ctx.t("c.table")):
        st.dataframe(shown, hide_index=True, key="dq_validation_table")
    page_download(ctx, "data_quality_validation", v.drop(columns="judged"))

st.subheader(ctx.t("dq.quarantine"))
q = queries.quarantine_counts(ctx.paths.root)
if q.empty:
    st.info(ctx.t("dq.no_quarantine"))
else:
    named = q.assign(
        reason=[dq_label("rule", x, lang) for x in q["reason"]],
        extract=[dq_label("extract", x, lang) for x in q["extract"]],
        stage=[dq_label("stage", x, lang) for x in q["stage"]],
        batch=q["batch"].astype(str),
    )
    fig = px.bar(
        named,
        x="batch",
        y="rows",
        color="reason",
        facet_row="extract",
        labels={
            "batch": ctx.t("dq.batch"),
            "rows": ctx.t("m.rows"),
            "reason": ctx.t("dq.reason"),
            "extract": ctx.t("dq.extract"),
        },
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(type="category")
    fig.update_layout(height=220 * max(1, q["extract"].nunique()))
    st.plotly_chart(fig, key="dq_quarantine_chart")
    by_reason = named.groupby(["stage", "extract", "reason"], as_index=False)["rows"].sum()
    st.dataframe(
        by_reason.rename(
            columns={
                "stage": ctx.t("dq.stage"),
                "extract": ctx.t("dq.extract"),
                "reason": ctx.t("dq.reason"),
                "rows": ctx.t("m.rows"),
            }
        ),
        hide_index=True,
        key="dq_quarantine_table",
    )
    page_download(ctx, "data_quality_quarantine", q)

st.subheader(ctx.t("dq.reconciliation"))
rec = queries.read_parquet_file(ctx.paths.reconciliation)
if rec.empty:
    st.info(ctx.t("dq.no_reconciliation", path=ctx.paths.reconciliation))
else:
    rec_shown = pd.DataFrame(rec).drop(columns=[c for c in ("sha256",) if c in rec])
    if "extract" in rec_shown:
        rec_shown["extract"] = [dq_label("extract", x, lang) for x in rec_shown["extract"]]
    rec_shown = rec_shown.rename(columns={c: ctx.t(f"dq.rec.{c}") for c in REC_COLUMNS})
    st.dataframe(rec_shown, hide_index=True, key="dq_reconciliation_table")
    page_download(ctx, "data_quality_reconciliation", rec)
