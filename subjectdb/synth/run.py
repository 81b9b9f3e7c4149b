"""One generator run: ``subjectdb generate`` writes realistic raw extracts (cases, persons,
enterprises) with a manifest of injected defects.

It plays the source systems: it writes the population register, the enterprise register and
the approval-case extracts of one province as batches of files, the way departmental systems
export them (see ``docs/extract-contract.md``), and injects the defects real extracts have at a
configured rate, each listed in ``manifest.csv``.

Design: every step is numpy-vectorised and streamed in chunks of ``CHUNK`` cases / persons;
only compact numeric arrays of the registers stay in memory (about 60 bytes per person and
enterprise), so memory is bounded by the register size, never by the number of cases. Chunks
draw from random streams derived from (seed, extract, chunk number), so one seed always gives
the same bytes. The steps live beside this module: :mod:`~subjectdb.synth.reference`,
:mod:`~subjectdb.synth.calendar`, :mod:`~subjectdb.synth.persons`,
:mod:`~subjectdb.synth.enterprises`, :mod:`~subjectdb.synth.cases`,
:mod:`~subjectdb.synth.defects` and :mod:`~subjectdb.synth.sink`; the parameters of the
realism model in :mod:`subjectdb.synth.profiles`.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from subjectdb.config import SEEDS_DIR
from subjectdb.contract import COLUMNS
from subjectdb.synth import arrays as ar
from subjectdb.synth import profiles as prof
from subjectdb.synth.addresses import MIN_BIRTH_YEAR, address_code_table, all_region_names
from subjectdb.synth.calendar import DAY, EPOCH, build_calendar, cutoffs
from subjectdb.synth.cases import build_world, case_chunk
from subjectdb.synth.defects import Injector, gbk_ok
from subjectdb.synth.enterprises import enterprise_rows, make_enterprises
from subjectdb.synth.errors import GenerateError
from subjectdb.synth.persons import make_persons, person_rows
from subjectdb.synth.reference import Ref, load_reference
from subjectdb.synth.sink import Sink, route

FORMATS = ("csv", "csv-gbk", "parquet")
CHUNK = 100_000
MANIFEST_COLUMNS = ["file", "row", "column", "kind", "detail"]


@dataclass
class GenerateResult:
    """What ``generate`` wrote."""

    out: Path
    manifest: Path
    files: list[Path]
    counts: dict[str, int]
    defects: dict[str, int] = field(default_factory=dict)
    fmt: str = "csv"
    seconds: float = 0.0

    def summary(self) -> Any:
        """A rich table: rows per extract, files and defects by kind."""
        from rich.table import Table

        table = Table(title=f"generated raw extracts in {self.out} ({self.fmt})")
        table.add_column("what")
        table.add_column("count", justify="right")
        for key, value in self.counts.items():
            table.add_row(key.replace("_", " "), f"{value:,}")
        table.add_row("files", f"{len(self.files):,}")
        for kind, n in sorted(self.defects.items()):
            table.add_row(f"defect: {kind}", f"{n:,}")
        table.add_row("manifest", str(self.manifest))
        if self.seconds:
            table.add_row("seconds", f"{self.seconds:.1f}")
        return table


def parse_years(text: str) -> tuple[int, int]:
    """``"2024-2025"`` → ``(2024, 2025)``; ``"2025"`` → ``(2025, 2025)``."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise GenerateError(f"--years must look like 2024-2025, got {text!r}") from None
    if last < first:
        raise GenerateError(f"--years {text!r}: the last year is before the first")
    return first, last


def _check_args(persons: int, enterprises: int, cases: int, fmt: str, defect_rate: float) -> None:
    if fmt not in FORMATS:
        raise GenerateError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    if persons < 1:
        raise GenerateError("--persons must be at least 1")
    if enterprises < 0 or cases < 0:
        raise GenerateError("--enterprises and --cases cannot be negative")
    if cases >= 10**8:
        raise GenerateError("--cases must be below 100,000,000 (8-digit case sequence)")
    if not 0 <= defect_rate <= 0.5:
        raise GenerateError(f"--defect-rate must be between 0 and 0.5, got {defect_rate}")


def _clear(out: Path) -> None:
    """Remove extract files of an earlier run (the generator owns the raw folder layout)."""
    for extract in COLUMNS:
        folder = out / extract
        if folder.is_dir():
            for path in folder.glob(f"{extract}_*"):
                if path.suffix in (".csv", ".parquet"):
                    path.unlink()
    (out / "manifest.csv").unlink(missing_ok=True)


def _chunks(total: int, size: int = CHUNK) -> Iterator[tuple[int, int, int]]:
    for i, lo in enumerate(range(0, total, size)):
        yield i, lo, min(lo + size, total)


