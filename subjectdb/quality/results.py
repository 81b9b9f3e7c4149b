"""Results of a validation run: outcomes, the run's report, and ``validation/results.parquet``.

Every expectation result (raw suites and gates) becomes an :class:`Outcome`; a run's outcomes and
errors are a :class:`SuiteReport`, which is appended to ``validation/results.parquet`` (the
dashboard reads it) by :func:`append_results`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.table import Table

from subjectdb.config import Paths
from subjectdb.files import write_atomic

RESULTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("run_time", pa.timestamp("us", tz="UTC")),
        ("stage", pa.string()),
        ("suite", pa.string()),
        ("batch", pa.string()),
        ("expectation", pa.string()),
        ("column", pa.string()),
        ("severity", pa.string()),
        ("status", pa.string()),
        ("success", pa.bool_()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("unexpected_percent", pa.float64()),
        ("examples", pa.string()),
        ("note", pa.string()),
        ("target", pa.string()),
    ]
)


class ValidationError(RuntimeError):
    """Validation could not run (missing suite, unreadable landing file, …)."""


@dataclass
class Outcome:
    """The result of one expectation on one batch (or one gate on one target)."""

    stage: str  # raw_suite | gate
    suite: str
    batch: str  # landing batch id, or the gated table / file
    expectation: str
    column: str
    severity: str  # critical | warning | info
    success: bool | None  # None: nothing to check (e.g. no release yet)
    element_count: int = 0
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)
    note: str = ""

    @property
    def status(self) -> str:
        if self.success is None:
            return "not checked"
        if self.success:
            return "passed"
        return "failed" if self.severity == "critical" else "warning"

    @property
    def unexpected_percent(self) -> float:
        return 100.0 * self.unexpected_count / self.element_count if self.element_count else 0.0


@dataclass
class SuiteReport:
    """Outcomes of one validation run."""

    run_id: str
    run_time: dt.datetime
    outcomes: list[Outcome] = field(default_factory=list)
    quarantined_rows: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error and no failed critical expectation (warnings and 'not checked' pass)."""
        return not self.errors and all(o.status != "failed" for o in self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def extend(self, other: SuiteReport) -> SuiteReport:
        self.outcomes.extend(other.outcomes)
        self.quarantined_rows += other.quarantined_rows
        self.errors.extend(other.errors)
        return self

    def summary(self) -> Table:
        """A readable table of the run.

        Raw suites: one line per standard (expectation × column) over all batches. Gates: one
        line per gate suite × table/file × expectation, the checked columns collapsed unless
        one failed. Expectation names are shown without their ``expect_`` prefix.
        """
        table = Table(title=f"validation run {self.run_id}", show_lines=False)
        table.add_column("suite · target", overflow="fold")
        table.add_column("standard (column)", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("unexpected", justify="right", no_wrap=True)
        table.add_column("note", overflow="fold")
        groups: dict[tuple[str, str, str, str], list[Outcome]] = {}
        for o in self.outcomes:
            if o.stage == "raw_suite":
                key = (o.suite, "", o.expectation, o.column)
            else:
                key = (o.suite, o.batch.split(".")[0], o.expectation, "")
            groups.setdefault(key, []).append(o)
        rank = {"failed": 0, "warning": 1, "not checked": 2, "passed": 3}
        style = {
            "failed": "bold red",
            "warning": "yellow",
            "not checked": "cyan",
            "passed": "green",
        }
        for (suite, target, expectation, column), items in groups.items():
            status = min((o.status for o in items), key=rank.__getitem__)
            notes = sorted({o.note for o in items if o.note and o.status != "passed"})
            if not target:
                bad = sorted({o.batch for o in items if o.status != "passed"})
                target = f"{len(items)} batch(es)" + (
                    f", not passed: {', '.join(bad)}" if bad else ""
                )
            else:
                failing = sorted({o.column for o in items if o.status != "passed" and o.column})
                column = (
                    ", ".join(failing)
                    if failing
                    else (f"{len(items)} check(s)" if len(items) > 1 else items[0].column)
                )
            table.add_row(
                f"{suite} · {target}",
                expectation.removeprefix("expect_") + (f" ({column})" if column else ""),
                f"[{style[status]}]{status}[/]",
                f"{sum(o.unexpected_count for o in items):,}",
                "; ".join(notes)[:160],
            )
        for err in self.errors:
            table.add_row("-", "error", "[bold red]error[/]", "-", err[:300])
        table.caption = (
            f"{'OK' if self.ok else 'FAILED'} — {len(self.outcomes)} results, "
            f"{self.quarantined_rows:,} rows quarantined by the raw suites"
        )
        return table


def not_checked(stage: str, suite: str, label: str, expectation: str, note: str) -> Outcome:
    """A critical outcome with nothing to check (e.g. no release yet)."""
    return Outcome(stage, suite, label, expectation, "", "critical", None, note=note)


def failed(stage: str, suite: str, label: str, expectation: str, note: str) -> Outcome:
    """A failed critical outcome that needed no expectation (e.g. a missing table)."""
    return Outcome(stage, suite, label, expectation, "", "critical", False, note=note)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (NaN and missing → None, other objects → text)."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and math.isnan(value):
            return None
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    return str(value)


def new_run(prefix: str) -> tuple[str, dt.datetime]:
    """A new run's name (``<prefix>-<UTC time>-<random>``) and time."""
    now = dt.datetime.now(dt.UTC)
    return f"{prefix}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", now


def progress(show: bool, total: int, label: str) -> Callable[[str], None]:
    """A step counter printed to stderr (``show=False``: does nothing)."""
    if not show:
        return lambda _msg: None
    from rich.console import Console

    console = Console(stderr=True)
    done = [0]

    def step(msg: str) -> None:
        done[0] += 1
        console.print(f"[dim]{label} {done[0]}/{total}[/] {msg}")

    return step


def append_results(paths: Paths, report: SuiteReport, target: str) -> None:
    """Append the report's outcomes to ``validation/results.parquet`` (atomic rewrite)."""
    rows = [
        {
            "run_id": report.run_id,
            "run_time": report.run_time,
            "stage": o.stage,
            "suite": o.suite,
            "batch": o.batch,
            "expectation": o.expectation,
            "column": o.column,
            "severity": o.severity,
            "status": o.status,
            "success": o.success,
            "element_count": o.element_count,
            "unexpected_count": o.unexpected_count,
            "unexpected_percent": o.unexpected_percent,
            "examples": json.dumps(jsonable(o.examples), ensure_ascii=False),
            "note": o.note,
            "target": target,
        }
        for o in report.outcomes
    ]
    for err in report.errors:
        rows.append(
            {
                "run_id": report.run_id,
                "run_time": report.run_time,
                "stage": "error",
                "suite": "",
                "batch": "",
                "expectation": "error",
                "column": "",
                "severity": "critical",
                "status": "failed",
                "success": False,
                "element_count": 0,
                "unexpected_count": 0,
                "unexpected_percent": 0.0,
                "examples": "[]",
                "note": err,
                "target": target,
            }
        )
    new = pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA)
    target_file = paths.validation / "results.parquet"
    if target_file.exists():
        old = pq.read_table(target_file).select(RESULTS_SCHEMA.names).cast(RESULTS_SCHEMA)
        new = pa.concat_tables([old, new])
    write_atomic(target_file, lambda tmp: pq.write_table(new, tmp))
