"""The dashboard's global filters, a query result, and the WHERE builder every query uses.

Filter values never enter SQL text: :class:`Where` binds them as parameters (lists through
``list_contains(?, col)``); only fixed column names chosen by the query modules are composed
into statements.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd


def _add_months(d: date, n: int) -> date:
    idx = d.year * 12 + d.month - 1 + n
    return date(idx // 12, idx % 12 + 1, 1)


def month_span(a: date, b: date) -> int:
    """Number of months from the month of ``a`` to the month of ``b``, inclusive."""
    return (b.year - a.year) * 12 + b.month - a.month + 1


FILTER_DIMS = (
    "period",
    "region",
    "age_group",
    "sex",
    "urban_rural",
    "category",
    "theme",
    "applicant_type",
    "channel",
    "industry",
)

FILTER_FIELDS = {
    "age_group": "age_groups",
    "sex": "sexes",
    "urban_rural": "urban_rural",
    "category": "categories",
    "theme": "themes",
    "applicant_type": "applicant_types",
    "channel": "channels",
    "industry": "industries",
}
"""Filter dimension → the :class:`Filters` field holding its codes (a tuple)."""

SEXES = ("male", "female")
"""The codes of the sex filter (``ref_person_enums``); legal persons have none (``NA``)."""
URBAN_RURAL = ("urban", "rural")
"""The codes of the urban/rural filter (the county's class in ``ref_regions``)."""


@dataclass(frozen=True)
class Filters:
    """The dashboard's global filters. Empty tuples mean "all".

    Every field is a plain value or a tuple of codes, so a URL can carry it as is:
    ``region`` a GB/T 2260 code (county, prefecture or province), ``age_groups`` planning age
    group codes (``60-74`` …), ``sexes`` ``male`` / ``female``, ``urban_rural`` ``urban`` /
    ``rural``, ``categories`` / ``themes`` catalog codes, ``applicant_types`` ``person`` /
    ``enterprise``, ``channels`` channel codes, ``industries`` GB/T 4754 sections (``C`` …,
    legal persons only). A sex filter keeps natural persons only (legal persons have no sex)
    and applies to the denominators as well (residents of that sex); an industry filter keeps
    legal persons only; the urban/rural filter restricts counties and their residents.
    """

    month_from: date
    month_to: date
    region: str | None = None
    age_groups: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    applicant_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    sexes: tuple[str, ...] = ()
    urban_rural: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()

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
        for name, field in FILTER_FIELDS.items():
            if getattr(self, field):
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


class Where:
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


def region_cond(w: Where, f: Filters, alias: str = "") -> None:
    """Rows of the region filter: the row's county, prefecture or province is the region."""
    if f.region:
        a = f"{alias}." if alias else ""
        w.add(
            f"(? IN ({a}region_code, {a}prefecture_code, {a}province_code))",
            f.region,
        )


# --------------------------------------------------------------------------- suppression
