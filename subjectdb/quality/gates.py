"""Publication gates: may a built warehouse be served? (``expectations/gates.json``)

:func:`run_gates` attaches the new warehouse file ``READ_ONLY`` from a fresh in-memory DuckDB
connection (never the served file's cached instance) and validates small frames with GX:
reconciliation of the subject tables' totals with the fact table and staging, bounds and orders
of rates and shares, denominators behind every rate, and a personal-data scan of every text
column. A later stage adds its own gates to the same run through :class:`GateStep` (the release
adds the open-data gate, ``subjectdb.release.checks``): quality does not know the release.

:func:`validate_all` runs the raw suites and the gates for ``subjectdb validate``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from subjectdb.config import SEEDS_DIR, Paths, duckdb_connect
from subjectdb.quality.context import GX, gx_suite, run_identifier
from subjectdb.quality.frames import (
    CHUNK_ROWS,
    OnUnexpected,
    outcomes_and_store,
    validate_frames,
)
from subjectdb.quality.raw_suites import run_raw_suites
from subjectdb.quality.results import (
    Outcome,
    SuiteReport,
    ValidationError,
    append_results,
    failed,
    new_run,
    progress,
)
from subjectdb.quality.suites import SUITES_DIR, columns_of
from subjectdb.seeds import read_seed


def load_gates_config(suites_dir: Path = SUITES_DIR) -> dict[str, Any]:
    """The version-controlled gate definitions (``expectations/gates.json``)."""
    path = suites_dir / "gates.json"
    if not path.exists():
        raise ValidationError(f"gate definition {path} is missing")
    try:
        cfg: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: line {exc.lineno}: {exc.msg}") from exc
    return cfg


def record_batches(
    con: duckdb.DuckDBPyConnection, sql: str, columns: list[str]
) -> Iterator[pd.DataFrame]:
    """A query's result as pandas frames of at most CHUNK_ROWS rows (at least one frame)."""
    reader = con.execute(sql).to_arrow_reader(CHUNK_ROWS)
    empty = True
    for rb in reader:
        empty = False
        df = rb.to_pandas()
        df.index = pd.RangeIndex(len(df))
        yield df
    if empty:
        yield pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def reference_labels(seeds_dir: Path = SEEDS_DIR) -> set[str]:
    """Every Chinese label of the reference seeds (names of regions, industries, items …).

    Published tables carry these next to their codes; the personal-name pattern must not
    flag them (金融业 starts like a surname + given name).
    """
    labels: set[str] = set()
    for path in sorted(seeds_dir.glob("*.csv")):
        for row in read_seed(path.name, seeds_dir):
            for col, value in row.items():
                if not isinstance(col, str) or not value:
                    continue
                if col.endswith(("_zh", "_name")) or col in ("department", "holiday_name"):
                    labels.add(value)
    return labels


