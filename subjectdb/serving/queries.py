"""Read-only, parameterised queries behind the planners' dashboard.

All SQL the dashboard runs lives here. Filter values never enter SQL text: they are bound as
parameters (lists through ``list_contains(?, col)``); only fixed column names chosen from the
whitelists below are composed into statements.

The served warehouse file is replaced by an atomic rename while a build runs, and DuckDB caches
database instances by path within one process. :class:`Warehouse` therefore opens the file
through a fresh in-memory connection with ``ATTACH … (READ_ONLY)``, watches the file's identity
(inode, size, mtime) and re-attaches when a new build has been swapped in; queries are retried
while the file is being replaced.

Disclosure control: every demand cell is returned with its exact number of distinct applicants
(from ``marts.subj_applicant_demand``); cells below :data:`THRESHOLD` come back with their
measures set to NULL and ``suppressed = TRUE``, so no caller can show them by mistake.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from subjectdb.config import duckdb_memory_limit
from subjectdb.release import disclosure

log = logging.getLogger(__name__)

THRESHOLD = disclosure.DEFAULT_THRESHOLD
"""Minimum number of distinct applicants behind a shown cell (the open-data rule)."""

DB = "wh"
"""Catalog alias of the attached warehouse."""


class WarehouseUnavailable(RuntimeError):
    """The warehouse file is missing or could not be read after retries."""


# --------------------------------------------------------------------------- connection


@dataclass
class Warehouse:
    """A read-only view of the served warehouse that follows rebuilds.

    ``build_id`` identifies the file currently attached; it changes when a build swaps in a new
    file, and callers key their caches on it.
    """

    path: Path
    retries: int = 40
    retry_wait: float = 0.25
    _con: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _build_id: str | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _memo_build: str | None = field(default=None, init=False, repr=False)

    def _file_id(self) -> str:
        st = self.path.stat()
        return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"

    def _attach(self) -> None:
        file_id = self._file_id()
        # bounded like every DuckDB process of subjectdb (subjectdb.config); the dashboard only
        # reads, so it needs no spill folder
        con = duckdb.connect(
            ":memory:", config={"threads": 2, "memory_limit": duckdb_memory_limit()}
        )
        # The path is configuration, not user input; quotes are escaped anyway.
        quoted = str(self.path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {DB} (READ_ONLY)")
        # The file may have been swapped between stat() and ATTACH: then the next call
        # notices a changed id and re-attaches.
        old, self._con, self._build_id = self._con, con, file_id
        if old is not None:
            with contextlib.suppress(duckdb.Error):
                old.close()

    def _current(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None or self._file_id() != self._build_id:
                self._attach()
            assert self._con is not None
            return self._con

    @property
    def build_id(self) -> str:
        """Identity of the served file (re-attaches first if a new build is in place)."""
        self._call(lambda con: None)
        assert self._build_id is not None
        return self._build_id

    def _call(self, fn: Any) -> Any:
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                con = self._current()
                cur = con.cursor()
                try:
                    return fn(cur)
                finally:
                    cur.close()
            except (FileNotFoundError, duckdb.IOException, duckdb.ConnectionException) as exc:
                last = exc
            except duckdb.Error as exc:
                # A stale handle after a swap shows up as various errors: retry once re-attached.
                if (
                    self._build_id is not None
                    and self.path.exists()
                    and (self._file_id() == self._build_id)
                ):
                    raise
                last = exc
            with self._lock:
                self._build_id = None  # force a re-attach
            time.sleep(self.retry_wait * min(attempt + 1, 4))
        raise WarehouseUnavailable(f"cannot read the warehouse at {self.path}: {last}") from last

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run one parameterised statement and return its result as a DataFrame."""
        return self._call(lambda cur: cur.execute(sql, list(params or [])).df())

    def memo(self, key: str, fn: Any) -> Any:
        """``fn(self)`` computed once per served build (metadata that only a build changes).

        The value is dropped when a new build is attached; callers must not mutate it.
        """
        build = self.build_id
        with self._lock:
            if self._memo_build != build:
                self._memo, self._memo_build = {}, build
            if key in self._memo:
                return self._memo[key]
        value = fn(self)
        with self._lock:
            if self._memo_build == build:
                self._memo[key] = value
        return value

    def has_table(self, schema: str, table: str) -> bool:
        rows = self._call(
            lambda cur: cur.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = ? UNION ALL SELECT 1 FROM duckdb_views() WHERE "
                "database_name = ? AND schema_name = ? AND view_name = ?",
                [DB, schema, table, DB, schema, table],
            ).fetchall()
        )
        return bool(rows)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._build_id = None, None
            self._memo, self._memo_build = {}, None


# --------------------------------------------------------------------------- filters