def generate(
    out: Path,
    province: str,
    persons: int,
    enterprises: int,
    cases: int,
    years: tuple[int, int],
    batches: int,
    fmt: str,
    defect_rate: float,
    seed: int,
    show_progress: bool = False,
    seeds_dir: Path | None = None,
) -> GenerateResult:
    """Write the raw extracts and ``manifest.csv`` under ``out`` (see the module docstring).

    Extract files and the manifest of an earlier run in ``out`` are replaced. ``seeds_dir``
    (default ``seeds/``) holds the reference seeds: regions, code changes, service catalog,
    channels, statuses and enumerations. Raises :class:`GenerateError` for bad arguments
    (unknown province or format, years outside the working-day calendar 2004–2026, ...).
    """
    import time

    started = time.perf_counter()
    _check_args(persons, enterprises, cases, fmt, defect_rate)
    first_year, last_year = years
    cal = build_calendar(first_year, last_year)
    ref = load_reference(seeds_dir or SEEDS_DIR, str(province))
    cut = cutoffs(cal, batches)
    batch_days = [EPOCH + dt.timedelta(days=int(cal.day0 + c)) for c in cut]
    batch_ids = [d.strftime("%Y%m%d") for d in batch_days]
    batch_ends = [dt.datetime.combine(d, dt.time(23, 59, 59)) for d in batch_days]
    cut_end = (cal.day0 + cut + 1).astype(np.int64) * DAY - 1
    if fmt == "csv-gbk":
        _check_gbk(ref)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    root = np.random.SeedSequence(seed)
    world_rng = np.random.default_rng(root.spawn(1)[0])
    n_years = last_year - first_year + 1

    # migrants' origins: a fixed sample of other provinces' counties
    pick_n = min(300, len(ref.other_codes))
    other_pick = (
        sorted(world_rng.choice(ref.other_codes, pick_n, replace=False).tolist()) if pick_n else []
    )
    all_names = all_region_names()
    addr_table = address_code_table(
        ref.county_codes + other_pick,
        all_names,
        ref.retired_by_successor,
        range(MIN_BIRTH_YEAR, last_year + 1),
    )
    county_w = ar.county_weights(world_rng, ref.county_urban, prof.URBAN_DENSITY)
    progress = _progress(show_progress)
    sinks: list[Sink] = []
    injector = Injector(defect_rate, fmt, ref, batch_ends, int(world_rng.integers(2**62)))
    try:
        with progress:
            t_p = progress.add_task("population register", total=persons)
            pers = make_persons(
                world_rng,
                ref,
                cal,
                persons,
                first_year,
                last_year,
                county_w,
                addr_table,
                other_pick,
            )
            sink = Sink(out, "persons", batch_ids, fmt)
            sinks.append(sink)
            for i, lo, hi in _chunks(persons):
                rng = np.random.default_rng([seed, 1, i])
                cols, updated = person_rows(ref, cal, pers, lo, hi)
                route(sink, injector, cols, updated, cut_end, rng)
                progress.update(t_p, completed=hi)

            t_e = progress.add_task("enterprise register", total=max(enterprises, 1))
            ents = (
                make_enterprises(world_rng, ref, cal, enterprises, n_years) if enterprises else None
            )
            sink = Sink(out, "enterprises", batch_ids, fmt)
            sinks.append(sink)
            if ents is not None:
                for i, lo, hi in _chunks(enterprises):
                    rng = np.random.default_rng([seed, 2, i])
                    cols, updated = enterprise_rows(ref, cal, ents, lo, hi)
                    route(sink, injector, cols, updated, cut_end, rng)
                    progress.update(t_e, completed=hi)
            progress.update(t_e, completed=max(enterprises, 1))

            world = build_world(ref, cal, pers, ents, first_year, other_pick, addr_table, cut_end)
            t_c = progress.add_task("approval cases", total=max(cases, 1))
            sink = Sink(out, "cases", batch_ids, fmt)
            sinks.append(sink)
            for i, lo, hi in _chunks(cases):
                rng = np.random.default_rng([seed, 3, i])
                cols, updated = case_chunk(rng, world, lo, hi)
                route(sink, injector, cols, updated, cut_end, np.random.default_rng([seed, 4, i]))
                progress.update(t_c, completed=hi)
            progress.update(t_c, completed=max(cases, 1))
    finally:
        for s in sinks:
            s.close()

    files = [p for s in sinks for p in s.paths]
    entries = sorted(injector.entries, key=lambda e: (e[0], e[1]))
    if fmt == "csv-gbk":
        entries = [
            (p.name, 0, "", "gbk_encoding", "whole file is GBK-encoded") for p in files
        ] + entries
        injector.counts["gbk_encoding"] = len(files)
    manifest = out / "manifest.csv"
    with manifest.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(entries)
    counts = {
        "persons": persons,
        "enterprises": enterprises,
        "cases": cases,
        "persons_rows": sum(sinks[0].rows),
        "enterprises_rows": sum(sinks[1].rows),
        "cases_rows": sum(sinks[2].rows),
        "defects": len(entries),
    }
    return GenerateResult(
        out=out,
        manifest=manifest,
        files=files,
        counts=counts,
        defects=dict(injector.counts),
        fmt=fmt,
        seconds=time.perf_counter() - started,
    )


def _check_gbk(ref: Ref) -> None:
    for name in ref.region_names:
        if not gbk_ok(name):
            raise GenerateError(
                f"region name {name!r} cannot be encoded in GBK: use --format csv or parquet"
            )


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(show: bool) -> Any:
    if not show:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