class Gates:
    """Runs the gate suites on one DuckDB connection (the warehouse attached as ``wh``)."""

    def __init__(
        self,
        gxs: GX,
        con: duckdb.DuckDBPyConnection,
        cfg: dict[str, Any],
        run_id: Any,
        now: dt.datetime,
    ) -> None:
        self.gxs, self.con, self.cfg, self.run_id, self.now = gxs, con, cfg, run_id, now
        self.patterns: dict[str, str] = cfg["pii"]["patterns"]

    def check(
        self,
        suite_name: str,
        label: str,
        entries: list[dict[str, Any]],
        frames: Iterator[pd.DataFrame],
        markers: dict[str, Any],
        on_unexpected: OnUnexpected | None = None,
    ) -> list[Outcome]:
        """Validate ``frames`` with a gate suite of ``entries``; outcomes labelled ``label``.

        ``on_unexpected`` sees the unexpected rows of every frame (the personal-data scan
        collects the columns they come from).
        """
        if not entries:
            return []
        suite = self.gxs.sync_suite(gx_suite(suite_name, entries, {}))
        accs, template = validate_frames(
            self.gxs, suite_name, suite, entries, frames, {}, on_unexpected=on_unexpected
        )
        return outcomes_and_store(
            self.gxs,
            stage="gate",
            suite_name=suite_name,
            label=label,
            entries=entries,
            accs=accs,
            template=template,
            mostly_default=None,
            extra=[],
            markers=markers,
            run_id=self.run_id,
            now=self.now,
        )

    def tables(self, schema: str) -> dict[str, dict[str, str]]:
        """Table → column → type of one schema of the attached warehouse."""
        rows = self.con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = 'wh' AND table_schema = ? ORDER BY table_name, ordinal_position",
            [schema],
        ).fetchall()
        out: dict[str, dict[str, str]] = {}
        for t, c, ty in rows:
            out.setdefault(t, {})[c] = ty
        return out

    def reconciliation(self) -> list[Outcome]:
        rc = self.cfg["reconciliation"]
        suite = "gate_reconciliation"
        marts = self.tables("marts")
        fact_schema, fact_name = rc["fact_table"].split(".")
        stg_schema, stg_name = rc["staging_table"].split(".")
        missing = [
            f"{s}.{t}"
            for s, t in ((fact_schema, fact_name), (stg_schema, stg_name))
            if t not in self.tables(s)
        ] + [f"marts.{t}" for t in rc["subject_totals"] if t not in marts]
        if missing:
            return [
                failed("gate", suite, "warehouse", "tables_exist", f"missing: {', '.join(missing)}")
            ]
        fact_total = self.con.execute(f"SELECT count(*) FROM wh.{rc['fact_table']}").fetchone()[0]  # type: ignore[index]
        staged_total = self.con.execute(
            f'SELECT count(DISTINCT "{rc["case_key"]}") FROM wh.{rc["staging_table"]}'
        ).fetchone()[0]  # type: ignore[index]
        rows = []
        for table, col in rc["subject_totals"].items():
            total = self.con.execute(
                f'SELECT coalesce(sum("{col}"), 0) FROM wh.marts."{table}"'
            ).fetchone()[0]  # type: ignore[index]
            rows.append(
                {
                    "subject_table": table,
                    "subject_total": int(total),
                    "fact_total": int(fact_total),
                    "staged_total": int(staged_total),
                }
            )
        frame = pd.DataFrame(rows)
        entries = [
            {
                "type": "expect_column_pair_values_to_be_equal",
                "kwargs": {"column_A": "subject_total", "column_B": "fact_total"},
                "meta": {"standard": "subject-table total = cases in fct_service_cases"},
            },
            {
                "type": "expect_column_pair_values_to_be_equal",
                "kwargs": {"column_A": "fact_total", "column_B": "staged_total"},
                "meta": {"standard": "fct_service_cases = distinct cases in staging"},
            },
        ]
        outcomes = self.check(suite, "warehouse", entries, iter([frame]), {"target": "marts"})
        off = [
            f"{r['subject_table']}={r['subject_total']:,}"
            for r in rows
            if r["subject_total"] != r["fact_total"]
        ]
        outcomes[0].note = (
            f"fact {fact_total:,}; off: {', '.join(off)}" if off else f"{fact_total:,} cases"
        )
        outcomes[1].note = f"fact {fact_total:,}, staged {staged_total:,}"
        return outcomes

    def subject_table(self, table: str, columns: dict[str, str]) -> list[Outcome]:
        entries: list[dict[str, Any]] = []
        for col, (lo, hi) in self.cfg["bounds"].get(table, {}).items():
            if col not in columns:
                return [
                    failed(
                        "gate",
                        "gate_subject_tables",
                        table,
                        "column_exists",
                        f"column {col} missing in marts.{table}",
                    )
                ]
            entries.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": col, "min_value": lo, "max_value": hi},
                    "meta": {"standard": "rates and shares within bounds"},
                }
            )
        for o in self.cfg["ordered"]:
            if o["table"] != table:
                continue
            entries.append(
                {
                    "type": "expect_column_pair_values_a_to_be_greater_than_b",
                    "kwargs": {
                        "column_A": o["value"],
                        "column_B": o["low"],
                        "or_equal": True,
                        "ignore_row_if": "either_value_is_missing",
                    },
                    "meta": {"standard": f"{o['low']} <= {o['value']}"},
                }
            )
            if o.get("high"):
                entries.append(
                    {
                        "type": "expect_column_pair_values_a_to_be_greater_than_b",
                        "kwargs": {
                            "column_A": o["high"],
                            "column_B": o["value"],
                            "or_equal": True,
                            "ignore_row_if": "either_value_is_missing",
                        },
                        "meta": {"standard": f"{o['value']} <= {o['high']}"},
                    }
                )
        for d in self.cfg["denominators"]:
            if d["table"] != table:
                continue
            entries.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {
                        "column": d["denominator"],
                        "min_value": 1,
                        "row_condition": {
                            "type": "nullity",
                            "column": {"name": d["rate"]},
                            "is_null": False,
                        },
                    },
                    "meta": {"standard": f"{d['denominator']} > 0 where {d['rate']} is shown"},
                }
            )
        used = sorted({c for e in entries for c in columns_of(e["kwargs"])})
        outcomes: list[Outcome] = []
        if entries:
            cols = ", ".join(f'"{c}"' for c in used)
            outcomes += self.check(
                "gate_subject_tables",
                table,
                entries,
                record_batches(self.con, f'SELECT {cols} FROM wh.marts."{table}"', used),
                {"target": f"marts.{table}"},
            )
        text_cols = [c for c, ty in columns.items() if ty.upper().startswith("VARCHAR")]
        outcomes += self.pii(
            "gate_personal_data", table, text_cols, lambda c: f'wh.marts."{table}"'
        )
        return outcomes

    def pii(
        self, suite: str, label: str, text_cols: list[str], source: Callable[[str], str]
    ) -> list[Outcome]:
        """Scan the distinct values of every text column for personal-data patterns.

        One frame per table: (column_name, value) for the distinct values of each text column;
        one expectation per pattern. Counts are distinct (column, value) pairs.
        """
        if not text_cols:
            return []
        entries = [
            {
                "type": "expect_column_values_to_not_match_regex",
                "kwargs": {"column": "value", "regex": regex},
                "meta": {"standard": f"no {kind} in published text", "note": kind},
            }
            for kind, regex in self.patterns.items()
        ]
        # labels of the reference seeds (region, industry, item names …) are not personal data
        sql = " UNION ALL ".join(
            f"SELECT DISTINCT '{c}' AS column_name, CAST(\"{c}\" AS VARCHAR) AS value "
            f'FROM {source(c)} WHERE CAST("{c}" AS VARCHAR) NOT IN (SELECT label FROM ref_labels)'
            for c in text_cols
        )
        hits: dict[str, set[str]] = {e["meta"]["note"]: set() for e in entries}

        def collect(df: pd.DataFrame, entry: dict[str, Any], r: Any, idx: list[int]) -> None:
            hits[entry["meta"]["note"]].update(df.loc[idx, "column_name"].astype(str))

        outcomes = self.check(
            suite,
            label,
            entries,
            record_batches(self.con, sql, ["column_name", "value"]),
            {"target": label, "text_columns": ", ".join(text_cols)},
            on_unexpected=collect,
        )
        for o, entry in zip(outcomes, entries, strict=True):
            bad = sorted(hits[entry["meta"]["note"]])
            o.column = ",".join(bad) if bad else f"{len(text_cols)} text columns"
        return outcomes


