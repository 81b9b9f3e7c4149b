"""Metrics defined once (dbt_project.yml vars.metrics): the dbt models and the Python readers
compute every rate and share by the same formula.

On the warehouse built from the generated sample: every rate column of the subject tables
equals subjectdb.metrics' aggregate of its numerator and denominator at the table's grain
(bit for bit), the Python form used by the release equals it too, the dashboard's queries roll
the numerators and denominators up (Σ / Σ, never an average of rates), and no reader restates a
formula of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from subjectdb import metrics
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.serving import queries
from subjectdb.serving.queries import Filters, Warehouse

METRICS = metrics.metrics()
MARTS_DIR = PROJECT_DIR / "models" / "marts"
NOT_METRICS = {
    # double columns of the subject tables that are not numerator / denominator
    ("subj_demand_standardised", "age_standardised_rate"),  # Σ weight × age-specific rate
    ("subj_demand_standardised", "ratio_ci_low"),  # Poisson limit / expected cases
    ("subj_demand_standardised", "ratio_ci_high"),
    ("subj_demand_standardised", "expected_cases"),  # a count estimate
    ("subj_service_performance", "median_working_days"),  # percentiles
    ("subj_service_performance", "p90_working_days"),
    ("subj_poisson_exact_ci", "conf_level"),
    ("subj_poisson_exact_ci", "mean_lower"),
    ("subj_poisson_exact_ci", "mean_upper"),
}


@pytest.fixture(scope="module")
def con(built: Paths) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    path = str(built.warehouse).replace("'", "''")
    c.execute(f"ATTACH '{path}' AS wh (READ_ONLY)")
    yield c
    c.close()


@pytest.fixture(scope="module")
def wh(built: Paths) -> Iterator[Warehouse]:
    w = Warehouse(built.warehouse)
    yield w
    w.close()


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = 'wh' and table_schema = 'marts' and table_name like 'subj_%'"
    ).fetchall():
        out.setdefault(table, {})[column] = dtype
    return out


# --------------------------------------------------------------------------- definitions


def test_definitions_are_complete() -> None:
    assert METRICS, "dbt_project.yml defines no metric"
    for m in METRICS.values():
        assert m.scale in (1, 1000), m.name
        assert m.kind in metrics.KINDS, m.name
        assert (m.kind == "rate") == (m.scale == 1000), m.name
        for lang in metrics.LANGS:
            assert m.label(lang) and m.definition(lang), (m.name, lang)
        assert m.label("zh") != m.label("en"), m.name


def test_malformed_definitions_are_refused(tmp_path: Path) -> None:
    good = "model: m\n      numerator: a\n      denominator: b\n      kind: share\n"
    texts = "      label: {zh: 甲, en: A}\n      definition: {zh: 甲乙, en: A B}\n"
    for bad, message in (
        ("      scale: 0\n", "positive integer"),
        ("      scale: true\n", "positive integer"),
        ("      scale: 1\n      label: {zh: 甲}\n", "label"),
    ):
        path = tmp_path / "dbt_project.yml"
        body = f"vars:\n  metrics:\n    x:\n      {good}{bad}"
        path.write_text(body + (texts if "label" not in bad else ""), encoding="utf-8")
        with pytest.raises(metrics.MetricError, match=message):
            metrics.load(path)
    path.write_text(f"vars:\n  metrics:\n    x:\n      {good}      scale: 1\n{texts}", "utf-8")
    (x,) = metrics.load(path).values()
    assert (x.column, x.aggregate_sql("t")) == (
        "x",
        "CASE WHEN (sum(t.b)) > 0 THEN CAST(sum(t.a) AS DOUBLE) * 1 / (sum(t.b)) END",
    )
    with pytest.raises(metrics.MetricError, match="no metric"):
        metrics.get("no_such_metric")


def test_every_model_renders_its_metrics_from_the_definition() -> None:
    """The subject models write each metric column through subj_metric, not a formula."""
    for m in METRICS.values():
        (path,) = MARTS_DIR.rglob(f"{m.model}.sql")  # subject or verification mart
        sql = path.read_text(encoding="utf-8")
        assert re.search(rf"subj_metric\('{m.name}'[^)]*\)\s*}}}}\s+as\s+{m.column}\b", sql), (
            f"{m.model}.{m.column} is not rendered by subj_metric('{m.name}')"
        )


def test_no_reader_restates_a_formula() -> None:
    """The dashboard's queries and pages take every rate from subjectdb.metrics."""
    formula = re.compile(r"nullif\(|\*\s*1000\b|\b1000(\.0)?\s*/|\bsum\([^)]*\)\s*/")
    readers = [*(PROJECT_DIR / "subjectdb" / "serving").glob("*.py")]
    readers += (PROJECT_DIR / "dashboards").rglob("*.py")
    found = [
        f"{path.relative_to(PROJECT_DIR)}:{i}: {line.strip()}"
        for path in readers
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if formula.search(line)
    ]
    assert not found, "a reader computes a rate itself:\n" + "\n".join(found)


# --------------------------------------------------------------------------- built warehouse


def test_numerators_and_denominators_are_columns_of_the_models(
    con: duckdb.DuckDBPyConnection,
) -> None:
    columns = _columns(con)
    for m in METRICS.values():
        assert m.model in columns, f"{m.name}: no table marts.{m.model}"
        for col in (m.column, m.numerator, m.denominator):
            assert col in columns[m.model], f"{m.name}: marts.{m.model} has no column {col}"
        assert columns[m.model][m.column] == "DOUBLE", m.name


