"""Streamlit glue shared by every page: context, global filters in the URL, cached queries,
chart blocks with definition and safe download, and the access audit log (who, from the
request: :func:`requester`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.support import (
    Labels,
    audit,
    browser_session,
    definition,
    display_frame,
    format_number,
    identify,
    model_title,
    plain_md,
    safe_csv,
    served_build,
    table_view,
)
from subjectdb import metrics
from subjectdb.config import Paths, get_paths
from subjectdb.i18n import DEFAULT_LANG, LANGS, t
from subjectdb.release import latest_release
from subjectdb.serving import queries
from subjectdb.serving.queries import Filters, Result, Warehouse

FILTER_FIELDS = {  # session key → (URL key, dimension for labels, Filters field)
    "f_age": ("age", "age_group", "age_groups"),
    "f_sex": ("sex", "sex", "sexes"),
    "f_ur": ("ur", "urban_rural", "urban_rural"),
    "f_cat": ("cat", "category", "categories"),
    "f_theme": ("theme", "theme", "themes"),
    "f_atype": ("atype", "applicant_type", "applicant_types"),
    "f_channel": ("channel", "channel", "channels"),
    "f_ind": ("ind", "industry", "industries"),
}
_PERSON_DIMS = ("sexes", "urban_rural", "industries")
"""Filters shown once the demand queries apply them (they carry the sex dimension then)."""
LIST_FILTERS = {  # session key → (URL key, dimension for labels): those the serving layer has
    k: (url, dim)
    for k, (url, dim, field_name) in FILTER_FIELDS.items()
    if field_name in Filters.__dataclass_fields__
    and (field_name not in _PERSON_DIMS or "sex" in queries.DEMAND_DIMS)
}
PAGE_PARAMS = ("metric", "level", "cmp")
# Where each measure that is not a metric is documented (model, column): its definition is read
# from there. Metrics (rates and shares) are defined once in subjectdb.metrics.
MEASURE_DOCS: dict[str, tuple[str, str]] = {
    "cases": ("subj_service_demand", "cases"),
    "distinct_applicants": ("subj_service_demand", "distinct_applicants"),
    "median_working_days": ("subj_service_performance", "median_working_days"),
    "p90_working_days": ("subj_service_performance", "p90_working_days"),
    "population": ("subj_population", "population"),
    "age_standardised_rate": ("subj_demand_standardised", "age_standardised_rate"),
    "completed_cases": ("subj_processing_time", "completed_cases"),
}
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["sendDataToCloud"]}


@dataclass
class Ctx:
    """What a page needs: language, data folder, warehouse, labels and the filters."""

    lang: str
    paths: Paths
    build_id: str
    labels: Labels
    label_tables: dict[str, pd.DataFrame]
    filters: Filters
    bounds: tuple[date, date]
    session: str
    who: dict[str, str] = field(default_factory=dict)
    """Who is asking (:func:`requester`): user, its source, client address."""

    def t(self, key: str, **kw: Any) -> str:
        return t(key, self.lang, **kw)

    def q(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``subjectdb.serving.queries.<name>`` through the bounded cache keyed on the build."""
        return _cached(
            name, self.build_id, str(self.paths.warehouse), args, tuple(sorted(kwargs.items()))
        )

    def filters_record(self) -> dict[str, Any]:
        f = self.filters
        out: dict[str, Any] = {
            "month_from": f.month_from,
            "month_to": f.month_to,
            "region": f.region,
        }
        for key in LIST_FILTERS:
            name = FILTER_FIELDS[key][2]
            out[name] = getattr(f, name)
        return out


# --------------------------------------------------------------------------- caching


@st.cache_resource(show_spinner=False)
def _warehouse(path: str) -> Warehouse:
    return Warehouse(Path(path))


@st.cache_data(max_entries=512, ttl=3600, show_spinner=False)
def _cached(name: str, build_id: str, path: str, args: tuple, kwargs: tuple) -> Any:
    fn: Callable[..., Any] = getattr(queries, name)
    return fn(_warehouse(path), *args, **dict(kwargs))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _labels(build_id: str, path: str) -> dict[str, pd.DataFrame]:
    return queries.labels(_warehouse(path))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _bounds(build_id: str, path: str) -> tuple[date, date]:
    return queries.period_bounds(_warehouse(path))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _regions(build_id: str, path: str) -> pd.DataFrame:
    return queries.regions_present(_warehouse(path))


# --------------------------------------------------------------------------- state / URL


