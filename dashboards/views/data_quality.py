"""Data quality: latest validation results, quarantine counts by reason and batch, load
reconciliation. Counts only: quarantined rows themselves (raw text) are never shown."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.common import get_ctx, page_download
from subjectdb.serving import queries

ctx = get_ctx()
st.title(ctx.t("page.quality"))
st.caption(ctx.t("dq.definition"))

results_path = ctx.paths.validation / "results.parquet"
st.subheader(ctx.t("dq.validation"))
v = queries.read_parquet_file(results_path)
if v.empty:
    st.info(ctx.t("dq.no_validation", path=results_path))
else:
    # failing examples may quote raw values (IDs): never shown here
    v = v.drop(columns=[c for c in ("examples", "target") if c in v.columns])
    if {"run_id", "run_time", "stage"} <= set(v.columns):
        latest = v.sort_values("run_time").groupby("stage")["run_id"].last()
        v = v[v["run_id"].isin(latest)]
    if "success" in v.columns:
        # a result that could not be evaluated (NULL) counts as not passed
        v["success"] = v["success"].astype("boolean").fillna(False).astype(bool)
        cols = st.columns(max(1, v["stage"].nunique() if "stage" in v else 1))
        groups = v.groupby("stage") if "stage" in v else [("", v)]
        for col, (stage, part) in zip(cols, groups, strict=False):
            col.metric(
                f"{ctx.t('dq.success_rate')} · {stage}",
                f"{part['success'].mean():.1%}",
                help=ctx.t("dq.expectations", n=len(part)),
            )
        failed = v[~v["success"]]
        if not failed.empty:
            st.dataframe(failed, hide_index=True, key="dq_validation_failed")
    with st.expander(ctx.t("c.table")):
        st.dataframe(v, hide_index=True, key="dq_validation_table")
    page_download(ctx, "data_quality_validation", v)

st.subheader(ctx.t("dq.quarantine"))
q = queries.quarantine_counts(ctx.paths.root)
if q.empty:
    st.info(ctx.t("dq.no_quarantine"))
else:
    fig = px.bar(
        q,
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
    fig.update_layout(height=220 * max(1, q["extract"].nunique()))
    st.plotly_chart(fig, key="dq_quarantine_chart")
    by_reason = q.groupby(["stage", "extract", "reason"], as_index=False)["rows"].sum()
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
    st.dataframe(pd.DataFrame(rec), hide_index=True, key="dq_reconciliation_table")
    page_download(ctx, "data_quality_reconciliation", rec)