@dataclass(frozen=True)
class GateStep:
    """A gate a later stage adds to a gate run: ``run(gates, paths)`` on the run's connection.

    The release's open-data gate is one (``subjectdb.release.checks.RELEASE_GATES``); the CLI
    passes it to the build and to ``subjectdb validate``. A ``duckdb.Error`` or
    :class:`ValidationError` it raises is recorded as the run's error ``gate <name>: …``.
    """

    name: str
    run: Callable[[Gates, Paths], list[Outcome]]


def run_gates(
    paths: Paths,
    warehouse: Path,
    show_progress: bool = False,
    *,
    extra_gates: Sequence[GateStep] = (),
    _gx: GX | None = None,
    _run: tuple[str, dt.datetime] | None = None,
    _docs: bool = True,
) -> SuiteReport:
    """Publication gates on a built warehouse file (attached READ_ONLY), then ``extra_gates``."""
    run_name, now = _run or new_run("gates")
    report = SuiteReport(run_id=run_name, run_time=now)
    warehouse = Path(warehouse)
    if not warehouse.exists():
        report.errors.append(f"no warehouse at {warehouse}: run `subjectdb build` first")
        append_results(paths, report, target=str(warehouse))
        return report
    cfg = load_gates_config()
    gxs = _gx or GX(paths)
    con = duckdb_connect(paths=paths, threads=2)
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        labels = pa.table({"label": sorted(reference_labels())})
        con.register("ref_labels", labels)
        gates = Gates(gxs, con, cfg, run_identifier(run_name, now), now)
        steps: list[tuple[str, Callable[[], list[Outcome]]]] = [
            ("reconciliation", gates.reconciliation)
        ]
        subj = {t: c for t, c in gates.tables("marts").items() if t.startswith("subj_")}
        for t in cfg["bounds"]:
            if t not in subj:
                report.outcomes.append(
                    failed("gate", "gate_subject_tables", t, "table_exists", f"marts.{t} missing")
                )
        for t, cols in sorted(subj.items()):
            steps.append((t, lambda t=t, cols=cols: gates.subject_table(t, cols)))
        for extra in extra_gates:
            steps.append((extra.name, lambda extra=extra: extra.run(gates, paths)))
        step = progress(show_progress, len(steps), "gates")
        for name, run in steps:
            try:
                report.outcomes.extend(run())
            except (duckdb.Error, ValidationError) as exc:
                report.errors.append(f"gate {name}: {exc}")
            step(name)
    finally:
        con.close()
    append_results(paths, report, target=str(warehouse))
    if _docs:
        gxs.build_docs()
    return report


