"""Demand: cases, exact distinct applicants, online share and rate per 1,000 by any dimensions.

Counts come from the serving copy of ``subj_applicant_demand`` with integer ids
(``marts.dash_applicant_demand``, decoded through ``marts.dash_codes``): distinct applicants are
counted exactly for any filtered set of cells, as bitmaps of the stable applicant numbers when
they fit :data:`BITMAP_BUDGET_BYTES`. The rates are the metrics of :mod:`subjectdb.metrics`
over the summed numerators and denominators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from subjectdb import metrics
from subjectdb.release import disclosure
from subjectdb.serving.connection import DB, Warehouse, WarehouseUnavailable
from subjectdb.serving.filters import Filters, Result, Where, region_cond
from subjectdb.serving.suppression import suppress

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
_RATE = metrics.get("rate_per_1000")
_ONLINE = metrics.get("online_share")
_POP_DIMS = {"month", "year", "county", "prefecture", "province", "urban_rural", "age_group"}
DASH = f"{DB}.marts.dash_applicant_demand"
"""The serving copy of subj_applicant_demand (integer ids, stable applicant numbers)."""
BITMAP_BUDGET_BYTES = 128 * 2**20
"""Largest total size of the per-group applicant bitmaps of one distinct count; above it the
count hashes (``count(DISTINCT …)``) instead."""


@dataclass(frozen=True)
class Codes:
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


def _read_codes(wh: Warehouse) -> Codes:
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
    n = wh.df(f"SELECT coalesce(max(applicant_seq) + 1, 0) AS n FROM {DASH}")
    return Codes(ids, int(n["n"].iloc[0]))


def load_codes(wh: Warehouse) -> Codes:
    """The serving tables' ids and applicant count, read once per served build."""
    return wh.memo("dash_codes", _read_codes)  # type: ignore[no-any-return]


def require_serving_tables(wh: Warehouse) -> None:
    """Raise :class:`WarehouseUnavailable` (naming them) if the dashboard's serving tables are
    missing, e.g. in a warehouse built before they existed."""
    load_codes(wh)


def distinct_applicants_sql(codes: Codes, groups: int, alias: str = "d") -> str:
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


def _groups_bound(codes: Codes, f: Filters, dims: Sequence[str]) -> int:
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


def _demand_where(codes: Codes, f: Filters, alias: str = "d") -> Where:
    w = Where()
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


def demand_agg(
    codes: Codes, f: Filters, dims: Sequence[str], extra: Sequence[str] = ()
) -> tuple[str, list[Any]]:
    """Cases and exact distinct applicants of ``f`` by ``dims`` (codes, not ids).

    ``extra``: additional conditions on ``d`` (fixed SQL, no parameters).
    """
    w = _demand_where(codes, f)
    for cond in extra:
        w.add(cond)
    gsel = ", ".join(f"d.{DEMAND_DIMS[d][0]} AS {d}" for d in dims)
    group = ", ".join(str(i + 1) for i in range(len(dims))) or "()"
    distinct = distinct_applicants_sql(codes, _groups_bound(codes, f, dims))
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
            FROM {DASH} d
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
    codes = load_codes(wh)
    agg_sql, params = demand_agg(codes, f, dims)
    pop_dims = [d for d in dims if d in _POP_DIMS]
    # Population: only region and age-group filters apply to the denominator.
    pw = Where()
    region_cond(pw, f, "p")
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
               CASE WHEN {"TRUE" if rate_ok else "FALSE"}
                    THEN {_RATE.ratio_sql("coalesce(a.person_cases, 0)", "pop.population")} END
                 AS rate_per_1000,
               {_ONLINE.ratio_sql("coalesce(a.online_cases, 0)", "a.cases")} AS online_share
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
