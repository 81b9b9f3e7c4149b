"""The command line, ``python -m subjectdb.bench``: a whole benchmark, or (``--stage NAME SPEC``,
internal) one stage in this process, its measurement printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from subjectdb.bench.report import render_table
from subjectdb.bench.run import run_benchmark
from subjectdb.bench.spec import OPTIONAL_GROUPS, SIZES, BenchmarkError
from subjectdb.bench.stages import run_stage

DESCRIPTION = (
    "Benchmarks: wall time, rows per second and peak resident memory of every pipeline stage."
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m subjectdb.bench", description=DESCRIPTION)
    parser.add_argument("--size", default="10m", choices=list(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated optional stage groups: "
        + ",".join(OPTIONAL_GROUPS)
        + " (default: all)",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README table")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument(
        "--drop-raw",
        action="store_true",
        help="delete the bulk raw extracts once loaded (saves 16 GB of disk at 50m)",
    )
    parser.add_argument(
        "--stage",
        nargs=2,
        metavar=("NAME", "SPEC"),
        help="internal: run one stage in this process and print JSON",
    )
    args = parser.parse_args(argv)
    if args.stage:
        name, spec = args.stage
        print(json.dumps(run_stage(name, json.loads(spec))), flush=True)
        return 0
    stages = [s for s in args.only.split(",") if s] if args.only else None
    try:
        out = run_benchmark(
            size=args.size,
            runs=args.runs,
            data_dir=args.data_dir,
            stages=stages,
            update_readme=not args.no_readme,
            keep_data=args.keep_data,
            drop_raw=args.drop_raw,
        )
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(render_table(json.loads(out.read_text(encoding="utf-8"))))
    return 0