def _month_str(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _parse_month(s: str) -> date | None:
    try:
        y, m = s.split("-")[:2]
        return date(int(y), int(m), 1)
    except (ValueError, TypeError):
        return None


def _request_context() -> tuple[Any, str | None, Any]:
    """The request's headers, client address and cookies (empty when Streamlit has none,
    e.g. under AppTest)."""
    try:
        return st.context.headers, st.context.ip_address, st.context.cookies
    except Exception:  # pragma: no cover - depends on the Streamlit runtime
        return {}, None, {}


def _signed_in_user() -> dict[str, Any] | None:
    """Streamlit's signed-in user (``st.user``, when authentication is configured)."""
    try:
        if st.user.is_logged_in:
            return dict(st.user.to_dict())
    except Exception:  # pragma: no cover - st.user without an auth configuration
        return None
    return None


def session_id() -> str:
    """The audit's session id: the same across page loads of one browser session
    (:func:`dashboards.support.browser_session`), computed once per Streamlit session."""
    if "_sid" not in st.session_state:
        _headers, _ip, cookies = _request_context()
        st.session_state["_sid"] = browser_session(cookies, uuid.uuid4().hex)
    return str(st.session_state["_sid"])


def requester() -> dict[str, str]:
    """Who is asking (:func:`dashboards.support.identify`), resolved once per session."""
    if "_who" not in st.session_state:
        headers, ip, _cookies = _request_context()
        st.session_state["_who"] = identify(headers, ip, _signed_in_user())
    return dict(st.session_state["_who"])


def init_language() -> str:
    """Language from the URL on first run, then from the switch (Chinese by default)."""
    if "lang" not in st.session_state:
        qp = st.query_params.get("lang", DEFAULT_LANG)
        st.session_state["lang"] = qp if qp in LANGS else DEFAULT_LANG
    st.sidebar.radio(
        t("app.language"),
        LANGS,
        key="lang",
        horizontal=True,
        format_func=lambda v: "中文" if v == "zh" else "English",
    )
    return str(st.session_state["lang"])


def _defaults(bounds: tuple[date, date]) -> dict[str, Any]:
    return {
        "f_mode": "year",
        "f_year": bounds[1].year,
        "f_months": (_month_str(bounds[0]), _month_str(bounds[1])),
        "f_prov": "",
        "f_pref": "",
        "f_county": "",
        **{k: [] for k in LIST_FILTERS},
    }


def _init_from_url(
    bounds: tuple[date, date], regions: pd.DataFrame, label_tables: dict[str, pd.DataFrame]
) -> list[str]:
    """Set the filter widgets' state from the URL once per session; returns bad values."""
    defaults = _defaults(bounds)
    for k, v in defaults.items():
        st.session_state.setdefault(k, v)
    if st.session_state.get("_url_loaded"):
        return []
    st.session_state["_url_loaded"] = True
    qp = st.query_params
    bad: list[str] = []
    years = list(range(bounds[0].year, bounds[1].year + 1))
    if "year" in qp:
        try:
            y = int(qp["year"])
            if y not in years:
                raise ValueError
            st.session_state["f_mode"], st.session_state["f_year"] = "year", y
        except ValueError:
            bad.append(f"year={qp['year']}")
    elif "from" in qp or "to" in qp:
        a = _parse_month(qp.get("from", _month_str(bounds[0])))
        b = _parse_month(qp.get("to", _month_str(bounds[1])))
        if a and b and bounds[0] <= a <= b <= bounds[1]:
            st.session_state["f_mode"] = "months"
            st.session_state["f_months"] = (_month_str(a), _month_str(b))
        else:
            bad.append(f"from/to={qp.get('from')}/{qp.get('to')}")
    if "region" in qp:
        code = qp["region"]
        hit = regions[
            (regions["county"] == code)
            | (regions["prefecture"] == code)
            | (regions["province"] == code)
        ]
        if hit.empty:
            bad.append(f"region={code}")
        else:
            row = hit.iloc[0]
            st.session_state["f_prov"] = row["province"]
            if code != row["province"]:
                st.session_state["f_pref"] = row["prefecture"]
            if code == row["county"]:
                st.session_state["f_county"] = code
    for key, (url_key, dim) in LIST_FILTERS.items():
        if url_key not in qp:
            continue
        valid = set(_options(dim, label_tables))
        vals = [v for v in qp[url_key].split(",") if v]
        bad += [f"{url_key}={v}" for v in vals if v not in valid]
        st.session_state[key] = [v for v in vals if v in valid]
    return bad


def _options(dim: str, label_tables: dict[str, pd.DataFrame]) -> list[str]:
    if dim == "sex":
        return ["male", "female"]
    df = label_tables.get(dim)
    if df is None or df.empty:
        return []
    codes = df["code"].astype(str).tolist()
    if dim in ("age_group", "industry"):
        codes = [c for c in codes if c != "NA"]
    return codes


def _reset(bounds: tuple[date, date]) -> None:
    for k, v in _defaults(bounds).items():
        st.session_state[k] = v


def _write_url(lang: str, f: Filters, mode: str) -> None:
    params: dict[str, str] = {}
    if lang != DEFAULT_LANG:
        params["lang"] = lang
    if mode == "year":
        params["year"] = str(f.month_from.year)
    else:
        params["from"], params["to"] = _month_str(f.month_from), _month_str(f.month_to)
    if f.region:
        params["region"] = f.region
    for key, (url_key, _dim) in LIST_FILTERS.items():
        vals = st.session_state.get(key) or []
        if vals:
            params[url_key] = ",".join(vals)
    current = {k: st.query_params.get(k) for k in st.query_params}
    for k in PAGE_PARAMS:  # page-specific view settings (e.g. the map metric) stay
        if k in current:
            params[k] = str(current[k])
    if current != params:
        st.query_params.from_dict(params)


def sidebar_filters(
    lang: str,
    bounds: tuple[date, date],
    regions: pd.DataFrame,
    label_tables: dict[str, pd.DataFrame],
    labels: Labels,
) -> Filters:
    """The global filters (sidebar), kept in session state and in the URL."""
    bad = _init_from_url(bounds, regions, label_tables)
    sb = st.sidebar
    sb.header(t("app.filters", lang))
    if bad:
        # the link's values are shown as text, never as Markdown or HTML, and audited
        st.session_state["_rejected"] = list(bad)
        sb.warning(t("app.bad_url", lang, values=", ".join(plain_md(v) for v in bad)))
    years = list(range(bounds[0].year, bounds[1].year + 1))
    sb.radio(
        t("f.period_mode", lang),
        ["year", "months"],
        key="f_mode",
        horizontal=True,
        format_func=lambda v: t("f.mode_year" if v == "year" else "f.mode_months", lang),
    )
    if st.session_state["f_mode"] == "year":
        if st.session_state.get("f_year") not in years:
            st.session_state["f_year"] = years[-1]
        sb.selectbox(t("f.year", lang), years, key="f_year")
        y = int(st.session_state["f_year"])
        f_from, f_to = max(date(y, 1, 1), bounds[0]), min(date(y, 12, 1), bounds[1])
    else:
        months, cur, m = [], bounds[0], bounds[0]
        while m <= bounds[1]:
            months.append(_month_str(m))
            m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        cur = tuple(st.session_state.get("f_months") or (months[0], months[-1]))
        if len(cur) != 2 or cur[0] not in months or cur[1] not in months:
            st.session_state["f_months"] = (months[0], months[-1])
        sb.select_slider(t("f.months", lang), months, key="f_months")
        a, b = st.session_state["f_months"]
        f_from, f_to = _parse_month(a) or bounds[0], _parse_month(b) or bounds[1]

    def region_box(key: str, label: str, codes: list[str]) -> str:
        opts = ["", *sorted(set(codes))]
        if st.session_state.get(key) not in opts:
            st.session_state[key] = ""
        sb.selectbox(
            label,
            opts,
            key=key,
            format_func=lambda c: t("f.all", lang) if not c else labels.name("region", c),
        )
        return str(st.session_state[key])

    prov = region_box("f_prov", t("f.province", lang), regions["province"].dropna().tolist())
    pref = ""
    county = ""
    if prov:
        sub = regions[regions["province"] == prov]
        pref = region_box("f_pref", t("f.prefecture", lang), sub["prefecture"].dropna().tolist())
        if pref:
            sub = sub[sub["prefecture"] == pref]
            county = region_box("f_county", t("f.county", lang), sub["county"].dropna().tolist())
    else:
        st.session_state["f_pref"] = st.session_state["f_county"] = ""
    region = county or pref or prov or None
    values: dict[str, tuple[str, ...]] = {}
    for key, (_url_key, dim) in LIST_FILTERS.items():
        opts = _options(dim, label_tables)
        st.session_state[key] = [v for v in st.session_state.get(key, []) if v in opts]
        sb.multiselect(
            t(f"f.{dim}", lang),
            opts,
            key=key,
            format_func=lambda c, d=dim: labels.name(d, c),
            placeholder=t("f.all", lang),
        )
        values[key] = tuple(st.session_state[key])
    sb.button(t("app.reset", lang), on_click=_reset, args=(bounds,), key="f_reset")
    f = Filters(
        month_from=f_from,
        month_to=f_to,
        region=region,
        **{FILTER_FIELDS[key][2]: v for key, v in values.items()},
    )
    _write_url(lang, f, str(st.session_state["f_mode"]))
    sb.caption(t("app.share", lang))
    return f


# --------------------------------------------------------------------------- context


def context() -> Ctx:
    """Build the page context (called by the entry point on every run)."""
    paths = get_paths()
    lang = init_language()
    if not paths.warehouse.exists():
        st.error(t("app.no_warehouse", lang, path=paths.warehouse))
        st.stop()
    wh = _warehouse(str(paths.warehouse))
    try:
        build_id = wh.build_id
        tables = _labels(build_id, str(paths.warehouse))
        bounds = _bounds(build_id, str(paths.warehouse))
        regions = _regions(build_id, str(paths.warehouse))
        queries.require_serving_tables(wh)  # read once per build (memoised)
    except queries.WarehouseUnavailable as exc:
        st.error(t("app.warehouse_error", lang, error=exc))
        st.stop()
    labels = Labels(tables, lang)
    f = sidebar_filters(lang, bounds, regions, tables, labels)
    return Ctx(
        lang=lang,
        paths=paths,
        build_id=build_id,
        labels=labels,
        label_tables=tables,
        filters=f,
        bounds=bounds,
        session=session_id(),
        who=requester(),
    )


def data_version(ctx: Ctx, pages: dict[str, Any]) -> None:
    """The sidebar's 数据版本: the served build id (linked to its build record on the
    data-quality page) and the latest release version (linked to the open-data page), or
    "not yet published"."""
    sb = st.sidebar
    sb.markdown(f"**{ctx.t('app.build')}**")
    build = served_build(ctx.paths) or "—"
    sb.page_link(pages["data_quality"], label=ctx.t("app.build_id", build=build))
    release = latest_release(ctx.paths)
    if release is None:
        sb.caption(ctx.t("app.no_release"))
    else:
        sb.page_link(pages["open_data"], label=ctx.t("app.release", version=release.name))


def get_ctx() -> Ctx:
    ctx = st.session_state.get("_ctx")
    if not isinstance(ctx, Ctx):
        raise RuntimeError("dashboard pages must be run through dashboards/app.py")
    return ctx


def log_view(ctx: Ctx, page: str) -> None:
    """Audit a page view once per page and filter combination within a session, and the
    filter values of the link that were rejected (once, with the page they came with)."""
    rejected = st.session_state.pop("_rejected", None)
    if rejected:
        audit(
            ctx.paths.audit_log,
            session=ctx.session,
            event="rejected",
            status="rejected",
            page=page,
            filters=ctx.filters_record(),
            who=ctx.who,
            rejected=rejected,
        )
    key = (page, repr(ctx.filters), ctx.lang)
    if st.session_state.get("_last_view") == key:
        return
    st.session_state["_last_view"] = key
    audit(
        ctx.paths.audit_log,
        session=ctx.session,
        event="view",
        page=page,
        filters=ctx.filters_record(),
        who=ctx.who,
    )


# --------------------------------------------------------------------------- chart blocks


def _metric(model: str, column: str | None) -> metrics.Metric | None:
    """The metric a chart's column shows: the one held in ``model``.``column``, else the
    metric of that name (a reader's column named after the metric it aggregates)."""
    if column is None:
        return None
    return metrics.at(model, column) or metrics.metrics().get(column)


def show_definition(ctx: Ctx, model: str, column: str | None = None) -> None:
    """The definition of the chart's measure: a metric's own definition (in the page's
    language, with the documentation of the table it comes from), else the documentation of
    the model that defines the measure."""
    metric = _metric(model, column)
    if metric is not None:
        model, column = metric.model, metric.column
    elif column in MEASURE_DOCS:
        model, column = MEASURE_DOCS[column]
    text, source = definition(model, None if metric else column, ctx.paths.root, ctx.lang)
    if metric is not None:
        text = "\n\n".join(
            p for p in (text, f"**{metric.label(ctx.lang)}** — {metric.definition(ctx.lang)}") if p
        )
        source = ctx.t("c.metric_source")
    with st.expander(ctx.t("c.definition")):
        if text:
            st.markdown(text)
            st.caption(f"{ctx.t('c.source', model=model_title(model, ctx.lang))} · {source}")
        else:
            st.caption(ctx.t("c.no_definition", model=model_title(model, ctx.lang)))


def metric_help(ctx: Ctx, name: str) -> str:
    """Tooltip of a KPI card: the metric's definition in the page's language, else the
    measure's documented definition (first paragraph)."""
    label = ctx.t(f"m.{name}")
    metric = metrics.metrics().get(name)
    if metric is not None:
        return f"**{label}** — {metric.definition(ctx.lang)}"
    model, column = MEASURE_DOCS.get(name, ("subj_service_demand", name))
    text, _source = definition(model, column, ctx.paths.root, ctx.lang)
    if not text:
        return label
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return f"**{label}** — {paragraphs[-1].strip()[:600]}"


def _on_download(ctx: Ctx, page: str, name: str, rows: int) -> None:
    audit(
        ctx.paths.audit_log,
        session=ctx.session,
        event="download",
        page=page,
        filters=ctx.filters_record(),
        rows=rows,
        detail=name,
        what=f"{name}.csv",
        who=ctx.who,
    )


def chart_block(
    ctx: Ctx,
    key: str,
    title: str,
    fig: go.Figure | None,
    result: Result,
    dims: Sequence[str],
    measures: Sequence[str],
    *,
    column: str | None = None,
    data: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    show_table: bool = False,
    on_select: Callable[[], None] | None = None,
    on_row_select: Callable[[], None] | None = None,
    masks: dict[str, pd.Series] | None = None,
    empty: str | None = None,
) -> None:
    """One chart with its definition, filter notes and a download of exactly its data.

    An empty chart is not drawn: a message says why (no data for the filters, every cell
    suppressed, or ``empty``: the caller's reason, e.g. nothing left to plot)."""
    st.subheader(title)
    show_definition(ctx, result.source, column or (measures[0] if measures else None))
    df = result.data if data is None else data
    if result.ignored:
        names = ", ".join(ctx.t(f"f.{d}") for d in result.ignored)
        st.caption("⚠ " + ctx.t("f.ignored", dims=names))
    for n in notes:
        st.caption(n)
    if "suppressed" in df and df["suppressed"].any():
        st.caption(ctx.t("c.suppression_note", n=queries.THRESHOLD))
    table = display_frame(df, ctx.labels, dims, measures, ctx.lang, masks)
    if masks:
        all_suppressed = not df.empty and all(bool(m.all()) for m in masks.values())
    else:
        all_suppressed = "suppressed" in df and not df.empty and bool(df["suppressed"].all())
    if empty and (df.empty or fig is not None):
        st.info(empty)
    elif df.empty:
        st.info(ctx.t("c.no_data"))
    elif all_suppressed and fig is not None:
        st.info(ctx.t("c.all_suppressed", n=queries.THRESHOLD))
    elif fig is not None:
        fig.update_layout(
            margin={"l": 10, "r": 10, "t": 30, "b": 10},
            font={"family": "Noto Sans CJK SC, sans-serif"},
        )
        if "month" in dims:
            fig.update_xaxes(tickformat="%Y-%m")
        if on_select is not None:
            # a click selects a point (or a map region, in pan mode); box and lasso select
            # several
            st.plotly_chart(
                fig,
                key=f"chart_{key}",
                config=PLOTLY_CONFIG,
                on_select=on_select,
                selection_mode=("points", "box", "lasso"),
            )
        else:
            st.plotly_chart(fig, key=f"chart_{key}", config=PLOTLY_CONFIG)
    if show_table and not df.empty:
        view = table_view(df, ctx.labels, dims, measures, ctx.lang, masks)
        if on_row_select is not None:
            st.dataframe(
                view,
                hide_index=True,
                key=f"table_{key}",
                on_select=on_row_select,
                selection_mode="single-row",
            )
        else:
            st.dataframe(view, hide_index=True, key=f"table_{key}")
    page = st.session_state.get("_page", "")
    st.download_button(
        ctx.t("c.download"),
        data=safe_csv(table),
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"dl_{key}",
        on_click=_on_download,
        args=(ctx, page, key, len(table)),
    )


def fmt_value(value: Any, kind: str, lang: str, suppressed: bool = False) -> str:
    """A KPI value for display (suppressed cells as "<10", missing as "—")."""
    if suppressed:
        return t("c.suppressed_value", lang)
    return format_number(value, kind)


def page_download(ctx: Ctx, key: str, table: pd.DataFrame) -> None:
    """A safe-CSV download of a table shown as is (e.g. the data-quality tables)."""
    page = st.session_state.get("_page", "")
    st.download_button(
        ctx.t("c.download"),
        data=safe_csv(table),
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"dl_{key}",
        on_click=_on_download,
        args=(ctx, page, key, len(table)),
    )
