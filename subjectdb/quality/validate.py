"""Great Expectations data standards (raw suites) and publication gates.

Rule owners (DESIGN.md): the loader owns structure, this module owns *standards*, dbt tests own
model integrity. A rule lives in exactly one place.

* :func:`run_raw_suites` validates every landed batch of every extract against the suite in
  ``expectations/raw_<extract>.json``. GX's SQL datasource is broken on DuckDB, so batches are
  read with DuckDB as pandas chunks (at most ``CHUNK_ROWS`` rows; rows are split by a hash of the
  record key so every version of one record lands in the same chunk) and validated with GX's
  pandas datasource; unexpected counts are summed over chunks. Rows failing a row-level standard
  are written to ``quarantine/raw_suites/<extract>/batch=<b>/part-0.parquet`` (always written,
  even empty) — once per failing expectation.
* :func:`run_gates` checks a built warehouse (opened read-only) before it is served.
* :func:`validate_all` runs both for ``subjectdb validate``.

Every expectation result is appended to ``validation/results.parquet`` (the dashboard reads it)
and rendered into Data Docs under ``validation/docs``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.table import Table

from subjectdb.config import EXTRACTS, PROJECT_DIR, SEEDS_DIR, Paths, duckdb_connect
from subjectdb.contract import QUARANTINE_SCHEMA
from subjectdb.release.disclosure import STATUSES as _DISCLOSURE_STATUSES

log = logging.getLogger(__name__)

SUITES_DIR = PROJECT_DIR / "expectations"
CHUNK_ROWS = 500_000
"""Upper bound of rows validated at once (memory stays flat whatever the batch size)."""
WORKERS = max(1, min(2, os.cpu_count() or 1))
"""Processes validating batches in parallel on large runs."""
PARALLEL_MIN_ROWS = 500_000
"""Rows to check from which batches are validated by ``WORKERS`` processes (each pays ~3 s of
CPU to import GX; below this the per-batch work does not repay it)."""
EXAMPLES = 5
ROW_COUNT_FACTOR = 3.0
"""A batch is unusual when it has more than this factor more/fewer rows than previous ones."""
DISCLOSURE_THRESHOLD = 10
"""Minimum distinct applicants behind a published cell (DESIGN.md) unless the release says."""
SYSTEMATIC_MIN_ROWS = 50
"""A standard fails a batch only when more than ``1 - mostly`` of its checked rows AND at least
this many rows fail it (suite ``meta.systematic_min_rows`` overrides): one bad row of a 23-row
daily batch is a stray defect (quarantined), not a systematic source problem."""
STATE_VERSION = 1
"""Bump when a change of this module changes raw-suite results (invalidates the skip state)."""


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


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Great Expectations context (Data Docs on the local filesystem)
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


class _GX:
    """A file-backed GX context under ``validation/gx`` whose Data Docs go to ``data_docs``.

    File-backed so Data Docs keep the history of runs; suites are re-synchronised from
    ``expectations/`` (the version-controlled definitions) on every run.
    """

    def __init__(self, paths: Paths | None) -> None:
        """``paths=None``: an ephemeral context (worker processes), results only collected."""
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        import subjectdb.quality.expectations  # noqa: F401  (registers the custom expectations)

        # GX fingerprints every pandas batch (hash of all cells, a batch marker only) when it is
        # below HASH_THRESHOLD bytes: ~6 % of a raw-suite run. Our results carry their own
        # batch markers (extract, batch id, rows, landing folder), so it is turned off.
        pandas_execution_engine.HASH_THRESHOLD = 0  # type: ignore[attr-defined]

        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        self._defs: dict[str, Any] = {}
        self._stored: list[Any] = []
        self._stored_suites: list[Any] = []
        self._suites: dict[str, Any] = {}
        self._synced: dict[str, str] = {}
        self.collected: list[tuple[Any, str, str]] | None = None
        with _quiet():
            if paths is None:
                self.context = gx.get_context(mode="ephemeral")
                self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
                self.source = self.context.data_sources.add_pandas("subjectdb_frames")
                self.collected = []
                return
            paths.validation.mkdir(parents=True, exist_ok=True)
            self.context = gx.get_context(mode="file", project_root_dir=str(paths.validation))
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self.context.variables.save()
            site = {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(paths.data_docs),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
            sites = self.context.get_site_names()
            for name in sites:
                if name != "subjectdb":
                    self.context.delete_data_docs_site(name)
            if "subjectdb" in sites:
                self.context.update_data_docs_site("subjectdb", site)
            else:
                self.context.add_data_docs_site("subjectdb", site)
            try:
                self.source = self.context.data_sources.get("subjectdb_frames")
            except (KeyError, ValueError, LookupError):
                self.source = self.context.data_sources.add_pandas("subjectdb_frames")

    def batch_definition(self, asset_name: str) -> Any:
        if asset_name not in self._defs:
            with _quiet():
                try:
                    asset = self.source.get_asset(asset_name)
                except LookupError:
                    asset = self.source.add_dataframe_asset(asset_name)
                try:
                    bd = asset.get_batch_definition("frame")
                except (KeyError, ValueError, LookupError):
                    bd = asset.add_batch_definition_whole_dataframe("frame")
            self._defs[asset_name] = bd
        return self._defs[asset_name]

    def sync_suite(self, suite: Any) -> Any:
        with _quiet():
            with contextlib.suppress(Exception):
                self.context.suites.delete(suite.name)
            return self.context.suites.add(suite)

    def suite(self, name: str, entries: list[dict[str, Any]], meta: dict[str, Any]) -> Any:
        """The GX suite of these definitions, stored in the context (for Data Docs).

        Built and stored once per distinct definition: a run validates the same suite on many
        batches, and building and storing it (a JSON file) each time is a fixed cost per batch.
        It is stored again only when another definition of the same name was stored since.
        """
        key = json.dumps([name, entries, meta], sort_keys=True, default=str)
        if key not in self._suites:
            self._suites[key] = _gx_suite(name, entries, meta)
        if self._synced.get(name) != key:
            self._suites[key] = self.sync_suite(self._suites[key])
            self._synced[name] = key
        return self._suites[key]

    def store(self, result: Any, suite_name: str, batch_identifier: str, run_id: Any) -> None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        if self.collected is not None:
            self.collected.append((result, suite_name, batch_identifier))
            return
        suite_id = ExpectationSuiteIdentifier(name=suite_name)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=batch_identifier
        )
        self._stored.append(key)
        if suite_id not in self._stored_suites:
            self._stored_suites.append(suite_id)
        with _quiet():
            self.context.validation_results_store.store_validation_results(
                suite_validation_result=result,
                suite_validation_result_identifier=key,
                expectation_suite_identifier=suite_id,
            )

    def build_docs(self) -> None:
        """Render this run's results and suites (earlier pages stay) and the index of all."""
        with _quiet():
            self.context.build_data_docs(
                site_names=["subjectdb"],
                resource_identifiers=[*self._stored_suites, *self._stored],  # type: ignore[list-item]
            )


