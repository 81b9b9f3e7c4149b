"""Every rate and share, defined once: the Python side of ``dbt_project.yml`` ``vars.metrics``.

A metric is ``numerator × scale / denominator``, NULL (NaN) when the denominator is 0 or
unknown. Its numerator and denominator are columns of one subject table (``model``), whose
column ``column`` holds the metric at the table's grain; dbt renders that column with the macro
``subj_metric`` (``macros/metrics.sql``) from the same definitions. Readers that roll cells up
(the dashboard's queries, the open-data release) take the formula from here and never restate
it: :meth:`Metric.aggregate_sql` (Σ numerator × scale / Σ denominator over a relation's rows),
:meth:`Metric.ratio_sql` (the same form over expressions a query has already summed) and
:meth:`Metric.ratio` (arrays, for pandas). Labels and definitions are in Chinese and English and
describe what a reader shows ("over the period shown" where the reader aggregates).

A shared leaf: reads ``dbt_project.yml`` only, imports no pipeline stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from subjectdb.config import PROJECT_DIR

DBT_PROJECT = PROJECT_DIR / "dbt_project.yml"
LANGS = ("zh", "en")
KINDS = ("share", "rate", "ratio")
"""share: a fraction 0–1; rate: per ``scale`` units of the denominator; ratio: observed over
expected (centred on 1)."""


class MetricError(ValueError):
    """A metric definition in ``dbt_project.yml`` is missing or malformed."""


@dataclass(frozen=True)
class Metric:
    """One metric as defined in ``dbt_project.yml`` ``vars.metrics``."""

    name: str
    model: str
    """The subject table holding the numerator, the denominator and the metric itself."""
    column: str
    """The column of ``model`` holding the metric at the table's grain."""
    numerator: str
    denominator: str
    scale: int
    kind: str
    labels: Mapping[str, str]
    definitions: Mapping[str, str]

    def label(self, lang: str = "zh") -> str:
        return self.labels["en" if lang == "en" else "zh"]

    def definition(self, lang: str = "zh") -> str:
        return self.definitions["en" if lang == "en" else "zh"]

    def ratio_sql(self, numerator: str, denominator: str) -> str:
        """``numerator × scale / denominator`` of two SQL expressions, NULL unless the
        denominator is positive: the form of the dbt macro ``subj_ratio``."""
        return (
            f"CASE WHEN ({denominator}) > 0 "
            f"THEN CAST({numerator} AS DOUBLE) * {self.scale} / ({denominator}) END"
        )

    def aggregate_sql(self, relation: str = "") -> str:
        """The metric over the rows of a group: Σ numerator × scale / Σ denominator of the
        columns of ``relation`` (an alias; empty: unqualified)."""
        prefix = f"{relation}." if relation else ""
        return self.ratio_sql(f"sum({prefix}{self.numerator})", f"sum({prefix}{self.denominator})")

    def ratio(self, numerator: Any, denominator: Any) -> np.ndarray:
        """``numerator × scale / denominator`` element-wise as float64, NaN where the
        denominator is not positive (0, negative or missing)."""
        num = np.asarray(numerator, dtype="float64")
        den = np.asarray(denominator, dtype="float64")
        out = np.full(np.broadcast(num, den).shape, np.nan)
        np.divide(num * self.scale, den, out=out, where=den > 0)
        return out


def _texts(name: str, key: str, raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, dict) or any(not str(raw.get(lang) or "").strip() for lang in LANGS):
        raise MetricError(f"metric {name}: {key} needs non-empty zh and en texts")
    return MappingProxyType({lang: str(raw[lang]).strip() for lang in LANGS})


def _metric(name: str, raw: Any) -> Metric:
    if not isinstance(raw, dict):
        raise MetricError(f"metric {name}: expected a mapping, got {raw!r}")
    missing = [k for k in ("model", "numerator", "denominator", "scale", "kind") if k not in raw]
    if missing:
        raise MetricError(f"metric {name}: missing {', '.join(missing)}")
    scale = raw["scale"]
    if isinstance(scale, bool) or not isinstance(scale, int) or scale <= 0:
        raise MetricError(f"metric {name}: scale must be a positive integer, got {scale!r}")
    if raw["kind"] not in KINDS:
        raise MetricError(f"metric {name}: kind must be one of {', '.join(KINDS)}")
    return Metric(
        name=name,
        model=str(raw["model"]),
        column=str(raw.get("column") or name),
        numerator=str(raw["numerator"]),
        denominator=str(raw["denominator"]),
        scale=scale,
        kind=str(raw["kind"]),
        labels=_texts(name, "label", raw.get("label")),
        definitions=_texts(name, "definition", raw.get("definition")),
    )


def load(path: Path = DBT_PROJECT) -> dict[str, Metric]:
    """The metrics of a dbt project file (``vars.metrics``), by name, in file order."""
    project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = (project.get("vars") or {}).get("metrics")
    if not isinstance(raw, dict) or not raw:
        raise MetricError(f"{path}: no vars.metrics")
    return {str(name): _metric(str(name), spec) for name, spec in raw.items()}


@cache
def _project_metrics() -> Mapping[str, Metric]:
    return MappingProxyType(load())


def metrics() -> Mapping[str, Metric]:
    """The project's metrics by name (read once per process)."""
    return _project_metrics()


def get(name: str) -> Metric:
    """The project's metric ``name``."""
    try:
        return metrics()[name]
    except KeyError as exc:
        raise MetricError(f"no metric {name!r} in {DBT_PROJECT} vars.metrics") from exc


def at(model: str, column: str) -> Metric | None:
    """The metric held in ``model``.``column``, if that column is one."""
    return next((m for m in metrics().values() if (m.model, m.column) == (model, column)), None)
