"""交互核验 / Cross-verification: the approval data checked against the population and
enterprise registers (``subj_cross_verification``) by handling department, item, month and
check, with the rate per 1,000 cases, a department filter, and the selected department's
feedback list (its own mismatching case ids and checks) as a download."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.common import PLOTLY_CONFIG, fmt_value, get_ctx, page_download, show_definition
from dashboards.support import audit, safe_csv
from subjectdb.serving import queries

ctx = get_ctx()
f = ctx.filters
TOP = 20  # departments drawn in the overview chart (all of them are in its table)
st.title(ctx.t("page.verification"))
st.caption(ctx.t("xv.intro"))
st.caption("🔒 " + ctx.t("xv.restricted"))


def check_name(code: object) -> str:
    return ctx.t(f"xv.{code}") if code in queries.CHECK_ORDER else ctx.t("xv.all_checks")


def table(df: pd.DataFrame) -> pd.DataFrame:
    """Display columns: codes beside their names, checks and months labelled, measures."""
    out = pd.DataFrame(index=df.index)
    if "department" in df:
        out[ctx.t("xv.department")] = df["department"]
    if "item" in df:
        out["item_code"] = df["item"]
        out[ctx.t("d.item")] = [ctx.labels.name("item", c) for c in df["item"]]
    if "month" in df:
        out[ctx.t("d.month")] = pd.to_datetime(df["month"]).dt.strftime("%Y-%m")
    if "check" in df:
        out["check_code"] = df["check"]
        out[ctx.t("d.check")] = [check_name(c) for c in df["check"]]
    out[ctx.t("xv.checked")] = df["cases"]
    out[ctx.t("m.mismatches")] = df["mismatches"]
    out[ctx.t("m.mismatches_per_1000")] = df["mismatches_per_1000"].round(2)
    return out.reset_index(drop=True)


def on_feedback_download(department: str, rows: int) -> None:
    audit(
        ctx.paths.audit_log,
        session=ctx.session,
        event="download",
        page=st.session_state.get("_page", ""),
        filters={**ctx.filters_record(), "department": department},
        rows=rows,
        detail=f"feedback/{department}",
    )


def definition() -> None:
    show_definition(ctx, queries.MISMATCH_RATE.model, queries.MISMATCH_RATE.column)
    st.caption(
        f"**{ctx.t('m.mismatches_per_1000')}** — {queries.MISMATCH_RATE.definition(ctx.lang)}"
    )


def kpis(result: queries.Result) -> None:
    row = result.data.iloc[0] if len(result.data) else None
    cols = st.columns(3)
    values = (
        ("xv.checked", None if row is None else row["cases"], "count"),
        ("m.mismatches", None if row is None else row["mismatches"], "count"),
        ("m.mismatches_per_1000", None if row is None else row["mismatches_per_1000"], "rate"),
    )
    for col, (key, value, kind) in zip(cols, values, strict=True):
        col.metric(ctx.t(key), fmt_value(value, kind, ctx.lang))


def ignored_note(result: queries.Result) -> None:
    if result.ignored:
        names = ", ".join(ctx.t(f"f.{d}") for d in result.ignored)
        st.caption("⚠ " + ctx.t("f.ignored", dims=names))


# ---- every department ----------------------------------------------------------------------
total = ctx.q("cross_verification", f, ())
ignored_note(total)
kpis(total)
by_dept = ctx.q("cross_verification", f, ("department", "check")).data
if by_dept.empty:
    st.info(ctx.t("xv.none"))
    st.stop()

st.subheader(ctx.t("xv.by_department", n=TOP))
definition()
per_dept = (
    by_dept.groupby("department", as_index=False)["mismatches"]
    .sum()
    .sort_values(["mismatches", "department"], ascending=[False, True])
)
top = by_dept[by_dept["department"].isin(per_dept["department"].head(TOP))]
top = top[top["mismatches"] > 0].assign(check_name=lambda d: d["check"].map(check_name))
if not top.empty:
    fig = px.bar(
        top,
        x="mismatches",
        y="department",
        color="check_name",
        orientation="h",
        hover_data={"mismatches_per_1000": ":.2f", "cases": ":,"},
        category_orders={
            "department": per_dept["department"].head(TOP).tolist(),
            "check_name": [check_name(c) for c in queries.CHECK_ORDER],
        },
        labels={
            "mismatches": ctx.t("m.mismatches"),
            "department": ctx.t("xv.department"),
            "check_name": ctx.t("d.check"),
            "mismatches_per_1000": ctx.t("m.mismatches_per_1000"),
            "cases": ctx.t("xv.checked"),
        },
    )
    fig.update_layout(
        height=max(320, 26 * top["department"].nunique()),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": "Noto Sans CJK SC, sans-serif"},
    )
    st.plotly_chart(fig, key="chart_xv_departments", config=PLOTLY_CONFIG)
dept_table = table(by_dept)
with st.expander(ctx.t("c.table")):
    st.dataframe(dept_table, hide_index=True, key="table_xv_departments")
page_download(ctx, "cross_verification_departments", dept_table)

# ---- one department ------------------------------------------------------------------------
departments = per_dept["department"].tolist()
if st.session_state.get("xv_dept") not in departments:
    st.session_state["xv_dept"] = departments[0]
dept = str(
    st.selectbox(
        ctx.t("xv.department"), departments, key="xv_dept", help=ctx.t("xv.department_help")
    )
)
kpis(ctx.q("cross_verification", f, (), dept))

st.subheader(ctx.t("xv.by_item", dept=dept))
items = ctx.q("cross_verification", f, ("item", "check"), dept).data
item_table = table(items)
st.dataframe(item_table, hide_index=True, key="table_xv_items")
page_download(ctx, "cross_verification_items", item_table)

st.subheader(ctx.t("xv.trend", dept=dept))
trend = ctx.q("cross_verification", f, ("month", "applicant_type"), dept).data
if not trend.empty:
    trend = trend.assign(
        series=[ctx.labels.name("applicant_type", a) for a in trend["applicant_type"]]
    )
    fig = px.line(
        trend,
        x="month",
        y="mismatches_per_1000",
        color="series",
        markers=True,
        hover_data={"mismatches": True, "cases": True},
        labels={
            "month": ctx.t("d.month"),
            "mismatches_per_1000": ctx.t("m.mismatches_per_1000"),
            "series": ctx.t("d.applicant_type"),
            "mismatches": ctx.t("m.mismatches"),
            "cases": ctx.t("xv.checked"),
        },
    )
    fig.update_xaxes(tickformat="%Y-%m")
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": "Noto Sans CJK SC, sans-serif"},
    )
    st.plotly_chart(fig, key="chart_xv_trend", config=PLOTLY_CONFIG)

st.subheader(ctx.t("xv.feedback", dept=dept))
feedback = ctx.q("feedback_cases", dept, f.month_from, f.month_to)
if feedback.empty:
    st.info(ctx.t("xv.feedback_empty"))
else:
    st.caption(ctx.t("xv.feedback_note", n=len(feedback)))
    listed = pd.DataFrame(
        {
            ctx.t("xv.case_id"): feedback["case_id"],
            "item_code": feedback["item_code"],
            ctx.t("d.month"): pd.to_datetime(feedback["submitted_month"]).dt.strftime("%Y-%m"),
            "check_code": feedback["check_code"],
            ctx.t("d.check"): [check_name(c) for c in feedback["check_code"]],
        }
    )
    st.dataframe(listed, hide_index=True, key="table_xv_feedback")
    st.download_button(
        ctx.t("xv.feedback_download"),
        data=safe_csv(listed),
        file_name=f"feedback_{dept}_{f.month_from:%Y%m}-{f.month_to:%Y%m}.csv",
        mime="text/csv",
        key="dl_xv_feedback",
        on_click=on_feedback_download,
        args=(dept, len(listed)),
    )

with st.expander(ctx.t("xv.detail")):
    detail = table(ctx.q("cross_verification", f, ("item", "month", "check"), dept).data)
    st.dataframe(detail, hide_index=True, key="table_xv_detail")
    page_download(ctx, "cross_verification_detail", detail)