def run_gate_steps(
    paths: Paths, gate_steps: Sequence[GateStep], *, prefix: str, target: str
) -> SuiteReport:
    """Only these gates, with no warehouse attached (e.g. the open-data gate after publishing).

    A run of its own (name ``<prefix>-…``), results appended with ``target``, Data Docs built.
    """
    run_name, now = new_run(prefix)
    report = SuiteReport(run_id=run_name, run_time=now)
    cfg = load_gates_config()
    gxs = GX(paths)
    with duckdb_connect(paths=paths) as con:
        con.register("ref_labels", pa.table({"label": sorted(reference_labels())}))
        gates = Gates(gxs, con, cfg, run_identifier(run_name, now), now)
        for gate in gate_steps:
            try:
                report.outcomes.extend(gate.run(gates, paths))
            except (duckdb.Error, ValidationError) as exc:
                report.errors.append(f"gate {gate.name}: {exc}")
    append_results(paths, report, target=target)
    gxs.build_docs()
    return report


def validate_all(
    paths: Paths, show_progress: bool = False, *, extra_gates: Sequence[GateStep] = ()
) -> SuiteReport:
    """Raw suites on the landing zone, then gates on ``data/warehouse.duckdb`` (one Data Docs)."""
    run = new_run("validate")
    gxs = GX(paths)
    report = run_raw_suites(paths, show_progress, force=True, _gx=gxs, _run=run, _docs=False)
    report.extend(
        run_gates(
            paths,
            paths.warehouse,
            show_progress,
            extra_gates=extra_gates,
            _gx=gxs,
            _run=run,
            _docs=False,
        )
    )
    gxs.build_docs()
    return report
