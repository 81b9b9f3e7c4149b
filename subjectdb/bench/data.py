"""The benchmark's data: the generator's batch files, the held-back daily batch, and the rows
landed and built.

The daily incremental batch (1/365 of a year): the generator spreads batch cut-offs evenly
over the period, so a one-day batch would need a batch per day, and the raw suites cost about a
second per batch whatever its size. Instead one generate call writes a few coarse batches, and
the last batch's files (cut-off 31 December) are split by ``updated_at``: rows updated on the
last day become the held-back batch ``<last day>``, every other row (including rows whose
``updated_at`` is a defect and cannot be read) the batch ``<last day - 1>``. Because the last
day ends the period, the rows updated on it are exactly what a daily extract of that day holds
(every case that changed that day, in its latest state); the day-before batch only misses the
earlier states, within the period, of cases that changed again on the last day. The
generator's manifest keeps the row numbers of the unsplit file.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from subjectdb.bench.spec import BenchmarkError
from subjectdb.config import EXTRACTS, Paths

_BATCH_FILE = re.compile(r"^(cases|persons|enterprises)_(\d{8})\.(csv|parquet)$")


def batch_files(raw: Path) -> dict[str, list[tuple[str, Path]]]:
    """extract → [(batch id, file)] in batch order, for the generator's files under ``raw``."""
    out: dict[str, list[tuple[str, Path]]] = {e: [] for e in EXTRACTS}
    for extract in EXTRACTS:
        for path in sorted((raw / extract).glob(f"{extract}_*")):
            m = _BATCH_FILE.match(path.name)
            if m:
                out[extract].append((m.group(2), path))
    return out


def hold_back_last_day(raw: Path) -> dict[str, int]:
    """Split each extract's last batch file into the day before and the last day (see the
    module docstring); returns the rows of the new last-day batch per extract."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    held: dict[str, int] = {}
    for extract, files in batch_files(raw).items():
        if len(files) < 2:
            raise BenchmarkError(f"need at least two {extract} batches under {raw}")
        last_id, path = files[-1]
        last_day = datetime.strptime(last_id, "%Y%m%d").date()
        before_id = date.fromordinal(last_day.toordinal() - 1).strftime("%Y%m%d")
        if files[-2][0] >= before_id:
            raise BenchmarkError(f"{extract}: the last batch {last_id} is a single day already")
        before = path.with_name(path.name.replace(last_id, before_id))
        prefix = last_day.isoformat()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            on_day = pc.fill_null(pc.starts_with(table["updated_at"], prefix), False)
            pq.write_table(table.filter(pc.invert(on_day)), before, compression="zstd")
            pq.write_table(table.filter(on_day), path, compression="zstd")
            held[extract] = int(pc.sum(on_day.cast(pa.int64())).as_py() or 0)
            continue
        data = path.read_bytes()
        header, _, body = data.partition(b"\n")
        keep: list[bytes] = []
        day: list[bytes] = []
        marker = prefix.encode("ascii")
        for line in body.split(b"\n"):
            if not line:
                continue
            # updated_at is the last column of every extract, one record a line (the generator
            # quotes nothing; a stray-quote defect only puts a quote inside a value)
            (day if line.rsplit(b",", 1)[-1].startswith(marker) else keep).append(line)
        before.write_bytes(header + b"\n" + b"".join(x + b"\n" for x in keep))
        path.write_bytes(header + b"\n" + b"".join(x + b"\n" for x in day))
        held[extract] = len(day)
    return held


def split_batches(raw: Path) -> tuple[list[Path], list[Path]]:
    """The bulk files and the held-back last-day files under ``raw``."""
    bulk: list[Path] = []
    increment: list[Path] = []
    for extract, files in batch_files(raw).items():
        if not files:
            raise BenchmarkError(f"no {extract} extract files under {raw}")
        bulk += [p for _, p in files[:-1]]
        increment.append(files[-1][1])
    return bulk, increment


def landed_rows(paths: Paths, batch: str | None = None) -> int:
    import pyarrow.parquet as pq

    total = 0
    pattern = f"batch={batch}/*.parquet" if batch else "*/*.parquet"
    for extract in EXTRACTS:
        for f in (paths.landing / extract).glob(pattern):
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def subject_rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' "
                "and table_name like 'subj_%' order by 1"
            ).fetchall()
        ]
        return {
            n: int(con.execute(f'select count(*) from marts."{n}"').fetchone()[0])  # type: ignore[index]
            for n in names
        }