def _add_months(d: date, n: int) -> date:
    idx = d.year * 12 + d.month - 1 + n
    return date(idx // 12, idx % 12 + 1, 1)


def month_span(a: date, b: date) -> int:
    """Number of months from the month of ``a`` to the month of ``b``, inclusive."""
    return (b.year - a.year) * 12 + b.month - a.month + 1


FILTER_DIMS = ("period", "region", "age_group", "category", "theme", "applicant_type", "channel")


@dataclass(frozen=True)
class Filters:
    """The dashboard's global filters. Empty tuples mean "all"."""

    month_from: date
    month_to: date
    region: str | None = None
    age_groups: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    applicant_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "month_from", self.month_from.replace(day=1))
        object.__setattr__(self, "month_to", self.month_to.replace(day=1))
        if self.month_to < self.month_from:
            raise ValueError(f"period ends ({self.month_to}) before it starts ({self.month_from})")

    @property
    def months(self) -> int:
        return month_span(self.month_from, self.month_to)

    @property
    def month_end(self) -> date:
        """Last day of the period."""
        last = calendar.monthrange(self.month_to.year, self.month_to.month)[1]
        return self.month_to.replace(day=last)

    def previous(self) -> Filters:
        """The same filters over the period of equal length just before this one."""
        n = self.months
        return replace(
            self,
            month_from=_add_months(self.month_from, -n),
            month_to=_add_months(self.month_from, -1),
        )

    def shifted(self, months: int) -> Filters:
        return replace(
            self,
            month_from=_add_months(self.month_from, months),
            month_to=_add_months(self.month_to, months),
        )

    def active(self) -> tuple[str, ...]:
        """Names of the non-period filters that restrict anything."""
        out = []
        if self.region:
            out.append("region")
        for name, values in (
            ("age_group", self.age_groups),
            ("category", self.categories),
            ("theme", self.themes),
            ("applicant_type", self.applicant_types),
            ("channel", self.channels),
        ):
            if values:
                out.append(name)
        return tuple(out)


@dataclass(frozen=True)
class Result:
    """A query result plus what the caller must tell the user about it."""

    data: pd.DataFrame
    source: str
    """The subject table the numbers come from (for its documented definition)."""
    ignored: tuple[str, ...] = ()
    """Active filters the source table cannot apply (it has no such dimension)."""
    note: str | None = None


class _Where:
    """Collects WHERE conditions with their bound parameters."""

    def __init__(self) -> None:
        self.conds: list[str] = []
        self.params: list[Any] = []

    def add(self, cond: str, *params: Any) -> None:
        self.conds.append(cond)
        self.params.extend(params)

    def any_of(self, column: str, values: Sequence[str]) -> None:
        if values:
            self.add(f"list_contains(?, {column})", list(values))

    def sql(self) -> str:
        return " AND ".join(self.conds) if self.conds else "TRUE"


def _region_cond(w: _Where, f: Filters, alias: str = "") -> None:
    if f.region:
        a = f"{alias}." if alias else ""
        w.add(
            f"(? IN ({a}region_code, {a}prefecture_code, {a}province_code))",
            f.region,
        )


# --------------------------------------------------------------------------- suppression


def suppress(
    df: pd.DataFrame,
    measures: Iterable[str],
    count_col: str = "distinct_applicants",
    threshold: int = THRESHOLD,
) -> pd.DataFrame:
    """Null the measures (and the count) of cells with fewer than ``threshold`` applicants.

    Adds a boolean ``suppressed`` column. A cell without a count is suppressed as well.
    """
    counts = pd.to_numeric(df[count_col], errors="coerce")
    # the same primary rule as the open-data release (subjectdb.release.disclosure)
    mask = np.asarray(disclosure.primary_suppressed(counts.to_numpy(), threshold), dtype=bool)
    cols = [c for c in dict.fromkeys([*measures, count_col]) if c in df.columns]
    # all columns replaced in one step (column-by-column assignment costs a pandas block
    # consolidation each time, several ms per result)
    nulled = {
        c: np.where(mask, np.nan, df[c].to_numpy(dtype="float64", na_value=np.nan)) for c in cols
    }
    return df.assign(**nulled, suppressed=mask)


# --------------------------------------------------------------------------- labels