def test_every_rate_column_of_the_subject_tables_is_a_metric(
    con: duckdb.DuckDBPyConnection,
) -> None:
    doubles = {
        (table, col)
        for table, cols in _columns(con).items()
        for col, dtype in cols.items()
        if dtype == "DOUBLE"
    }
    held = {(m.model, m.column) for m in METRICS.values()}
    undefined = sorted(doubles - held - NOT_METRICS)
    assert not undefined, f"rate columns without a metric definition: {undefined}"
    assert held <= doubles


@pytest.mark.parametrize("name", list(METRICS))
def test_model_column_equals_the_readers_aggregate_at_the_tables_grain(
    con: duckdb.DuckDBPyConnection, name: str
) -> None:
    """dbt's value of every row is exactly what a reader computes from that row's numerator and
    denominator (grouping by row: the table's grain)."""
    m = METRICS[name]
    sql = f"""
        select count(*) as n,
               count(value) as defined,
               count(*) filter (where value is distinct from reader) as differ
        from (
            select any_value({m.column}) as value, {m.aggregate_sql()} as reader
            from wh.marts.{m.model} group by rowid
        )"""
    n, defined, differ = con.execute(sql).fetchone()
    assert n > 0 and defined > 0, f"{m.model} holds no {m.column} to compare"
    assert differ == 0, f"{m.model}.{m.column}: {differ} of {n} rows differ"


@pytest.mark.parametrize("name", list(METRICS))
def test_python_form_equals_the_model(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Metric.ratio (what the release computes in pandas) equals dbt's column bit for bit."""
    m = METRICS[name]
    df = con.execute(
        f"select {m.numerator} as num, {m.denominator} as den, {m.column} as value "
        f"from wh.marts.{m.model}"
    ).df()
    got = m.ratio(df["num"], df["den"])
    want = df["value"].to_numpy(dtype="float64", na_value=np.nan)
    assert np.array_equal(got, want, equal_nan=True), name


def _year_filters(wh: Warehouse) -> Filters:
    y = queries.period_bounds(wh)[1].year
    return Filters(date(y, 1, 1), date(y, 12, 1))


def test_performance_rates_are_sums_over_sums(
    wh: Warehouse, con: duckdb.DuckDBPyConnection
) -> None:
    year = _year_filters(wh)
    first, last = queries.period_bounds(wh)
    for f in (year, Filters(first, last), replace(year, month_to=year.month_from)):
        got = queries.performance_summary(wh, f).data.iloc[0]
        assert not got["suppressed"]
        sums = (
            con.execute(
                "select sum(columns(* exclude (month, year, item_code, category_code, theme_code, "
                "dept_name, dept_region_code, region_code, prefecture_code, province_code))) "
                "from wh.marts.subj_service_performance where month between ? and ?",
                [f.month_from, f.month_to],
            )
            .df()
            .iloc[0]
        )
        for m in METRICS.values():
            if m.model == "subj_service_performance":
                want = sums[m.numerator] / sums[m.denominator]
                assert got[m.name] == pytest.approx(want, rel=1e-12), (m.name, f)


def test_enterprise_rate_is_cases_over_active_enterprises(
    wh: Warehouse, con: duckdb.DuckDBPyConnection
) -> None:
    f = _year_filters(wh)
    got = queries.enterprise_demand(wh, f, ("industry",)).data
    got = got[~got["suppressed"]].set_index("industry")
    assert len(got) > 0
    cases = con.execute(
        "select industry_section, sum(cases) from wh.marts.subj_applicant_demand "
        "where applicant_type = 'enterprise' and year = ? group by 1",
        [f.month_from.year],
    ).fetchall()
    active = dict(
        con.execute(
            "select industry_section, sum(active_enterprises) "
            "from wh.marts.subj_enterprise_population where year = ? group by 1",
            [f.month_from.year],
        ).fetchall()
    )
    m = METRICS["ent_rate_per_1000"]
    for industry, n in cases:
        if industry not in got.index:
            continue
        expected = n * m.scale / active[industry] if active.get(industry) else None
        assert got.loc[industry, "rate_per_1000"] == pytest.approx(expected, rel=1e-12), industry


def test_reader_texts_say_over_the_period_shown(wh: Warehouse) -> None:
    """Every metric a dashboard query aggregates over the chosen period says so in its
    definition, in both languages (the rate per 1,000 is over the period, not the month)."""
    f = _year_filters(wh)
    results = [
        queries.demand(wh, f),
        queries.performance_summary(wh, f),
        queries.performance_by(wh, f, "item"),
        queries.enterprise_demand(wh, f, ("industry",)),
        queries.kpis(wh, f),
    ]
    shown = {
        m.name
        for r in results
        for col in r.data.columns
        if (m := metrics.at(r.source, col) or METRICS.get(col)) is not None
    }
    assert {"rate_per_1000", "ent_rate_per_1000", "online_share", "on_time_rate"} <= shown
    for name in shown:
        m = METRICS[name]
        assert "over the period shown" in m.definition("en"), name
        assert "所选时段" in m.definition("zh"), name
