"""The hand-written baseline: ``benchmarks/handwritten.sql`` filled in for a data folder, run
under dbt's DuckDB settings, and its outputs compared with dbt's row for row."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

from subjectdb.bench.data import landed_rows
from subjectdb.bench.measure import Outcome, clock, stage_paths
from subjectdb.bench.spec import COMPARED_TABLES, BenchmarkError
from subjectdb.config import PROJECT_DIR, Paths, duckdb_connect

HANDWRITTEN_SQL = PROJECT_DIR / "benchmarks" / "handwritten.sql"


def handwritten_sql(paths: Paths, seeds_dir: Path | None = None) -> str:
    """``benchmarks/handwritten.sql`` with the data folder's inputs filled in."""
    seeds = seeds_dir or (PROJECT_DIR / "seeds")
    return Template(HANDWRITTEN_SQL.read_text(encoding="utf-8")).substitute(
        landing=paths.landing.as_posix(),
        raw_suite_quarantine=paths.suite_quarantine.as_posix(),
        seeds=seeds.as_posix(),
    )


def compare_tables(con: Any, left: str, right: str) -> dict[str, int]:
    """Rows of ``left`` missing from ``right`` and the reverse (multiset, doubles to 1e-9)."""
    cols = con.execute(f"select * from {left} limit 0").description
    names = [c[0] for c in cols]
    right_names = [c[0] for c in con.execute(f"select * from {right} limit 0").description]
    if sorted(names) != sorted(right_names):
        raise BenchmarkError(f"{left} and {right} have different columns: {names} vs {right_names}")
    types = {r[0]: r[1] for r in con.execute(f"describe select * from {left}").fetchall()}
    exprs = ", ".join(
        f'round("{n}", 9) as "{n}"' if types[n] in ("DOUBLE", "FLOAT") else f'"{n}"' for n in names
    )
    missing = con.execute(
        f"select count(*) from (select {exprs} from {left} except all select {exprs} from {right})"
    ).fetchone()[0]
    extra = con.execute(
        f"select count(*) from (select {exprs} from {right} except all select {exprs} from {left})"
    ).fetchone()[0]
    return {
        "rows": int(con.execute(f"select count(*) from {left}").fetchone()[0]),
        "only_left": int(missing),
        "only_right": int(extra),
    }


def handwritten_stage(spec: dict[str, Any]) -> Outcome:
    paths = stage_paths(spec)
    target = paths.build_dir / "bench-handwritten.duckdb"
    for stale in (target, Path(str(target) + ".wal")):
        stale.unlink(missing_ok=True)
    sql = handwritten_sql(paths)
    # the limits profiles.yml gives dbt, so both run under the same settings
    con = duckdb_connect(target, paths=paths, threads=2, preserve_order=False)
    try:
        seconds, _ = clock(lambda: con.execute(sql))
        con.execute(f"attach '{paths.warehouse.as_posix()}' as wh (read_only)")
        checks = {t: compare_tables(con, f"main.{t}", f"wh.marts.{t}") for t in COMPARED_TABLES}
    finally:
        con.close()
    target.unlink(missing_ok=True)
    wrong = {t: c for t, c in checks.items() if c["only_left"] or c["only_right"]}
    if wrong:
        raise BenchmarkError(
            "the hand-written script and dbt disagree (rows only in the script / only in dbt): "
            + json.dumps(wrong)
        )
    return Outcome(seconds, landed_rows(paths), {"equal_to_dbt": True, "compared": checks})