def labels(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Code → zh/en name tables from the reference seeds (no personal data).

    Read once per served build (copies are returned).
    """
    tables: dict[str, pd.DataFrame] = wh.memo("labels", _labels)
    return {name: df.copy() for name, df in tables.items()}


def _labels(wh: Warehouse) -> dict[str, pd.DataFrame]:
    q = {
        "region": "SELECT region_code AS code, region_name AS name_zh, region_name AS name_en, "
        "level, parent_code, prefecture_code, province_code, urban_rural "
        f"FROM {DB}.marts.dim_region",
        "age_group": "SELECT age_group_code AS code, name_zh, name_en, group_order "
        f"FROM {DB}.marts.dim_age_group ORDER BY group_order",
        "category": "SELECT category_code AS code, category_name_zh AS name_zh, "
        f"category_name_en AS name_en FROM {DB}.reference.ref_service_categories "
        "ORDER BY category_code",
        "theme": "SELECT theme_code AS code, theme_name_zh AS name_zh, theme_name_en AS name_en, "
        f"applicant_type FROM {DB}.reference.ref_life_event_themes",
        "channel": "SELECT channel_code AS code, channel_name_zh AS name_zh, "
        f"channel_name_en AS name_en, is_online FROM {DB}.marts.dim_channel",
        "industry": "SELECT industry_section AS code, name_zh, name_en "
        f"FROM {DB}.reference.ref_industries ORDER BY industry_section",
        "size_class": "SELECT value_code AS code, value_zh AS name_zh, value_en AS name_en "
        f"FROM {DB}.reference.ref_enterprise_enums WHERE enum = 'size_class'",
        "item": "SELECT item_code AS code, item_name_zh AS name_zh, item_name_en AS name_en, "
        "category_code, theme_code, department, applicant_type, promised_days "
        f"FROM {DB}.marts.dim_service_item",
    }
    out = {name: wh.df(sql) for name, sql in q.items()}
    out["applicant_type"] = pd.DataFrame(
        {
            "code": ["person", "enterprise"],
            "name_zh": ["自然人", "法人"],
            "name_en": ["Natural person", "Legal person"],
        }
    )
    out["urban_rural"] = pd.DataFrame(
        {"code": ["urban", "rural"], "name_zh": ["城区", "农村县域"], "name_en": ["Urban", "Rural"]}
    )
    return out


def period_bounds(wh: Warehouse) -> tuple[date, date]:
    """First and last month with demand in the warehouse (read once per served build)."""
    return wh.memo("period_bounds", _period_bounds)  # type: ignore[no-any-return]


def _period_bounds(wh: Warehouse) -> tuple[date, date]:
    row = wh.df(f"SELECT min(month) AS a, max(month) AS b FROM {DB}.marts.subj_applicant_demand")
    a, b = row.iloc[0]["a"], row.iloc[0]["b"]
    if pd.isna(a):
        raise WarehouseUnavailable("the warehouse holds no demand (subj_applicant_demand is empty)")
    return pd.Timestamp(a).date(), pd.Timestamp(b).date()


def regions_present(wh: Warehouse) -> pd.DataFrame:
    """Counties (with prefecture and province) that have residents or demand (read once per
    served build; a copy is returned)."""
    df: pd.DataFrame = wh.memo("regions_present", _regions_present)
    return df.copy()


def _regions_present(wh: Warehouse) -> pd.DataFrame:
    return wh.df(f"""
        SELECT DISTINCT region_code AS county, prefecture_code AS prefecture,
               province_code AS province
        FROM (SELECT region_code, prefecture_code, province_code FROM {DB}.marts.subj_population
              UNION ALL
              SELECT region_code, prefecture_code, province_code
              FROM {DB}.marts.subj_demand_standardised)
        WHERE region_code IS NOT NULL ORDER BY 1
    """)


# --------------------------------------------------------------------------- demand

# dimension name → column of dash_applicant_demand (the serving copy of subj_applicant_demand
# with integer ids) and the dash_codes dimension its ids belong to (None: not an id)
DEMAND_DIMS: dict[str, tuple[str, str | None]] = {
    "month": ("month", None),
    "year": ("year", None),
    "county": ("county_id", "region"),
    "prefecture": ("prefecture_id", "region"),
    "province": ("province_id", "region"),
    "urban_rural": ("urban_rural_id", "urban_rural"),
    "age_group": ("age_group_id", "age_group"),
    "category": ("category_id", "category"),
    "theme": ("theme_id", "theme"),
    "applicant_type": ("applicant_type_id", "applicant_type"),
    "channel": ("channel_id", "channel"),
    "industry": ("industry_id", "industry"),
    "size_class": ("size_class_id", "size_class"),
}
_POP_DIMS = {"month", "year", "county", "prefecture", "province", "urban_rural", "age_group"}
_DASH = f"{DB}.marts.dash_applicant_demand"
BITMAP_BUDGET_BYTES = 128 * 2**20
"""Largest total size of the per-group applicant bitmaps of one distinct count; above it the
count hashes (``count(DISTINCT …)``) instead."""


@dataclass(frozen=True)
class _Codes:
    """The serving tables' integer ids (dash_codes) and the number of applicants."""

    ids: dict[str, dict[str, int]]
    applicants: int
    """Bitmap size: max(applicant_seq) + 1. Applicant numbers are stable across daily builds
    (dash_applicant_ids), so they lie in 0 … n-1 with gaps where an applicant left."""

    def id(self, dim: str, code: str) -> int:
        """The id of ``code`` (-1, which matches no row, for a code absent from the data)."""
        return self.ids.get(dim, {}).get(code, -1)

    def id_list(self, dim: str, codes: Sequence[str]) -> list[int]:
        return [self.id(dim, c) for c in codes]

    def size(self, dim: str | None) -> int:
        return max(1, len(self.ids.get(dim or "", {})))


def _load_codes(wh: Warehouse) -> _Codes:
    if not wh.has_table("marts", "dash_applicant_demand") or not wh.has_table(
        "marts", "dash_codes"
    ):
        raise WarehouseUnavailable(
            f"the warehouse at {wh.path} has no dashboard serving tables "
            "(marts.dash_applicant_demand, marts.dash_codes): rebuild it with `subjectdb build`"
        )
    df = wh.df(f"SELECT dim, code, code_id FROM {DB}.marts.dash_codes")
    ids: dict[str, dict[str, int]] = {}
    for dim, code, code_id in df.itertuples(index=False):
        ids.setdefault(str(dim), {})[str(code)] = int(code_id)
    n = wh.df(f"SELECT coalesce(max(applicant_seq) + 1, 0) AS n FROM {_DASH}")
    return _Codes(ids, int(n["n"].iloc[0]))


def _codes(wh: Warehouse) -> _Codes:
    return wh.memo("dash_codes", _load_codes)  # type: ignore[no-any-return]


def require_serving_tables(wh: Warehouse) -> None:
    """Raise :class:`WarehouseUnavailable` (naming them) if the dashboard's serving tables are
    missing, e.g. in a warehouse built before they existed."""
    _codes(wh)


def _distinct_applicants(codes: _Codes, groups: int, alias: str = "d") -> str:
    """SQL counting the exact distinct applicants of each group.

    ``applicant_seq`` lies in 0 … n-1 (nearly dense), so a group's applicants fit a bitmap of n
    bits: setting bits and counting them is several times faster than hashing. ``groups`` is an
    upper bound of the number of groups; beyond :data:`BITMAP_BUDGET_BYTES` of bitmaps the count
    hashes.
    """
    n = codes.applicants
    if n > 0 and groups * (n // 8 + 1) <= BITMAP_BUDGET_BYTES:
        # bounds are integers read from the warehouse, not user input
        return f"coalesce(bit_count(bitstring_agg({alias}.applicant_seq, 0, {n - 1})), 0)"
    return f"count(DISTINCT {alias}.applicant_seq)"


def _groups_bound(codes: _Codes, f: Filters, dims: Sequence[str]) -> int:
    """Upper bound of the number of groups of a demand query by ``dims`` over ``f``."""
    out = 1
    for d in dims:
        if d == "month":
            out *= f.months
        elif d == "year":
            out *= f.month_to.year - f.month_from.year + 1
        else:
            out *= codes.size(DEMAND_DIMS[d][1])
    return out


def _decode(codes_alias: str, dims: Sequence[str], source: str) -> tuple[str, str]:
    """SELECT list and joins that turn the id columns of ``source`` back into codes."""
    sel, joins = [], []
    for i, d in enumerate(dims):
        dim = DEMAND_DIMS[d][1]
        if dim is None:
            sel.append(f"{source}.{d}")
            continue
        c = f"{codes_alias}{i}"
        sel.append(f"{c}.code AS {d}")
        joins.append(
            f"LEFT JOIN {DB}.marts.dash_codes {c} "
            f"ON {c}.dim = '{dim}' AND {c}.code_id = {source}.{d}"
        )
    return ", ".join(sel), " ".join(joins)


def _demand_where(codes: _Codes, f: Filters, alias: str = "d") -> _Where:
    w = _Where()
    w.add(f"{alias}.month BETWEEN ? AND ?", f.month_from, f.month_to)
    if f.region:
        w.add(
            f"(? IN ({alias}.county_id, {alias}.prefecture_id, {alias}.province_id))",
            codes.id("region", f.region),
        )
    for col, dim, values in (
        ("age_group_id", "age_group", f.age_groups),
        ("category_id", "category", f.categories),
        ("theme_id", "theme", f.themes),
        ("applicant_type_id", "applicant_type", f.applicant_types),
        ("channel_id", "channel", f.channels),
    ):
        if values:
            # a code absent from the data maps to -1 and matches nothing
            w.add(f"list_contains(?, {alias}.{col})", codes.id_list(dim, values))
    return w


def _demand_agg(
    codes: _Codes, f: Filters, dims: Sequence[str], extra: Sequence[str] = ()
) -> tuple[str, list[Any]]:
    """Cases and exact distinct applicants of ``f`` by ``dims`` (codes, not ids).

    ``extra``: additional conditions on ``d`` (fixed SQL, no parameters).
    """
    w = _demand_where(codes, f)
    for cond in extra:
        w.add(cond)
    gsel = ", ".join(f"d.{DEMAND_DIMS[d][0]} AS {d}" for d in dims)
    group = ", ".join(str(i + 1) for i in range(len(dims))) or "()"
    distinct = _distinct_applicants(codes, _groups_bound(codes, f, dims))
    dsel, djoins = _decode("c", dims, "g")
    sql = f"""
        SELECT {dsel + "," if dims else ""} g.cases, g.distinct_applicants, g.online_cases,
               g.person_cases
        FROM (
            SELECT {gsel + "," if dims else ""}
                   sum(d.cases) AS cases,
                   {distinct} AS distinct_applicants,
                   sum(d.cases) FILTER (WHERE d.is_online) AS online_cases,
                   sum(d.cases) FILTER (WHERE d.applicant_type_id = ?) AS person_cases
            FROM {_DASH} d
            WHERE {w.sql()}
            GROUP BY {group}
        ) g {djoins}
    """
    return sql, [codes.id("applicant_type", "person"), *w.params]


def demand(wh: Warehouse, f: Filters, dims: Sequence[str] = ()) -> Result:
    """Cases, exact distinct applicants, online share and rate per 1,000 by ``dims``.

    ``rate_per_1000`` counts natural-person cases over the mid-year population of the cell's
    region and age groups; for a period spanning several years the population is the
    month-weighted mean of the mid-year populations. Legal-person cells have no rate.
    """
    for d in dims:
        if d not in DEMAND_DIMS or d in ("industry", "size_class"):
            raise ValueError(f"unknown demand dimension {d!r}")
    codes = _codes(wh)
    agg_sql, params = _demand_agg(codes, f, dims)
    pop_dims = [d for d in dims if d in _POP_DIMS]
    # Population: only region and age-group filters apply to the denominator.
    pw = _Where()
    _region_cond(pw, f, "p")
    if f.age_groups:
        pw.any_of("p.age_group_code", f.age_groups)
    pop_col = {
        "year": "year",
        "county": "region_code",
        "prefecture": "prefecture_code",
        "province": "province_code",
        "urban_rural": "urban_rural",
        "age_group": "age_group_code",
    }
    pop_sel = ", ".join(
        f"{'mw.month' if d == 'month' else 'p.' + pop_col[d]} AS {d}" for d in pop_dims
    )
    per_month = "month" in pop_dims
    per_year = "year" in pop_dims and not per_month
    weight = "1.0" if (per_month or per_year) else "count(*) / ?::DOUBLE"
    months_sql = (
        "SELECT m::DATE AS month, year(m) AS year FROM range(?::TIMESTAMP, "
        "?::TIMESTAMP + INTERVAL 1 MONTH, INTERVAL 1 MONTH) t(m)"
    )
    if per_month:
        mw_sql = f"SELECT month, year, 1.0 AS w FROM ({months_sql})"
        mw_params: list[Any] = [f.month_from, f.month_to]
    else:
        mw_sql = f"SELECT year, {weight} AS w FROM ({months_sql}) GROUP BY year"
        mw_params = ([] if per_year else [f.months]) + [f.month_from, f.month_to]
    pop_group = ", ".join(str(i + 1) for i in range(len(pop_dims))) or "()"
    pop_sql = f"""
        SELECT {pop_sel + "," if pop_sel else ""} sum(p.population * mw.w) AS population
        FROM {DB}.marts.subj_population p
        JOIN ({mw_sql}) mw ON mw.year = p.year
        WHERE {pw.sql()}
        GROUP BY {pop_group}
    """
    on = " AND ".join(f"a.{d} IS NOT DISTINCT FROM pop.{d}" for d in pop_dims) or "TRUE"
    rate_ok = not f.applicant_types or "person" in f.applicant_types
    sql = f"""
        WITH a AS ({agg_sql}), pop AS ({pop_sql})
        SELECT a.*, pop.population,
               CASE WHEN {"TRUE" if rate_ok else "FALSE"} AND pop.population > 0
                    THEN coalesce(a.person_cases, 0) * 1000.0 / pop.population END
                 AS rate_per_1000,
               coalesce(a.online_cases, 0) / nullif(a.cases, 0)::DOUBLE AS online_share
        FROM a LEFT JOIN pop ON {on}
        ORDER BY {", ".join("a." + d for d in dims) if dims else "1"}
    """
    df = wh.df(sql, params + mw_params + pw.params)
    df["online_cases"] = df["online_cases"].fillna(0)
    df = suppress(df, ["cases", "online_cases", "person_cases", "rate_per_1000", "online_share"])
    # rates on fewer than 100 residents are withheld (as in the open data)
    df["rate_per_1000"] = df["rate_per_1000"].where(
        ~disclosure.rate_withheld(df["population"].to_numpy())
    )
    return Result(df, "subj_applicant_demand")


# --------------------------------------------------------------------------- KPIs

KPI_NAMES = (
    "cases",
    "distinct_applicants",
    "rate_per_1000",
    "online_share",
    "on_time_rate",
    "satisfaction_rate",
)


def kpis(wh: Warehouse, f: Filters) -> Result:
    """The overview cards for the period and for the previous period of equal length."""
    rows = []
    ignored: tuple[str, ...] = ()
    for label, ff in (("current", f), ("previous", f.previous())):
        d = demand(wh, ff).data
        # performance has no age group or channel: without those filters the demand query
        # already counted the same applicants (one distinct count instead of two)
        same = not ff.age_groups and not ff.channels and len(d)
        pr = performance_summary(
            wh, ff, applicants=int(d["distinct_applicants"].fillna(0).iloc[0]) if same else None
        )
        p = pr.data
        ignored = ignored or pr.ignored
        rec: dict[str, Any] = {
            "period": label,
            "month_from": ff.month_from,
            "month_to": ff.month_to,
        }
        for k in ("cases", "distinct_applicants", "rate_per_1000", "online_share"):
            rec[k] = d[k].iloc[0] if len(d) else None
        for k in ("on_time_rate", "satisfaction_rate"):
            rec[k] = p[k].iloc[0] if len(p) else None
        rec["suppressed"] = bool(d["suppressed"].iloc[0]) if len(d) else True
        rows.append(rec)
    return Result(pd.DataFrame(rows), "subj_applicant_demand", ignored=ignored)


# --------------------------------------------------------------------------- standardised


def standardised(wh: Warehouse, f: Filters, year: int, theme: str = "ALL") -> Result:
    """County age-standardised rates and standardised demand ratios for one year and theme.

    Counties inside the region filter; distinct applicants (natural persons, that year and
    theme, all counties) decide suppression.
    """
    w = _Where()
    w.add("s.year = ?", year)
    w.add("s.theme_code = ?", theme)
    _region_cond(w, f, "s")
    codes = _codes(wh)
    aw = _Where()
    aw.add("d.year = ?", year)
    aw.add("d.applicant_type_id = ?", codes.id("applicant_type", "person"))
    if theme != "ALL":
        aw.add("d.theme_id = ?", codes.id("theme", theme))
    if f.region:
        aw.add("(? IN (d.county_id, d.prefecture_id, d.province_id))", codes.id("region", f.region))
    distinct = _distinct_applicants(codes, codes.size("region"))
    sql = f"""
        WITH n AS (
            SELECT c.code AS region_code, g.distinct_applicants
            FROM (
                SELECT d.county_id, {distinct} AS distinct_applicants
                FROM {_DASH} d WHERE {aw.sql()} GROUP BY 1
            ) g
            JOIN {DB}.marts.dash_codes c ON c.dim = 'region' AND c.code_id = g.county_id
        )
        SELECT s.region_code AS county, s.prefecture_code AS prefecture, s.cases, s.population,
               s.crude_rate, s.age_standardised_rate, s.expected_cases, s.standardised_ratio,
               s.ratio_ci_low, s.ratio_ci_high, coalesce(n.distinct_applicants, 0)
                 AS distinct_applicants
        FROM {DB}.marts.subj_demand_standardised s
        LEFT JOIN n ON n.region_code = s.region_code
        WHERE {w.sql()}
        ORDER BY s.age_standardised_rate NULLS LAST
    """
    df = wh.df(sql, aw.params + w.params)
    df = suppress(
        df,
        [
            "cases",
            "crude_rate",
            "age_standardised_rate",
            "expected_cases",
            "standardised_ratio",
            "ratio_ci_low",
            "ratio_ci_high",
        ],
    )
    ignored = tuple(
        x for x in f.active() if x in ("age_group", "category", "applicant_type", "channel")
    )
    if len(f.themes) > 1:
        ignored += ("theme",)
    return Result(df, "subj_demand_standardised", ignored=ignored)


def standardised_years(wh: Warehouse) -> list[int]:
    df = wh.df(f"SELECT DISTINCT year FROM {DB}.marts.subj_demand_standardised ORDER BY 1")
    return [int(y) for y in df["year"]]


# --------------------------------------------------------------------------- population


def population_pyramid(wh: Warehouse, f: Filters) -> Result:
    """Mid-year residents by 5-year band and sex (year of the period's end)."""
    year = f.month_to.year
    w = _Where()
    w.add("p.year = ?", year)
    _region_cond(w, f, "p")
    w.any_of("p.age_group_code", f.age_groups)
    sql = f"""
        SELECT p.band_code AS band, p.age_group_code AS age_group, p.sex,
               sum(p.population) AS population
        FROM {DB}.marts.subj_population_pyramid p
        WHERE {w.sql()}
        GROUP BY 1, 2, 3, p.band_order ORDER BY p.band_order, p.sex
    """
    return Result(wh.df(sql, w.params), "subj_population_pyramid")


# --------------------------------------------------------------------------- performance


def _perf_where(f: Filters, alias: str = "s") -> tuple[_Where, tuple[str, ...]]:
    w = _Where()
    w.add(f"{alias}.month BETWEEN ? AND ?", f.month_from, f.month_to)
    _region_cond(w, f, alias)
    w.any_of(f"{alias}.category_code", f.categories)
    w.any_of(f"{alias}.theme_code", f.themes)
    if f.applicant_types:
        # a semi-join on the (small) item catalog: no join at all when the filter is off (the
        # item codes are tested against the catalog in staging)
        w.add(
            f"{alias}.item_code IN (SELECT item_code FROM {DB}.marts.dim_service_item "
            "WHERE list_contains(?, applicant_type))",
            list(f.applicant_types),
        )
    ignored = tuple(x for x in f.active() if x in ("age_group", "channel"))
    return w, ignored


_PERF_FROM = f"""
    FROM {DB}.marts.subj_service_performance s
"""
_PERF_ITEM_FROM = f"""
    FROM {DB}.marts.subj_service_performance s
    JOIN {DB}.marts.dim_service_item i ON i.item_code = s.item_code
"""

_PERF_MEASURES = """
    sum(s.cases) AS cases,
    sum(s.completed_cases) AS completed_cases,
    sum(s.on_time_cases) / nullif(sum(s.completed_cases), 0)::DOUBLE AS on_time_rate,
    sum(s.zero_visit_cases) / nullif(sum(s.cases), 0)::DOUBLE AS zero_visit_rate,
    sum(s.max_one_visit_cases) / nullif(sum(s.cases), 0)::DOUBLE AS max_one_visit_rate,
    sum(s.rated_cases) AS rated_cases,
    sum(s.satisfied_cases) / nullif(sum(s.rated_cases), 0)::DOUBLE AS satisfaction_rate,
    sum(s.bad_review_cases) / nullif(sum(s.rated_cases), 0)::DOUBLE AS bad_review_rate,
    max(s.distinct_applicants) AS distinct_applicants_min
"""
_PERF_VALUES = [
    "cases",
    "completed_cases",
    "on_time_rate",
    "zero_visit_rate",
    "max_one_visit_rate",
    "rated_cases",
    "satisfaction_rate",
    "bad_review_rate",
]


def _perf_suppress(df: pd.DataFrame) -> pd.DataFrame:
    # Exact distinct applicants per item or department cannot be recovered from the subject
    # tables (subj_applicant_demand has no item); the largest per-row count is a lower bound,
    # so a cell is shown only when that lower bound reaches the threshold (conservative).
    return suppress(df, _PERF_VALUES, count_col="distinct_applicants_min")


def performance_summary(wh: Warehouse, f: Filters, applicants: int | None = None) -> Result:
    """On-time, visit and satisfaction rates over the filtered cases (exact from counts).

    ``applicants``: the exact distinct applicants of the same set when the caller already
    counted them (suppression); otherwise they are counted here.
    """
    w, ignored = _perf_where(f)
    df = wh.df(f"SELECT {_PERF_MEASURES} {_PERF_FROM} WHERE {w.sql()}", w.params)
    if applicants is None:
        n = demand(wh, replace(f, age_groups=(), channels=())).data
        applicants = int(n["distinct_applicants"].fillna(0).iloc[0]) if len(n) else 0
    df["distinct_applicants_min"] = applicants
    return Result(_perf_suppress(df), "subj_service_performance", ignored=ignored)


PERF_GROUPS = {
    "item": "s.item_code",
    "department": "s.dept_name",
    "month": "s.month",
    "county": "s.region_code",
    "prefecture": "s.prefecture_code",
}


def performance_by(wh: Warehouse, f: Filters, by: str) -> Result:
    """Performance measures by item, department, month, county or prefecture."""
    col = PERF_GROUPS[by]
    w, ignored = _perf_where(f)
    sql = f"""
        SELECT {col} AS {by}, {_PERF_MEASURES}
        {_PERF_FROM} WHERE {w.sql()} GROUP BY 1 ORDER BY cases DESC
    """
    return Result(_perf_suppress(wh.df(sql, w.params)), "subj_service_performance", ignored=ignored)


_PT_FROM = f"""
    FROM {DB}.marts.subj_processing_time t
    JOIN {DB}.marts.dim_service_item i ON i.item_code = t.item_code
"""


def processing_time(wh: Warehouse, f: Filters) -> Result:
    """Completed cases by working days taken minus the item's promised working days."""
    w, ignored = _perf_where(f, "t")
    sql = f"""
        SELECT t.working_days - i.promised_days AS days_vs_promise,
               sum(t.completed_cases) AS completed_cases
        {_PT_FROM} WHERE {w.sql()} GROUP BY 1 ORDER BY 1
    """
    df = wh.df(sql, w.params)
    # A bar is a count of completed cases: a bar of fewer than THRESHOLD cases cannot hold
    # THRESHOLD applicants, so it is suppressed.
    df["distinct_applicants_min"] = df["completed_cases"]
    df = suppress(df, ["completed_cases"], count_col="distinct_applicants_min")
    return Result(
        df.drop(columns="distinct_applicants_min"), "subj_processing_time", ignored=ignored
    )


def processing_quantiles(wh: Warehouse, f: Filters) -> Result:
    """Exact median and 90th percentile of working days, from the histogram."""
    w, ignored = _perf_where(f, "t")
    sql = f"""
        WITH h AS (
            SELECT t.working_days, sum(t.completed_cases) AS n
            FROM {DB}.marts.subj_processing_time t
            WHERE {w.sql()} GROUP BY 1
        ), c AS (
            SELECT working_days, n, sum(n) OVER (ORDER BY working_days) AS cum,
                   sum(n) OVER () AS total FROM h
        )
        SELECT min(working_days) FILTER (WHERE cum >= 0.5 * total) AS median_working_days,
               min(working_days) FILTER (WHERE cum >= 0.9 * total) AS p90_working_days,
               coalesce(max(total), 0) AS completed_cases
        FROM c
    """
    df = wh.df(sql, w.params)
    df["distinct_applicants_min"] = df["completed_cases"]
    df = suppress(
        df, ["median_working_days", "p90_working_days"], count_col="distinct_applicants_min"
    )
    return Result(
        df.drop(columns="distinct_applicants_min"), "subj_processing_time", ignored=ignored
    )


# --------------------------------------------------------------------------- service items


def items_demand(wh: Warehouse, f: Filters, previous: bool = True) -> Result:
    """Cases by service item (category → theme → item) with growth on the previous period."""
    w, ignored = _perf_where(f)
    pf = f.previous()
    pw, _ = _perf_where(pf)
    sql = f"""
        WITH cur AS (
            SELECT s.item_code, i.category_code, i.theme_code, sum(s.cases) AS cases,
                   max(s.distinct_applicants) AS distinct_applicants_min
            {_PERF_ITEM_FROM} WHERE {w.sql()} GROUP BY 1, 2, 3
        ), prev AS (
            SELECT s.item_code, sum(s.cases) AS cases,
                   max(s.distinct_applicants) AS distinct_applicants_min
            {_PERF_FROM} WHERE {pw.sql()} GROUP BY 1
        )
        SELECT cur.item_code AS item, cur.category_code AS category, cur.theme_code AS theme,
               cur.cases, cur.distinct_applicants_min,
               CASE WHEN prev.distinct_applicants_min >= {THRESHOLD} THEN prev.cases END
                 AS previous_cases,
               CASE WHEN prev.distinct_applicants_min >= {THRESHOLD} AND prev.cases > 0
                    THEN cur.cases / prev.cases::DOUBLE - 1 END AS growth
        FROM cur LEFT JOIN prev USING (item_code)
        ORDER BY cur.cases DESC
    """
    df = wh.df(sql, w.params + pw.params)
    df = suppress(df, ["cases", "previous_cases", "growth"], count_col="distinct_applicants_min")
    return Result(df, "subj_service_performance", ignored=ignored)


# --------------------------------------------------------------------------- enterprises

ENT_GROUPS = {  # dimension → column of subj_enterprise_population
    "industry": "industry_section",
    "size_class": "size_class",
    "county": "region_code",
    "prefecture": "prefecture_code",
}


def enterprise_demand(wh: Warehouse, f: Filters, dims: Sequence[str]) -> Result:
    """Legal-person cases per 1,000 active enterprises by industry, size class or region.

    Cases and exact distinct applicants come from ``subj_applicant_demand`` (legal persons);
    active enterprises (a 1 July stock) from ``subj_enterprise_population``, as the
    month-weighted mean over the years of the period.
    """
    for d in dims:
        if d not in ENT_GROUPS:
            raise ValueError(f"unknown enterprise dimension {d!r}")
    codes = _codes(wh)
    num_sql, num_params = _demand_agg(
        codes,
        replace(f, applicant_types=(), age_groups=()),
        dims,
        extra=[f"d.applicant_type_id = {codes.id('applicant_type', 'enterprise')}"],
    )
    sel_p = ", ".join(f"p.{ENT_GROUPS[d]} AS {d}" for d in dims)
    grp = ", ".join(str(i + 1) for i in range(len(dims))) or "()"
    pw = _Where()
    _region_cond(pw, f, "p")
    ignored = tuple(x for x in f.active() if x == "age_group")
    if f.applicant_types and "enterprise" not in f.applicant_types:
        ignored += ("applicant_type",)
    on = " AND ".join(f"num.{d} IS NOT DISTINCT FROM den.{d}" for d in dims) or "TRUE"
    sql = f"""
        WITH num AS (
            SELECT {"".join(d + ", " for d in dims)}cases, distinct_applicants FROM ({num_sql})
        ), my AS (
            SELECT year(m) AS year, count(*) / ?::DOUBLE AS w
            FROM range(?::TIMESTAMP, ?::TIMESTAMP + INTERVAL 1 MONTH, INTERVAL 1 MONTH) t(m)
            GROUP BY 1
        ), den AS (
            SELECT {sel_p}{"," if dims else ""} sum(p.active_enterprises * my.w)
                     AS active_enterprises
            FROM {DB}.marts.subj_enterprise_population p JOIN my ON my.year = p.year
            WHERE {pw.sql()} GROUP BY {grp}
        )
        SELECT num.*, den.active_enterprises,
               num.cases * 1000.0 / nullif(den.active_enterprises, 0) AS rate_per_1000
        FROM num LEFT JOIN den ON {on}
        ORDER BY rate_per_1000 DESC NULLS LAST
    """
    params = [*num_params, f.months, f.month_from, f.month_to, *pw.params]
    df = suppress(wh.df(sql, params), ["cases", "rate_per_1000"])
    return Result(df, "subj_enterprise_demand", ignored=ignored)


# --------------------------------------------------------------------------- data quality


def _files(root: Path, pattern: str) -> list[str]:
    return sorted(str(p) for p in root.glob(pattern))


_FILE_CACHE: dict[tuple[str, tuple[tuple[str, int, int, int], ...]], pd.DataFrame] = {}
_FILE_CACHE_MAX = 16
_FILE_CACHE_LOCK = threading.Lock()


def _signature(files: Sequence[str]) -> tuple[tuple[str, int, int, int], ...]:
    """Identity of a set of files: path, inode, size and modification time of each."""
    out = []
    for name in files:
        st = Path(name).stat()
        out.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _read_files_cached(kind: str, files: Sequence[str], read: Any) -> pd.DataFrame:
    """``read(files)``, reused while none of the files changed (a load or a validation run
    rewrites them); a copy is returned."""
    try:
        key = (kind, _signature(files))
    except FileNotFoundError:  # replaced while listed: read afresh, do not cache
        return read(files)  # type: ignore[no-any-return]
    with _FILE_CACHE_LOCK:
        hit = _FILE_CACHE.get(key)
    if hit is None:
        hit = read(files)
        with _FILE_CACHE_LOCK:
            if len(_FILE_CACHE) >= _FILE_CACHE_MAX:
                _FILE_CACHE.pop(next(iter(_FILE_CACHE)))
            _FILE_CACHE[key] = hit
    return hit.copy()


def _read_quarantine_counts(files: Sequence[str]) -> pd.DataFrame:
    con = duckdb.connect(":memory:", config={"memory_limit": duckdb_memory_limit()})
    try:
        return con.execute(
            "SELECT stage, extract, _batch_id AS batch, reason, count(*) AS rows "
            "FROM read_parquet(?, union_by_name = true) GROUP BY ALL ORDER BY ALL",
            [list(files)],
        ).df()
    finally:
        con.close()


def quarantine_counts(data_root: Path) -> pd.DataFrame:
    """Quarantined rows by stage, extract, batch and reason (counts only; never the rows).

    Re-read only when a quarantine file was added, removed or rewritten.
    """
    files = _files(data_root / "quarantine", "*/*/batch=*/*.parquet")
    cols = ["stage", "extract", "batch", "reason", "rows"]
    if not files:
        return pd.DataFrame(columns=cols)
    return _read_files_cached("quarantine_counts", files, _read_quarantine_counts)


def _read_parquet(files: Sequence[str]) -> pd.DataFrame:
    con = duckdb.connect(":memory:", config={"memory_limit": duckdb_memory_limit()})
    try:
        return con.execute("SELECT * FROM read_parquet(?)", [files[0]]).df()
    finally:
        con.close()


def read_parquet_file(path: Path) -> pd.DataFrame:
    """A small parquet file (validation results, reconciliation) as a DataFrame (re-read only
    when the file changed)."""
    if not path.exists():
        return pd.DataFrame()
    return _read_files_cached("parquet", [str(path)], _read_parquet)


def quarantine_rows(data_root: Path, reason: str, limit: int = 20) -> pd.DataFrame:
    """Quarantined rows for one reason: file, row, column and the original text (steward CLI)."""
    files = _files(data_root / "quarantine", "*/*/batch=*/*.parquet")
    cols = ["stage", "extract", "_source_file", "_source_row", "column", "reason", "original"]
    select = ", ".join(f'"{c}"' for c in cols)
    if not files:
        return pd.DataFrame(columns=cols)
    con = duckdb.connect(":memory:")
    try:
        return con.execute(
            f"SELECT {select} FROM read_parquet(?, union_by_name = true) "
            "WHERE reason = ? ORDER BY _source_file, _source_row LIMIT ?",
            [files, reason, limit],
        ).df()
    finally:
        con.close()
