"""The release's own gate: the latest open-data release against its disclosure rules.

``gate_open_data`` runs in every gate run the CLI starts (``subjectdb build`` and ``subjectdb
validate`` pass :data:`RELEASE_GATES` to the quality stage) and alone in
:func:`check_open_data` (e.g. right after ``subjectdb publish``). The quality stage provides the
gate machinery (:class:`subjectdb.quality.Gates`); the release provides what only it knows:
which release is the latest and which value columns each status column withholds.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from subjectdb.config import Paths
from subjectdb.quality import (
    Gates,
    GateStep,
    Outcome,
    SuiteReport,
    failed,
    not_checked,
    record_batches,
    run_gate_steps,
)
from subjectdb.release import WITHHELD, disclosure, latest_release

SUITE = "gate_open_data"


def withheld_columns() -> dict[str, dict[str, str]]:
    """Per published table: value column → the status column that withholds it.

    The publisher's own rule (``subjectdb.release.WITHHELD``); the gate checks the release
    against it. Columns it does not name follow ``X_status`` governs ``X``.
    """
    return {str(k): dict(v) for k, v in WITHHELD.items()}


def release_threshold(release: Path, default: int) -> int:
    """The release's disclosure threshold (``datapackage.json``), else ``default``."""
    meta = release / "datapackage.json"
    if not meta.exists():
        return default
    with contextlib.suppress(json.JSONDecodeError, OSError):
        text = meta.read_text(encoding="utf-8")
        m = re.search(r'"(?:disclosure_)?threshold"\s*:\s*(\d+)', text)
        if m:
            return int(m.group(1))
    return default


def open_data_gate(gates: Gates, paths: Paths) -> list[Outcome]:
    """The latest open-data release: personal data and disclosure control."""
    suite = SUITE
    latest = latest_release(paths)
    if latest is None:
        return [not_checked("gate", suite, "release", "release_exists", "no release to check")]
    files = sorted(latest.rglob("*.parquet")) or sorted(
        f for f in latest.rglob("*.csv") if "excel" not in f.parts
    )
    if not files:
        return [failed("gate", suite, latest.name, "release_tables_exist", "no table files")]
    threshold = release_threshold(latest, int(gates.cfg["release"]["default_threshold"]))
    withheld = withheld_columns()
    outcomes: list[Outcome] = []
    for f in files:
        label = f"{latest.name}/{f.relative_to(latest)}"
        if f.suffix == ".parquet":
            src = f"read_parquet('{f}')"
        else:
            src = f"read_csv('{f}', all_varchar = true, header = true)"
        desc = gates.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        cols = {r[0]: str(r[1]) for r in desc}
        text_cols = [c for c, ty in cols.items() if ty.upper().startswith("VARCHAR")]
        outcomes += gates.pii(suite, label, text_cols, lambda _c, src=src: src)
        statuses = [c for c in cols if c == "status" or c.endswith("_status")]
        statuses += [c for c in cols if gates.cfg["release"]["status_column_hint"] in c.lower()]
        if not statuses:
            outcomes.append(
                failed(
                    "gate",
                    suite,
                    label,
                    "suppression_status_column_exists",
                    f"{f.name}: no suppression status column (status / *_status)",
                )
            )
            continue
        # (value column, status column) pairs: a suppressed cell must be withheld (NULL)
        table_rules = withheld.get(f.stem, {})
        pairs = [(v, st) for v, st in table_rules.items() if v in cols and st in cols]
        pairs += [
            (st.removesuffix("_status"), st)
            for st in statuses
            if st.endswith("_status")
            and st.removesuffix("_status") in cols
            and (st.removesuffix("_status"), st) not in pairs
        ]
        select = [f'coalesce(CAST("{st}" AS VARCHAR), \'\') AS "{st}"' for st in statuses]
        entries: list[dict[str, Any]] = [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": st, "value_set": list(disclosure.STATUSES)},
                "meta": {"standard": "suppression status is a known code"},
            }
            for st in statuses
        ]
        for i, (value, st) in enumerate(pairs):
            select.append(f'"{value}" AS "_v{i}"')
            select.append(f"coalesce(CAST(\"{st}\" AS VARCHAR), '') <> '' AS \"_s{i}\"")
            entries.append(
                {
                    "type": "expect_column_values_to_be_null",
                    "kwargs": {
                        "column": f"_v{i}",
                        "row_condition": {
                            "type": "comparison",
                            "column": {"name": f"_s{i}"},
                            "operator": "==",
                            "parameter": True,
                        },
                    },
                    "meta": {
                        "standard": f"{value} withheld where {st} is set",
                        "label": f"{value} ({st})",
                    },
                }
            )
        if "distinct_applicants" in cols:
            select.append('CAST("distinct_applicants" AS DOUBLE) AS distinct_applicants')
            select.append(
                " AND ".join(f"coalesce(CAST(\"{st}\" AS VARCHAR), '') = ''" for st in statuses)
                + " AS _published"
            )
            entries.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {
                        "column": "distinct_applicants",
                        "min_value": threshold,
                        "row_condition": {
                            "type": "comparison",
                            "column": {"name": "_published"},
                            "operator": "==",
                            "parameter": True,
                        },
                    },
                    "meta": {"standard": f"published cells have >= {threshold} applicants"},
                }
            )
        names = [x.rsplit(" AS ", 1)[1].strip('"') for x in select]
        checked = gates.check(
            suite,
            label,
            entries,
            record_batches(gates.con, f"SELECT {', '.join(select)} FROM {src}", names),
            {"target": str(f), "threshold": threshold},
        )
        for o, e in zip(checked, entries, strict=True):
            if "label" in e["meta"]:
                o.column = e["meta"]["label"]
        outcomes += checked
    outcomes.append(protection_outcome(latest))
    return outcomes


def protection_outcome(release: Path) -> Outcome:
    """The release's own proof of the protection standard, as its ``datapackage.json``
    records it: the narrowest interval its audit certified is at least its protection range
    (releases made before the standard record no range: not checked)."""
    expectation = "suppressed_counts_keep_the_protection_range"
    width = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
        control = package["disclosure_control"]
        width = control.get("protection_range")
    if width is None:
        return not_checked(
            "gate",
            SUITE,
            release.name,
            expectation,
            "no protection range recorded (a release made before the standard)",
        )
    narrowest = control.get("narrowest_interval")
    ok = narrowest is None or float(narrowest) >= float(width) - 1e-6
    return Outcome(
        "gate",
        SUITE,
        release.name,
        expectation,
        "narrowest_interval",
        "critical",
        ok,
        note=f"narrowest certified interval {narrowest} against the protection range {width}",
    )


RELEASE_GATES = (GateStep("open data", open_data_gate),)
"""The release's gates, run after the warehouse gates of every build and ``subjectdb validate``."""


def check_open_data(paths: Paths) -> SuiteReport:
    """Only the open-data gate, on the latest release (e.g. right after ``subjectdb publish``)."""
    return run_gate_steps(paths, RELEASE_GATES, prefix="opendata", target=str(paths.releases))