def _run_identifier(run_name: str, run_time: dt.datetime) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_name, run_time=run_time)


# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteDef:
    name: str
    extract: str
    record_key: str
    meta: dict[str, Any]
    expectations: list[dict[str, Any]]

    def row_level(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if e.get("meta", {}).get("level") != "batch"]

    def batch_level(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if e.get("meta", {}).get("level") == "batch"]


def load_suite_def(extract: str, suites_dir: Path = SUITES_DIR) -> SuiteDef:
    """The version-controlled raw suite of an extract (``expectations/raw_<extract>.json``)."""
    path = suites_dir / f"raw_{extract}.json"
    if not path.exists():
        raise ValidationError(f"suite definition {path} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: line {exc.lineno}: {exc.msg}") from exc
    meta = data.get("meta", {})
    return SuiteDef(
        name=data["name"],
        extract=meta.get("extract", extract),
        record_key=meta["record_key"],
        meta=meta,
        expectations=data["expectations"],
    )


def _gx_suite(name: str, entries: list[dict[str, Any]], meta: dict[str, Any]) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    import subjectdb.quality.expectations  # noqa: F401  (registers the custom expectations)

    mostly = meta.get("mostly")
    exps = []
    with _quiet():
        for i, entry in enumerate(entries):
            kwargs = dict(entry.get("kwargs", {}))
            level = entry.get("meta", {}).get("level")
            if mostly is not None and level != "batch" and "mostly" not in kwargs:
                kwargs["mostly"] = mostly
            try:
                conf = ExpectationConfiguration(
                    type=entry["type"],
                    kwargs=kwargs,
                    meta={**entry.get("meta", {}), "entry": i},
                    severity=entry.get("severity", "critical"),
                )
                exps.append(conf.to_domain_obj())
            except Exception as exc:  # invalid definition: name the suite and entry
                raise ValidationError(
                    f"suite {name}: expectation #{i + 1} ({entry.get('type')}): {exc}"
                ) from exc
    return gx.ExpectationSuite(
        name=name, expectations=exps, meta={"notes": meta.get("description", "")}
    )


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(key), str):
            cols.append(kwargs[key])
    cols.extend(kwargs.get("column_list", []) or [])
    cond = kwargs.get("row_condition")
    if isinstance(cond, dict) and isinstance(cond.get("column"), dict):
        cols.append(cond["column"]["name"])
    return cols


