"""``subjectdb load``: raw extract files → landing zone + load quarantine + reconciliation.

The loader owns *structure*: can a row be read, decoded and typed? It does not judge whether a
value is valid (check digits, codes, enumerations, date order, required fields): the Great
Expectations raw suites (:mod:`subjectdb.quality`) do that on the landing zone.

Pipeline for one file (see ``docs/loading.md``), one streaming pass in bounded memory:

1. name → extract + batch (``cases_20240131.csv``); header → the extract's contract columns.
   A file that cannot be read as a whole (unknown extract, wrong format, missing or unexpected
   columns) is rejected and nothing of it lands;
2. pyarrow's streaming CSV reader (in a producer thread; GBK is transcoded on the fly) or
   Parquet row batches. Rows with too few / too many fields and values that are not valid text
   in the file's encoding go to the quarantine; every row gets its physical line number;
3. each batch is standardised (full-width → half-width, traditional → simplified with OpenCC
   ``t2s``, trimmed, empty → NULL) and typed with vectorised Arrow casts; rows with an
   untypable value go to the quarantine, the rest to the landing partition (written by a
   writer thread). The file's SHA-256 is computed on the way;
4. both partitions are written to temporary files, reconciled *as written* (DuckDB counts
   them: rows read = landed + distinct quarantined rows) and renamed into place; then the
   file's reconciliation row is upserted into ``reconciliation.parquet`` — the commit mark.

This module finds the files, takes the load lock, stages files in parallel and commits them in
batch order; the steps live beside it: :mod:`~subjectdb.ingest.schema` (1),
:mod:`~subjectdb.ingest.encoding` and :mod:`~subjectdb.ingest.reader` (2, 3),
:mod:`~subjectdb.ingest.standardise` (3), :mod:`~subjectdb.ingest.reconcile` (4).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import gc
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from subjectdb.config import EXTRACTS, Paths, duckdb_connect
from subjectdb.contract import mask_text
from subjectdb.files import replace_atomic, sha256_file, temp_beside
from subjectdb.ingest.encoding import detect_encoding, normalise_encoding
from subjectdb.ingest.reader import FileLoader, QuarantineSink
from subjectdb.ingest.reconcile import Reconciliation, quarantine_counts
from subjectdb.ingest.report import FileRejected, FileReport, LoadError
from subjectdb.ingest.schema import Source, parse_name

WORKERS_ENV = "SUBJECTDB_LOAD_WORKERS"


def discover(paths: Sequence[Path]) -> list[Path]:
    """The extract files named by ``paths`` (files as given, folders searched recursively)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise LoadError(f"{p}: no such file or folder")
        if p.is_dir():
            candidates = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in (".csv", ".parquet")
                and f.name.lower().startswith(tuple(f"{e}_" for e in EXTRACTS))
            )
        else:
            candidates = [p]
        for f in candidates:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    # Load in batch order, so a later batch never lands before an earlier one of its extract.
    return sorted(found, key=lambda f: (f.name.lower().split("_", 1)[-1], f.name.lower()))