def _domain_columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation checks (its row condition's column excluded)."""
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    return cols + list(kwargs.get("column_list", []) or [])


def _domain_label(kwargs: dict[str, Any]) -> str:
    if isinstance(kwargs.get("column"), str):
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return ""


def suite_parameters(seeds_dir: Path = SEEDS_DIR) -> dict[str, Any]:
    """Enumeration value sets for the suites' ``$PARAMETER`` references, from the seeds."""

    def read(name: str) -> pd.DataFrame:
        path = seeds_dir / f"{name}.csv"
        if not path.exists():
            raise ValidationError(f"reference seed {path} is missing")
        return pd.read_csv(path, dtype=str, keep_default_na=False)

    person = read("ref_person_enums")
    ent = read("ref_enterprise_enums")

    def enum(df: pd.DataFrame, name: str) -> list[str]:
        values = df.loc[df["enum"] == name, "value_zh"].tolist()
        if not values:
            raise ValidationError(f"reference seed has no values for enum {name!r}")
        return values

    return {
        "channels": read("ref_channels")["channel_name_zh"].tolist(),
        "case_statuses": read("ref_case_statuses")["status_name_zh"].tolist(),
        "ratings": [int(r) for r in read("ref_ratings")["rating"]],
        "industry_sections": read("ref_industries")["industry_section"].tolist(),
        "applicant_types": enum(person, "applicant_type"),
        "sexes": enum(person, "sex"),
        "person_statuses": enum(person, "status"),
        "outcomes": enum(person, "outcome"),
        "elicence_reused": enum(person, "elicence_reused"),
        "legal_forms": enum(ent, "legal_form"),
        "size_classes": enum(ent, "size_class"),
        "enterprise_statuses": enum(ent, "status"),
    }


def batch_cutoff(batch_id: str) -> str:
    """End of the batch's cut-off day (``_batch_id`` = YYYYMMDD) as ``YYYY-MM-DD HH:MM:SS``."""
    try:
        day = dt.datetime.strptime(batch_id, "%Y%m%d")
    except ValueError as exc:
        raise ValidationError(f"batch id {batch_id!r} is not a YYYYMMDD cut-off date") from exc
    return (day + dt.timedelta(days=1, microseconds=-1)).strftime("%Y-%m-%d %H:%M:%S.%f")


# --------------------------------------------------------------------------------------------
# Aggregation of chunk results
# --------------------------------------------------------------------------------------------


PERSONAL_COLUMNS = frozenset(
    {
        "applicant_id",
        "person_id",
        "credit_code",
        "applicant_name",
        "name",
        "applicant_phone",
        "phone",
    }
)
"""Raw columns whose unexpected examples are masked before they are stored or shown: results
are read by the dashboard and rendered in Data Docs, which must never show a person's ID,
name or phone (the quarantine keeps the original for the steward)."""


def mask_example(value: Any) -> Any:
    """Mask a personal value, keeping enough to recognise the defect's shape.

    IDs and credit codes keep the 6-digit region part and the check character; phones keep
    the first 3 and last 2 digits; names keep the surname.
    """
    if not isinstance(value, str) or not value:
        return value
    n = len(value)
    if n >= 15:
        return value[:6] + "*" * (n - 7) + value[-1]
    if value.lstrip("+").isdigit() and n >= 7:
        return value[:3] + "*" * (n - 5) + value[-2:]
    return value[:1] + "*" * (n - 1)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and math.isnan(value):
            return None
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    return str(value)


@dataclass
class _Acc:
    """Sums one expectation's results over the chunks of a batch."""

    template: Any  # ExpectationValidationResult of the first chunk
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)
    exception: str = ""
    observed: Any = None
    success: bool = True

    def add(self, r: Any) -> None:
        res = r.result or {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            self.exception = str(r.exception_info.get("exception_message"))
            self.success = False
            return
        self.element_count += int(res.get("element_count") or 0)
        self.missing_count += int(res.get("missing_count") or 0)
        self.unexpected_count += int(res.get("unexpected_count") or 0)
        if len(self.examples) < EXAMPLES:
            for v in res.get("partial_unexpected_list") or []:
                if len(self.examples) < EXAMPLES:
                    self.examples.append(_jsonable(v))
        if "observed_value" in res:
            self.observed = res["observed_value"]
        if "unexpected_count" not in res:
            self.success = self.success and bool(r.success)

    def final_success(self, mostly: float | None, min_rows: int = 0) -> bool:
        """Summed over chunks: fails when the unexpected share exceeds ``1 - mostly`` and at
        least ``min_rows`` rows are unexpected (both; ``min_rows = 0``: the share alone)."""
        if self.exception:
            return False
        if self.template.result is None or "unexpected_count" not in (self.template.result or {}):
            return self.success
        checked = self.element_count - self.missing_count
        if checked <= 0 or self.unexpected_count == 0:
            return True
        if self.unexpected_count < min_rows:
            return True
        return self.unexpected_count / checked <= 1.0 - (mostly if mostly is not None else 1.0)

    def to_result(self, mostly: float | None, min_rows: int = 0) -> Any:
        r = self.template
        r.success = self.final_success(mostly, min_rows)
        res = dict(r.result or {})
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            res.pop(key, None)
        if "unexpected_count" in res:
            checked = max(self.element_count - self.missing_count, 0)
            res.update(
                element_count=self.element_count,
                missing_count=self.missing_count,
                unexpected_count=self.unexpected_count,
                unexpected_percent=(100.0 * self.unexpected_count / checked) if checked else 0.0,
                partial_unexpected_list=self.examples,
            )
            res.pop("partial_unexpected_index_list", None)
            res.pop("partial_unexpected_counts", None)
        r.result = res
        return r


# --------------------------------------------------------------------------------------------
# Raw suites
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedBatch:
    extract: str
    batch_id: str
    files: list[Path]

    @property
    def glob(self) -> str:
        return str(self.files[0].parent / "*.parquet")


def landed_batches(paths: Paths) -> list[LandedBatch]:
    """Every landed batch, per extract in cut-off order."""
    found: list[LandedBatch] = []
    for extract in EXTRACTS:
        root = paths.landing / extract
        if not root.is_dir():
            continue
        for part in sorted(root.glob("batch=*")):
            files = sorted(part.glob("*.parquet"))
            if files:
                found.append(LandedBatch(extract, part.name.split("=", 1)[1], files))
    return found


def _row_count_range(
    counts: dict[str, int], batches: list[str], batch_id: str
) -> tuple[int, int | None, str]:
    """(min, max, note) of the usual row count for ``batch_id`` from its extract's earlier batches.

    The extract's first batch is the initial full load (persons and enterprises send the whole
    register first, changes afterwards), so it is compared with nothing and later batches are
    compared with the later batches before them only.
    """
    earlier = [b for b in batches if b < batch_id]
    history = [counts[b] for b in earlier[1:]]
    if not history:
        return 1, None, "no comparable earlier batch: only checked not empty"
    lo = max(1, math.floor(min(history) / ROW_COUNT_FACTOR))
    hi = math.ceil(max(history) * ROW_COUNT_FACTOR)
    return lo, hi, f"usual range from {len(history)} earlier batch(es): {lo:,}–{hi:,}"


def _quarantine_path(paths: Paths, extract: str, batch_id: str) -> Path:
    return paths.suite_quarantine / extract / f"batch={batch_id}" / "part-0.parquet"


def _write_parquet_atomic(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)


def _chunks(
    con: duckdb.DuckDBPyConnection,
    batch: LandedBatch,
    columns: list[str],
    key: str,
    n: int,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The batch as pandas chunks of at most ~CHUNK_ROWS rows, split by a hash of ``key``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    source = f"read_parquet('{batch.glob}', union_by_name = true)"
    parts = max(1, math.ceil(n / (chunk_rows or CHUNK_ROWS)))
    for k in range(parts):
        where = f"WHERE hash(coalesce(\"{key}\", '')) % {parts} = {k}" if parts > 1 else ""
        table = con.execute(
            f"SELECT {cols} FROM {source} {where} ORDER BY _source_file, _source_row"
        ).to_arrow_table()
        yield _frame(table)


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a pandas frame whose text columns are categorical.

    GX's pandas engine filters the whole frame once per metric (hundreds of times per chunk).
    Taking rows of a categorical moves integer codes; taking Arrow or object strings costs an
    order of magnitude more and dominated the run time.
    """
    arrays = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.dictionary_encode(col)
        arrays.append(col)
    df = pa.table(arrays, names=table.column_names).to_pandas()
    df.index = pd.RangeIndex(len(df))
    return df


def _original(df: pd.DataFrame, idx: list[int], cols: list[str]) -> list[str]:
    sub = df.loc[idx, cols]
    if len(cols) == 1:
        return [None if pd.isna(v) else str(v) for v in sub[cols[0]].tolist()]  # type: ignore[misc]
    out = []
    for rec in sub.to_dict(orient="records"):
        out.append(json.dumps(_jsonable(rec), ensure_ascii=False))
    return out


OnUnexpected = Callable[[pd.DataFrame, dict[str, Any], Any, list[int]], None]


def _validate_frames(
    gxs: _GX,
    asset: str,
    suite: Any,
    entries: list[dict[str, Any]],
    frames: Iterator[pd.DataFrame],
    params: dict[str, Any],
    on_unexpected: OnUnexpected | None = None,
) -> tuple[list[_Acc], Any]:
    """Validate ``frames`` (chunks of one logical batch) with ``suite``; sum results per entry.

    ``on_unexpected(frame, entry, result, index_labels)`` is called for every chunk where an
    expectation found unexpected rows (the raw suites quarantine them).
    """
    from subjectdb.quality import expectations as custom

    bd = gxs.batch_definition(asset)
    if on_unexpected is not None:
        # COMPLETE for the unexpected rows' index labels (quarantine); not the pandas query
        # text GX would also build for every expectation
        result_format: dict[str, Any] = {
            "result_format": "COMPLETE",
            "partial_unexpected_count": EXAMPLES,
            "return_unexpected_index_query": False,
        }
    else:
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    accs: list[_Acc] = []
    template: Any = None
    with _quiet():
        for df in frames:
            res = bd.get_batch(batch_parameters={"dataframe": df}).validate(
                suite, expectation_parameters=params, result_format=result_format
            )
            by_entry = {int(r.expectation_config.meta["entry"]): r for r in res.results}
            if template is None:
                template = res
                accs = [_Acc(template=by_entry[i]) for i in range(len(entries))]
            for i, entry in enumerate(entries):
                r = by_entry[i]
                accs[i].add(r)
                if on_unexpected is None:
                    continue
                idx = (r.result or {}).get("unexpected_index_list") or []
                if idx:
                    labels = [
                        int(v) if not isinstance(v, dict) else int(next(iter(v.values())))
                        for v in idx
                    ]
                    on_unexpected(df, entry, r, labels)
            del df, res
            custom.clear_cache()
    return accs, template


def _outcomes_and_store(
    gxs: _GX,
    *,
    stage: str,
    suite_name: str,
    label: str,
    entries: list[dict[str, Any]],
    accs: list[_Acc],
    template: Any,
    mostly_default: float | None,
    extra: list[tuple[dict[str, Any], Any, str]],
    min_rows: int = 0,
    markers: dict[str, Any],
    run_id: Any,
    now: dt.datetime,
    doc_id: str = "",
) -> list[Outcome]:
    """Turn summed chunk results into outcomes and store one merged GX result for Data Docs.

    ``extra``: (entry, GX result, note) of expectations validated once, not per chunk.
    """
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

    def outcome(
        checked: int, unexpected: int, examples: list[Any], note: str, entry: dict[str, Any], r: Any
    ) -> Outcome:
        return Outcome(
            stage=stage,
            suite=suite_name,
            batch=label,
            expectation=entry["type"],
            column=_domain_label(entry.get("kwargs", {})),
            severity=entry.get("severity", "critical"),
            success=bool(r.success),
            element_count=checked,
            unexpected_count=unexpected,
            examples=examples,
            note=note,
        )

    outcomes: list[Outcome] = []
    stored = []
    for entry, acc in zip(entries, accs, strict=True):
        mostly = entry.get("kwargs", {}).get("mostly", mostly_default)
        if entry.get("kwargs", {}).get("column") in PERSONAL_COLUMNS:
            acc.examples = [mask_example(v) for v in acc.examples]
        r = acc.to_result(mostly, min_rows if mostly is not None and mostly < 1.0 else 0)
        stored.append(r)
        outcomes.append(
            outcome(
                acc.element_count - acc.missing_count,
                acc.unexpected_count,
                acc.examples,
                acc.exception or entry.get("meta", {}).get("note", ""),
                entry,
                r,
            )
        )
    for entry, r, note in extra:
        res = r.result or {}
        observed = res.get("observed_value")
        info = r.exception_info or {}
        err = str(info.get("exception_message")) if info.get("raised_exception") else ""
        outcomes.append(
            outcome(
                int(res.get("element_count") or 0),
                int(res.get("unexpected_count") or 0),
                [_jsonable(observed)] if observed is not None else [],
                err or note,
                entry,
                r,
            )
        )
        stored.append(r)
    if stored:
        ok = sum(bool(r.success) for r in stored)
        stats = {
            "evaluated_expectations": len(stored),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(stored) - ok,
            "success_percent": 100.0 * ok / len(stored),
        }
        meta = getattr(template, "meta", None) or {}
        merged = ExpectationSuiteValidationResult(
            success=all(r.success or r.expectation_config.severity != "critical" for r in stored),
            results=stored,
            suite_name=suite_name,
            statistics=stats,
            meta={
                "active_batch_definition": meta.get("active_batch_definition"),
                "batch_markers": markers,
                "run_id": run_id,
                "validation_time": now,
                "great_expectations_version": meta.get("great_expectations_version"),
            },
        )
        gxs.store(merged, suite_name, re.sub(r"[^0-9A-Za-z_.-]+", "_", doc_id or label), run_id)
    return outcomes


def _validate_batch(
    gxs: _GX,
    suite_def: SuiteDef,
    suite: Any,
    batch: LandedBatch,
    n_rows: int,
    row_range: tuple[int, int | None, str],
    params: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    run_id: Any,
    now: dt.datetime,
    chunk_rows: int | None = None,
) -> tuple[list[Outcome], pa.Table]:
    """Validate one landed batch chunk by chunk; returns the outcomes and its quarantine rows."""
    entries = suite_def.row_level()
    schema_cols = {
        r[0]
        for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{batch.glob}', union_by_name = true)"
        ).fetchall()
    }
    needed = sorted({c for e in entries for c in _columns_of(e.get("kwargs", {}))})
    missing = [c for c in needed + [suite_def.record_key] if c not in schema_cols]
    if missing:
        raise ValidationError(
            f"{batch.files[0]}: column(s) {', '.join(sorted(set(missing)))} missing: "
            f"the landing file does not follow the {batch.extract} extract contract"
        )
    columns = sorted(set(needed) | {"_source_file", "_source_row", suite_def.record_key})
    q_frames: list[pd.DataFrame] = []

    def quarantine(df: pd.DataFrame, entry: dict[str, Any], r: Any, idx: list[int]) -> None:
        kw = entry.get("kwargs", {})
        q_frames.append(
            pd.DataFrame(
                {
                    "_source_file": df.loc[idx, "_source_file"].to_numpy(),
                    "_source_row": df.loc[idx, "_source_row"].to_numpy(),
                    "column": _domain_label(kw),
                    "reason": entry["type"],
                    "original": _original(df, idx, _domain_columns(kw)),
                }
            )
        )

    accs, template = _validate_frames(
        gxs,
        f"landing_{batch.extract}",
        suite,
        entries,
        _chunks(con, batch, columns, suite_def.record_key, n_rows, chunk_rows),
        dict(params, batch_cutoff=batch_cutoff(batch.batch_id)),
        quarantine,
    )

    # batch-level expectations: on a frame with the batch's row count (no columns needed)
    extra: list[tuple[dict[str, Any], Any, str]] = []
    if suite_def.batch_level():
        lo, hi, note = row_range
        table_suite = gxs.suite(f"{suite_def.name}_batch", suite_def.batch_level(), {})
        frame = pd.DataFrame(index=pd.RangeIndex(n_rows))
        with _quiet():
            tres = (
                gxs.batch_definition(f"landing_{batch.extract}_rows")
                .get_batch(batch_parameters={"dataframe": frame})
                .validate(
                    table_suite,
                    expectation_parameters={"row_count_min": lo, "row_count_max": hi},
                    result_format={"result_format": "SUMMARY"},
                )
            )
        by_entry = {int(r.expectation_config.meta["entry"]): r for r in tres.results}
        extra = [
            (entry, by_entry[i], f"{n_rows:,} rows; {note}")
            for i, entry in enumerate(suite_def.batch_level())
        ]

    outcomes = _outcomes_and_store(
        gxs,
        stage="raw_suite",
        suite_name=suite_def.name,
        label=batch.batch_id,
        doc_id=f"{batch.extract}-batch-{batch.batch_id}",
        entries=entries,
        accs=accs,
        template=template,
        mostly_default=suite_def.meta.get("mostly"),
        min_rows=int(suite_def.meta.get("systematic_min_rows", SYSTEMATIC_MIN_ROWS)),
        extra=extra,
        markers={
            "extract": batch.extract,
            "batch_id": batch.batch_id,
            "rows": n_rows,
            "landing": str(batch.files[0].parent),
        },
        run_id=run_id,
        now=now,
    )

    if q_frames:
        q = pd.concat(q_frames, ignore_index=True)
    else:
        q = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("_source_file", "column", "reason", "original")}
        )
        q["_source_row"] = pd.Series(dtype="int64")
    q["extract"] = batch.extract
    q["_batch_id"] = batch.batch_id
    q["stage"] = "raw_suite"
    q["_quarantined_at"] = pd.Timestamp(now.replace(tzinfo=None))
    q = q.sort_values(["_source_row", "reason", "column"], kind="stable")
    table = pa.Table.from_pandas(
        q[QUARANTINE_SCHEMA.names], schema=QUARANTINE_SCHEMA, preserve_index=False
    )
    return outcomes, table


@dataclass(frozen=True)
class _BatchTask:
    """One landed batch to validate (picklable: runs in a worker process for large runs)."""

    root: Path
    batch: LandedBatch
    n_rows: int
    row_range: tuple[int, int | None, str]
    params: dict[str, Any]
    run_name: str
    now: dt.datetime
    seeds_dir: Path
    threads: int
    chunk_rows: int


@dataclass
class _BatchDone:
    outcomes: list[Outcome]
    quarantined: int
    results: list[tuple[Any, str, str]]
    error: str = ""


_worker_gx: list[_GX] = []


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initialiser: end this worker when the process that started it is gone.

    A `subjectdb build` killed during the raw suites otherwise leaves its workers behind,
    blocked on a result pipe nobody reads, each holding a chunk of a batch (seen: two 1.2 GB
    workers alive 90 minutes after their parent was killed)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_batch_task(task: _BatchTask, gxs: _GX | None = None) -> _BatchDone:
    """Validate one batch and write its quarantine file; GX results are returned, not stored."""
    from subjectdb.quality import expectations as custom

    custom.use_seeds(task.seeds_dir)
    if gxs is None:  # worker process: one ephemeral context per process
        if not _worker_gx:
            _worker_gx.append(_GX(None))
        gxs = _worker_gx[0]
    previous, gxs.collected = gxs.collected, []
    paths = Paths(task.root)
    sd = load_suite_def(task.batch.extract)
    suite = gxs.suite(sd.name, sd.row_level(), sd.meta)
    con = duckdb_connect(paths=paths, threads=task.threads)
    try:
        outcomes, qtable = _validate_batch(
            gxs,
            sd,
            suite,
            task.batch,
            task.n_rows,
            task.row_range,
            task.params,
            con,
            _run_identifier(task.run_name, task.now),
            task.now,
            task.chunk_rows,
        )
    except ValidationError as exc:
        return _BatchDone([], 0, [], str(exc))
    finally:
        con.close()
        collected, gxs.collected = gxs.collected, previous
    _write_parquet_atomic(qtable, _quarantine_path(paths, task.batch.extract, task.batch.batch_id))
    return _BatchDone(outcomes, qtable.num_rows, collected or [])


CUSTOM_EXPECTATIONS_FILE = Path(__file__).with_name("expectations.py")


def _current_seeds_dir() -> Path:
    """The seeds folder the custom expectations check against, without importing GX.

    ``subjectdb.quality.expectations`` (which imports GX, several seconds) is only imported when a
    batch is really validated; until then the seeds folder is the project default.
    """
    mod = sys.modules.get("subjectdb.quality.expectations")
    return Path(mod.seeds_dir()) if mod is not None else SEEDS_DIR.resolve()


REFERENCE_SEEDS = ("ref_regions.csv", "ref_region_code_changes.csv", "ref_service_items.csv")
"""Seeds read by the custom expectations (``subjectdb.quality.expectations.reference``)."""


def _suite_fingerprint(extract: str, params: dict[str, Any]) -> str:
    """sha256 of everything a raw suite's result depends on besides the batch itself.

    The suite JSON, the seed-derived value sets, the seeds of the custom expectations, the
    custom expectations' code and ``STATE_VERSION``.
    """
    h = hashlib.sha256(f"v{STATE_VERSION}".encode())
    h.update((SUITES_DIR / f"raw_{extract}.json").read_bytes())
    h.update(json.dumps(_jsonable(params), sort_keys=True, ensure_ascii=False).encode())
    for name in REFERENCE_SEEDS:
        path = _current_seeds_dir() / name
        h.update(name.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    h.update(CUSTOM_EXPECTATIONS_FILE.read_bytes())
    return h.hexdigest()


def _batch_fingerprint(
    batch: LandedBatch, suite_fp: str, row_range: tuple[int, int | None, str]
) -> str:
    """Landing files (name, size, mtime) + suite fingerprint + the usual row-count range."""
    parts: list[Any] = [suite_fp, list(row_range)]
    for f in batch.files:
        st = f.stat()
        parts.append([f.name, st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _state_path(paths: Paths) -> Path:
    return paths.validation / "raw_suite_state.json"


def _load_state(paths: Paths) -> dict[str, Any]:
    path = _state_path(paths)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return {}
    batches = state.get("batches")
    return batches if isinstance(batches, dict) else {}


def _save_state(paths: Paths, batches: dict[str, Any]) -> None:
    path = _state_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(
        json.dumps({"version": STATE_VERSION, "batches": batches}, ensure_ascii=False),
        encoding="utf-8",
    )
    os.replace(tmp, path)


def _reusable(paths: Paths, entry: Any, batch: LandedBatch, fingerprint: str) -> bool:
    """The batch's last successful validation still holds (same inputs, quarantine intact)."""
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
        return False
    qfile = _quarantine_path(paths, batch.extract, batch.batch_id)
    try:
        return bool(pq.read_metadata(qfile).num_rows == entry.get("quarantined"))
    except (OSError, pa.ArrowException):
        return False


def run_raw_suites(
    paths: Paths,
    show_progress: bool = False,
    *,
    workers: int | None = None,
    force: bool = False,
    _gx: _GX | None = None,
    _run: tuple[str, dt.datetime] | None = None,
    _docs: bool = True,
) -> SuiteReport:
    """Validate the landed batches of every extract; quarantine rows failing a standard.

    Incremental: a batch whose landing files, suite definition (suite JSON, seeds, custom
    expectations) and usual row-count range are unchanged since its last successful
    validation, and whose quarantine file is intact, is not re-checked; its earlier outcomes
    are reported again (note "unchanged since run …") so the report and the results table
    still cover every batch. ``force=True`` re-checks every batch (``subjectdb validate``).
    State: ``validation/raw_suite_state.json``.

    ``workers``: processes validating batches in parallel; by default ``WORKERS`` when the
    batches to check hold at least ``PARALLEL_MIN_ROWS`` rows (a worker pays ~3 s to import
    GX), else 1 (in this process).
    """
    run_name, now = _run or _new_run("raw")
    report = SuiteReport(run_id=run_name, run_time=now)
    batches = landed_batches(paths)
    if not batches:
        report.errors.append(f"no landed batch under {paths.landing}: run `subjectdb load` first")
        return report
    params = suite_parameters()
    suite_fps = {e: _suite_fingerprint(e, params) for e in sorted({b.extract for b in batches})}
    with duckdb_connect(paths=paths) as con:
        counts = {
            (b.extract, b.batch_id): int(
                con.execute(
                    f"SELECT count(*) FROM read_parquet('{b.glob}', union_by_name = true)"
                ).fetchone()[0]  # type: ignore[index]
            )
            for b in batches
        }
    state = {} if force else _load_state(paths)
    new_state: dict[str, Any] = {}
    reused: dict[tuple[str, str], dict[str, Any]] = {}
    tasks = []
    fingerprints: dict[tuple[str, str], str] = {}
    for b in batches:
        ext_batches = sorted(x.batch_id for x in batches if x.extract == b.extract)
        ext_counts = {x: counts[(b.extract, x)] for x in ext_batches}
        row_range = _row_count_range(ext_counts, ext_batches, b.batch_id)
        key = f"{b.extract}/{b.batch_id}"
        fp = _batch_fingerprint(b, suite_fps[b.extract], row_range)
        fingerprints[(b.extract, b.batch_id)] = fp
        if _reusable(paths, state.get(key), b, fp):
            reused[(b.extract, b.batch_id)] = state[key]
            new_state[key] = state[key]
            continue
        tasks.append(
            _BatchTask(
                paths.root,
                b,
                counts[(b.extract, b.batch_id)],
                row_range,
                params,
                run_name,
                now,
                _current_seeds_dir(),
                threads=2,
                chunk_rows=CHUNK_ROWS,
            )
        )
    total = sum(t.n_rows for t in tasks)
    if workers is None:
        workers = WORKERS if total >= PARALLEL_MIN_ROWS else 1
    workers = max(1, min(workers, len(tasks) or 1))
    if workers > 1:
        tasks = [dataclasses.replace(t, threads=1) for t in tasks]
    gxs = _gx
    if tasks:
        from subjectdb.quality import expectations as custom  # GX is imported only when needed

        custom.reference()  # fail early and clearly when a seed is missing
        if gxs is None:
            gxs = _GX(paths)
    if tasks and gxs is not None:
        for extract in sorted({t.batch.extract for t in tasks}):
            sd = load_suite_def(extract)
            gxs.suite(sd.name, sd.row_level(), sd.meta)  # for Data Docs
    # largest first, so two workers finish together
    tasks.sort(key=lambda t: -t.n_rows)
    progress = _progress(show_progress, len(tasks), "raw suites")
    done: list[_BatchDone] = []
    if workers == 1:
        for t in tasks:
            done.append(_run_batch_task(t, gxs))
            progress(f"{t.batch.extract} {t.batch.batch_id}")
    else:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=exit_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = {pool.submit(_run_batch_task, t): t for t in tasks}
            results = {}
            for fut in concurrent.futures.as_completed(futures):
                t = futures[fut]
                results[id(t)] = fut.result()
                progress(f"{t.batch.extract} {t.batch.batch_id}")
            done = [results[id(t)] for t in tasks]
    by_batch = {(t.batch.extract, t.batch.batch_id): d for t, d in zip(tasks, done, strict=True)}
    run_id = _run_identifier(run_name, now) if tasks else None
    for b in batches:
        key = (b.extract, b.batch_id)
        if key in reused:
            entry = reused[key]
            since = f"unchanged since run {entry.get('run_id')}: not re-checked"
            for o in entry.get("outcomes", []):
                out = Outcome(**o)
                out.note = f"{out.note}; {since}" if out.note else since
                report.outcomes.append(out)
            report.quarantined_rows += int(entry.get("quarantined", 0))
            continue
        d = by_batch[key]
        if d.error:
            report.errors.append(d.error)
            continue
        report.outcomes.extend(d.outcomes)
        report.quarantined_rows += d.quarantined
        new_state[f"{b.extract}/{b.batch_id}"] = {
            "fingerprint": fingerprints[key],
            "run_id": run_name,
            "quarantined": d.quarantined,
            "outcomes": [_jsonable(dataclasses.asdict(o)) for o in d.outcomes],
        }
        assert gxs is not None
        for result, suite_name, ident in d.results:
            gxs.store(result, suite_name, ident, run_id)
    _drop_stale_quarantine(paths, batches)
    _save_state(paths, new_state)
    _append_results(paths, report, target=str(paths.landing))
    if _docs and gxs is not None:
        gxs.build_docs()
    return report


def _drop_stale_quarantine(paths: Paths, batches: list[LandedBatch]) -> None:
    """Remove raw-suite quarantine partitions whose landing batch no longer exists."""
    live = {(b.extract, b.batch_id) for b in batches}
    for extract in EXTRACTS:
        root = paths.suite_quarantine / extract
        if not root.is_dir():
            continue
        for part in root.glob("batch=*"):
            if (extract, part.name.split("=", 1)[1]) not in live:
                for f in part.glob("*"):
                    f.unlink()
                part.rmdir()


def _new_run(prefix: str) -> tuple[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return f"{prefix}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", now


def _progress(show: bool, total: int, label: str) -> Callable[[str], None]:
    if not show:
        return lambda _msg: None
    from rich.console import Console

    console = Console(stderr=True)
    done = [0]

    def step(msg: str) -> None:
        done[0] += 1
        console.print(f"[dim]{label} {done[0]}/{total}[/] {msg}")

    return step


def _append_results(paths: Paths, report: SuiteReport, target: str) -> None:
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
            "examples": json.dumps(_jsonable(o.examples), ensure_ascii=False),
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
    _write_parquet_atomic(new, target_file)


# --------------------------------------------------------------------------------------------
# Publication gates
# --------------------------------------------------------------------------------------------


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


def _record_batches(
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


def _not_checked(stage: str, suite: str, label: str, expectation: str, note: str) -> Outcome:
    return Outcome(stage, suite, label, expectation, "", "critical", None, note=note)


def _failed(stage: str, suite: str, label: str, expectation: str, note: str) -> Outcome:
    return Outcome(stage, suite, label, expectation, "", "critical", False, note=note)


def _latest_release(paths: Paths) -> Path | None:
    """The release named by ``opendata/latest.json``, else the newest release folder."""
    pointer = paths.opendata / "latest.json"
    if pointer.is_file():
        with contextlib.suppress(json.JSONDecodeError, KeyError, OSError):
            folder = paths.opendata / json.loads(pointer.read_text(encoding="utf-8"))["path"]
            if folder.is_dir():
                return folder
    if not paths.releases.is_dir():
        return None
    releases = [p for p in paths.releases.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return max(releases, key=lambda p: p.stat().st_mtime) if releases else None


def _withheld_columns() -> dict[str, dict[str, str]]:
    """Per published table: value column → the status column that withholds it.

    Taken from ``subjectdb.release.publish.WITHHELD`` (the publisher's own rule) when available; the
    gate then checks the release against it. Without it, ``X_status`` governs ``X``.
    """
    try:
        import subjectdb.release as publish
    except ImportError:
        return {}
    rules = getattr(publish, "WITHHELD", {})
    return {str(k): dict(v) for k, v in rules.items()}


def reference_labels(seeds_dir: Path = SEEDS_DIR) -> set[str]:
    """Every Chinese label of the reference seeds (names of regions, industries, items …).

    Published tables carry these next to their codes; the personal-name pattern must not
    flag them (金融业 starts like a surname + given name).
    """
    labels: set[str] = set()
    for path in sorted(seeds_dir.glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in df.columns:
            if col.endswith(("_zh", "_name")) or col in ("department", "holiday_name"):
                labels.update(v for v in df[col] if v)
    return labels


class _Gates:
    """Runs the gate suites of one warehouse file (attached read-only) and one release."""

    def __init__(
        self,
        gxs: _GX,
        con: duckdb.DuckDBPyConnection,
        cfg: dict[str, Any],
        run_id: Any,
        now: dt.datetime,
    ) -> None:
        self.gxs, self.con, self.cfg, self.run_id, self.now = gxs, con, cfg, run_id, now
        self.patterns: dict[str, str] = cfg["pii"]["patterns"]

    def _check(
        self,
        suite_name: str,
        label: str,
        entries: list[dict[str, Any]],
        frames: Iterator[pd.DataFrame],
        markers: dict[str, Any],
    ) -> list[Outcome]:
        if not entries:
            return []
        suite = self.gxs.sync_suite(_gx_suite(suite_name, entries, {}))
        accs, template = _validate_frames(
            self.gxs, suite_name, suite, entries, frames, {}, on_unexpected=None
        )
        return _outcomes_and_store(
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
                _failed(
                    "gate", suite, "warehouse", "tables_exist", f"missing: {', '.join(missing)}"
                )
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
        outcomes = self._check(suite, "warehouse", entries, iter([frame]), {"target": "marts"})
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
                    _failed(
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
        used = sorted({c for e in entries for c in _columns_of(e["kwargs"])})
        outcomes: list[Outcome] = []
        if entries:
            cols = ", ".join(f'"{c}"' for c in used)
            outcomes += self._check(
                "gate_subject_tables",
                table,
                entries,
                _record_batches(self.con, f'SELECT {cols} FROM wh.marts."{table}"', used),
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

        suite_obj = self.gxs.sync_suite(_gx_suite(suite, entries, {}))
        accs, template = _validate_frames(
            self.gxs,
            suite,
            suite_obj,
            entries,
            _record_batches(self.con, sql, ["column_name", "value"]),
            {},
            collect,
        )
        outcomes = _outcomes_and_store(
            self.gxs,
            stage="gate",
            suite_name=suite,
            label=label,
            entries=entries,
            accs=accs,
            template=template,
            mostly_default=None,
            extra=[],
            markers={"target": label, "text_columns": ", ".join(text_cols)},
            run_id=self.run_id,
            now=self.now,
        )
        for o, entry in zip(outcomes, entries, strict=True):
            bad = sorted(hits[entry["meta"]["note"]])
            o.column = ",".join(bad) if bad else f"{len(text_cols)} text columns"
        return outcomes

    def release(self, paths: Paths) -> list[Outcome]:
        """The latest open-data release: personal data and disclosure control."""
        suite = "gate_open_data"
        latest = _latest_release(paths)
        if latest is None:
            return [_not_checked("gate", suite, "release", "release_exists", "no release to check")]
        files = sorted(latest.rglob("*.parquet")) or sorted(
            f for f in latest.rglob("*.csv") if "excel" not in f.parts
        )
        if not files:
            return [_failed("gate", suite, latest.name, "release_tables_exist", "no table files")]
        threshold = self._release_threshold(latest)
        withheld = _withheld_columns()
        outcomes: list[Outcome] = []
        for f in files:
            label = f"{latest.name}/{f.relative_to(latest)}"
            if f.suffix == ".parquet":
                src = f"read_parquet('{f}')"
            else:
                src = f"read_csv('{f}', all_varchar = true, header = true)"
            desc = self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
            cols = {r[0]: str(r[1]) for r in desc}
            text_cols = [c for c, ty in cols.items() if ty.upper().startswith("VARCHAR")]
            outcomes += self.pii(suite, label, text_cols, lambda _c, src=src: src)
            statuses = [c for c in cols if c == "status" or c.endswith("_status")]
            statuses += [c for c in cols if self.cfg["release"]["status_column_hint"] in c.lower()]
            if not statuses:
                outcomes.append(
                    _failed(
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
                    "kwargs": {"column": st, "value_set": list(_DISCLOSURE_STATUSES)},
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
            checked = self._check(
                suite,
                label,
                entries,
                _record_batches(self.con, f"SELECT {', '.join(select)} FROM {src}", names),
                {"target": str(f), "threshold": threshold},
            )
            for o, e in zip(checked, entries, strict=True):
                if "label" in e["meta"]:
                    o.column = e["meta"]["label"]
            outcomes += checked
        return outcomes

    def _release_threshold(self, release: Path) -> int:
        default = int(self.cfg["release"]["default_threshold"])
        meta = release / "datapackage.json"
        if not meta.exists():
            return default
        with contextlib.suppress(json.JSONDecodeError, OSError):
            text = meta.read_text(encoding="utf-8")
            m = re.search(r'"(?:disclosure_)?threshold"\s*:\s*(\d+)', text)
            if m:
                return int(m.group(1))
        return default


def run_gates(
    paths: Paths,
    warehouse: Path,
    show_progress: bool = False,
    *,
    _gx: _GX | None = None,
    _run: tuple[str, dt.datetime] | None = None,
    _docs: bool = True,
) -> SuiteReport:
    """Publication gates on a built warehouse file (attached READ_ONLY) and the latest release."""
    run_name, now = _run or _new_run("gates")
    report = SuiteReport(run_id=run_name, run_time=now)
    warehouse = Path(warehouse)
    if not warehouse.exists():
        report.errors.append(f"no warehouse at {warehouse}: run `subjectdb build` first")
        _append_results(paths, report, target=str(warehouse))
        return report
    cfg = load_gates_config()
    gxs = _gx or _GX(paths)
    con = duckdb_connect(paths=paths, threads=2)
    try:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        labels = pa.table({"label": sorted(reference_labels())})
        con.register("ref_labels", labels)
        gates = _Gates(gxs, con, cfg, _run_identifier(run_name, now), now)
        steps: list[tuple[str, Callable[[], list[Outcome]]]] = [
            ("reconciliation", gates.reconciliation)
        ]
        subj = {t: c for t, c in gates.tables("marts").items() if t.startswith("subj_")}
        for t in cfg["bounds"]:
            if t not in subj:
                report.outcomes.append(
                    _failed("gate", "gate_subject_tables", t, "table_exists", f"marts.{t} missing")
                )
        for t, cols in sorted(subj.items()):
            steps.append((t, lambda t=t, cols=cols: gates.subject_table(t, cols)))
        steps.append(("open data", lambda: gates.release(paths)))
        progress = _progress(show_progress, len(steps), "gates")
        for name, step in steps:
            try:
                report.outcomes.extend(step())
            except (duckdb.Error, ValidationError) as exc:
                report.errors.append(f"gate {name}: {exc}")
            progress(name)
    finally:
        con.close()
    _append_results(paths, report, target=str(warehouse))
    if _docs:
        gxs.build_docs()
    return report


def check_open_data(paths: Paths) -> SuiteReport:
    """Only the open-data gate, on the latest release (e.g. right after ``subjectdb publish``)."""
    run_name, now = _new_run("opendata")
    report = SuiteReport(run_id=run_name, run_time=now)
    cfg = load_gates_config()
    gxs = _GX(paths)
    with duckdb_connect(paths=paths) as con:
        con.register("ref_labels", pa.table({"label": sorted(reference_labels())}))
        gates = _Gates(gxs, con, cfg, _run_identifier(run_name, now), now)
        try:
            report.outcomes.extend(gates.release(paths))
        except (duckdb.Error, ValidationError) as exc:
            report.errors.append(f"gate open data: {exc}")
    _append_results(paths, report, target=str(paths.releases))
    gxs.build_docs()
    return report


def validate_all(paths: Paths, show_progress: bool = False) -> SuiteReport:
    """Raw suites on the landing zone, then gates on ``data/warehouse.duckdb`` (one Data Docs)."""
    run = _new_run("validate")
    gxs = _GX(paths)
    report = run_raw_suites(paths, show_progress, force=True, _gx=gxs, _run=run, _docs=False)
    report.extend(run_gates(paths, paths.warehouse, show_progress, _gx=gxs, _run=run, _docs=False))
    gxs.build_docs()
    return report