@contextlib.contextmanager
def _load_lock(data: Paths) -> Iterator[None]:
    data.root.mkdir(parents=True, exist_ok=True)
    with (data.root / ".load.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadError(f"another `subjectdb load` is running on {data.root}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_workers() -> int:
    """Files loaded at once: ``$SUBJECTDB_LOAD_WORKERS``, else 2 (or 1 on a 1-core machine)."""
    env = os.environ.get(WORKERS_ENV)
    if env:
        try:
            workers = int(env)
        except ValueError:
            raise LoadError(f"{WORKERS_ENV}={env!r} is not a number of files") from None
        if workers < 1:
            raise LoadError(f"{WORKERS_ENV} must be at least 1, not {workers}")
        return workers
    return max(1, min(2, os.cpu_count() or 1))


def load_paths(
    paths: list[Path],
    data: Paths,
    encoding: str | None = None,
    show_progress: bool = False,
    workers: int | None = None,
) -> list[FileReport]:
    """Load every extract file under ``paths`` into ``data``'s landing zone.

    Returns one :class:`FileReport` per file, in batch order. A file that cannot be read at
    all is rejected (``rejected=True``, ``reason`` says why) and the other files still load.
    Raises :class:`LoadError` when a path does not exist or an option is wrong.

    ``workers`` files (default :func:`load_workers`) are read, typed and written at once, in
    threads (the work is in Arrow's C++ kernels, which release the GIL); each file is then
    committed — partitions moved into place, reconciliation row written — strictly in batch
    order, so a later batch is never committed before an earlier one.
    """
    forced = normalise_encoding(encoding) if encoding else None
    workers = load_workers() if workers is None else workers
    if workers < 1:
        raise LoadError(f"workers must be at least 1, not {workers}")
    files = discover(paths)
    if not files:
        raise LoadError(
            "no extract files found (expected cases_*/persons_*/enterprises_* .csv or .parquet)"
        )
    progress = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        if show_progress
        else None
    )

    def stage(f: Path, state: LoadState) -> _Staged:
        if progress is None:
            return _stage_file(f, state, forced, None)
        task = progress.add_task(f.name, total=f.stat().st_size)
        try:
            return _stage_file(f, state, forced, lambda n: progress.advance(task, n))
        finally:
            progress.remove_task(task)

    reports: list[FileReport] = []
    with (
        _load_lock(data),
        progress or contextlib.nullcontext(),
        LoadState(data) as state,
        _gc_frozen(),
    ):
        if workers == 1:
            for f in files:
                reports += _commit([stage(f, state)], state)
            return reports
        # A window of staged files ahead of the next commit keeps both workers busy when a
        # large file is followed by small ones; staged files wait on disk, not in memory.
        window: collections.deque[tuple[tuple[str, str] | None, Future[_Staged]]] = (
            collections.deque()
        )

        def commit_next() -> None:
            """Commit the oldest staged file, and with it the next ones already staged."""
            ready: list[_Staged] = []
            try:
                ready.append(window.popleft()[1].result())
                while window and window[0][1].done():
                    ready.append(window.popleft()[1].result())
            except BaseException:
                for staged in ready:
                    staged.discard()
                raise
            reports.extend(_commit(ready, state))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load") as pool:
            try:
                for f in files:
                    key = _batch_key(f)
                    # Two files for one extract and batch never stage at once: the second
                    # one is checked against the first one's committed reconciliation row.
                    while window and (
                        len(window) >= 4 * workers or (key and key in {k for k, _ in window})
                    ):
                        commit_next()
                    window.append((key, pool.submit(stage, f, state)))
                while window:
                    commit_next()
            finally:  # after an unexpected error: drop whatever was staged and not committed
                for _, future in window:
                    future.cancel()
                for _, future in window:
                    with contextlib.suppress(BaseException):
                        future.result().discard()
    return reports


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Python's cyclic GC leaves the objects that existed before the load alone meanwhile.

    The load allocates few Python objects but enough to trigger full collections, each of
    which walks every object of the process (pyarrow, numpy, DuckDB…): about 3 % of the
    load's CPU in a ``perf`` profile. ``gc.freeze`` parks the existing objects for the
    duration; ``gc.unfreeze`` returns them to the collector.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def load_file(
    path: Path,
    data: Paths,
    encoding: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FileReport:
    """Load one extract file; never raises for a bad file (the report says it was rejected)."""
    forced = normalise_encoding(encoding) if encoding else None
    with LoadState(data) as state:
        return _commit([_stage_file(Path(path), state, forced, on_bytes)], state)[0]


class LoadState:
    """What the files of one load share: the reconciliation rows and one DuckDB database."""

    def __init__(self, data: Paths) -> None:
        self.data = data
        self.reconciliation = Reconciliation(data)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> LoadState:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()

    def latest_batch(self, extract: str) -> str | None:
        """The latest batch of ``extract`` committed so far (this load included)."""
        batches = [b for e, b in self.reconciliation.rows if e == extract]
        return max(batches) if batches else None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor for the calling thread (one bounded database for the whole load)."""
        with self._lock:
            if self._con is None:
                self._con = duckdb_connect(paths=self.data, threads=1)
            return self._con.cursor()


def _batch_key(path: Path) -> tuple[str, str] | None:
    try:
        source = parse_name(path)
    except FileRejected:
        return None
    return source.extract, source.batch_id


@dataclass
class _Staged:
    """A file read, typed and written to temporary files, reconciled, not yet committed."""

    report: FileReport
    moves: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    row: dict[str, Any] | None = None  # its reconciliation row

    def discard(self) -> None:
        for tmp, final in self.moves:
            tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # a rejected file leaves no empty folder
                final.parent.rmdir()
        self.moves = []


def _stage_file(
    path: Path,
    state: LoadState,
    encoding: str | None,
    on_bytes: Callable[[int], None] | None,
) -> _Staged:
    """Everything but the commit; never raises for a bad file (the report says rejected)."""
    report = FileReport(file=path)
    staged = _Staged(report)
    try:
        source = parse_name(path)
        report.extract, report.batch_id = source.extract, source.batch_id
        if source.fmt == "csv":
            report.encoding = encoding or detect_encoding(path)
        else:
            report.encoding = "parquet"
        previous = state.reconciliation.get(source.extract, source.batch_id)
        if previous is not None:
            sha = sha256_file(path)
            report.sha256 = sha
            if sha == previous["sha256"]:
                report.already_loaded = True
                report.rows_read = previous["rows_read"]
                report.rows_landed = previous["rows_landed"]
                report.rows_quarantined = previous["rows_quarantined"]
                report.lines = report.lines_accounted = previous.get("lines")
                report.reason = (
                    f"already loaded on {previous['loaded_at']:%Y-%m-%d %H:%M} UTC "
                    f"from {previous['file']} (same content): skipped"
                )
                return staged
            raise FileRejected(
                f"batch {source.batch_id} of {source.extract} was already loaded from "
                f"{previous['file']} with different content; one file per extract and batch "
                "(a correction must come as a new batch)"
            )
        later = state.latest_batch(source.extract)
        if later is not None and later > source.batch_id:
            report.notes.append(
                f"batch {source.batch_id} arrives after batch {later} of {source.extract}: "
                "loaded; the warehouse keeps each record's latest state by updated_at"
            )
        _load_new(source, state, staged, on_bytes)
    except Exception as exc:  # one bad file never stops the others
        staged.discard()
        _reject(report, path, exc)
    except BaseException:
        staged.discard()
        raise
    return staged


def _reject(report: FileReport, path: Path, exc: BaseException) -> None:
    """The file is rejected; the message names it and masks anything that may be data."""
    report.rejected = True
    if isinstance(exc, FileRejected):
        report.reason = f"{path}: {exc}"
    elif isinstance(exc, pa.ArrowException | OSError | UnicodeError | ValueError):
        report.reason = f"{path}: cannot be read: {type(exc).__name__}: {mask_text(str(exc))}"
    else:
        report.reason = (
            f"{path}: cannot be loaded: {type(exc).__name__}: {mask_text(str(exc))} "
            "(a loader bug: please report it; the other files were loaded)"
        )
    report.rows_landed = report.rows_quarantined = 0


def _commit(group: list[_Staged], state: LoadState) -> list[FileReport]:
    """Move staged files' partitions into place, then write their reconciliation rows.

    One rewrite of ``reconciliation.parquet`` commits the whole group (files staged one after
    another, in batch order); a crash before it leaves the group uncommitted, to be redone
    by the next load like a single file.
    """
    moved: list[_Staged] = []
    for staged in group:
        if staged.row is None:
            continue
        try:
            for tmp, final in staged.moves:
                replace_atomic(tmp, final)
            moved.append(staged)
        except OSError as exc:
            staged.discard()
            _reject(staged.report, staged.report.file, exc)
    if moved:
        try:
            state.reconciliation.upsert([s.row for s in moved if s.row is not None])
        except OSError as exc:
            for staged in moved:
                _reject(staged.report, staged.report.file, exc)
    return [staged.report for staged in group]


def _load_new(
    source: Source,
    state: LoadState,
    staged: _Staged,
    on_bytes: Callable[[int], None] | None,
) -> None:
    report = staged.report
    assert report.encoding is not None
    data = state.data
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    landing_dir = data.landing_partition(source.extract, source.batch_id)
    quarantine_dir = data.load_quarantine / source.extract / f"batch={source.batch_id}"
    landing_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    landing_final = landing_dir / "part-0.parquet"
    quarantine_final = quarantine_dir / "part-0.parquet"
    landing_tmp, quarantine_tmp = temp_beside(landing_final), temp_beside(quarantine_final)
    staged.moves = [(landing_tmp, landing_final), (quarantine_tmp, quarantine_final)]
    sink = QuarantineSink(quarantine_tmp, source, loaded_at)
    try:
        counts = FileLoader(source, report.encoding, on_bytes).run(landing_tmp, sink, loaded_at)
    finally:
        sink.close()
    report.sha256 = counts.sha256
    report.rows_read = counts.rows_read
    report.lines, report.lines_accounted = counts.lines, counts.lines_accounted
    if counts.lines != counts.lines_accounted:
        raise FileRejected(
            f"reconciliation failed: the file has {counts.lines:,} lines but the header and "
            f"the {counts.rows_read:,} rows read account for {counts.lines_accounted:,}; "
            "nothing was loaded (please report this as a bug)"
        )
    # Reconcile on the files as written, not on the loader's own counters.
    landed = pq.ParquetFile(landing_tmp).metadata.num_rows
    q_rows, q_by_reason = quarantine_counts(quarantine_tmp, state.cursor)
    if report.rows_read != landed + q_rows:
        raise FileRejected(
            f"reconciliation failed: {report.rows_read} rows read but {landed} landed + "
            f"{q_rows} quarantined; nothing was loaded (please report this as a bug)"
        )
    report.rows_landed = landed
    report.rows_quarantined = q_rows
    report.quarantine_reasons = q_by_reason
    staged.row = {
        "file": source.path.name,
        "extract": source.extract,
        "batch": source.batch_id,
        "sha256": report.sha256,
        "encoding": report.encoding,
        "rows_read": report.rows_read,
        "rows_landed": landed,
        "rows_quarantined": q_rows,
        "loaded_at": loaded_at,
        "lines": counts.lines,
    }
