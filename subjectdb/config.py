"""Where subjectdb keeps its working data, and the keyed-hash secret.

Every path the modules use comes from :class:`Paths`, so one folder (``data/`` by default,
``SUBJECTDB_DATA`` or ``--data-dir`` otherwise) holds the whole working state.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The repository root: where ``dbt_project.yml``, ``seeds/`` and ``dashboards/`` live."""

SEEDS_DIR = PROJECT_DIR / "seeds"
EXTRACTS = ("cases", "persons", "enterprises")
HMAC_ENV = "SUBJECTDB_HMAC_KEY"


@dataclass(frozen=True)
class Paths:
    """Every working path under one data folder."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def load_quarantine(self) -> Path:
        return self.quarantine / "load"

    @property
    def suite_quarantine(self) -> Path:
        return self.quarantine / "raw_suites"

    @property
    def reconciliation(self) -> Path:
        return self.root / "reconciliation.parquet"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def validation(self) -> Path:
        return self.root / "validation"

    @property
    def data_docs(self) -> Path:
        return self.validation / "docs"

    @property
    def opendata(self) -> Path:
        return self.root / "opendata"

    @property
    def releases(self) -> Path:
        return self.opendata / "releases"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit" / "access.jsonl"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def landing_partition(self, extract: str, batch_id: str) -> Path:
        return self.landing / extract / f"batch={batch_id}"

    def ensure(self) -> Paths:
        for p in (self.root, self.landing, self.quarantine, self.build_dir, self.validation):
            p.mkdir(parents=True, exist_ok=True)
        return self


def get_paths(data_dir: str | Path | None = None) -> Paths:
    """The data folder: the argument, else ``$SUBJECTDB_DATA``, else ``./data``."""
    chosen = data_dir or os.environ.get("SUBJECTDB_DATA") or "data"
    return Paths(Path(chosen).resolve())


def hmac_key(paths: Paths) -> str:
    """The HMAC key for pseudonymising IDs.

    Taken from ``$SUBJECTDB_HMAC_KEY`` when set (production: injected by the platform's secret
    store). Otherwise a random local key is generated once under ``data/secrets/`` (demo and
    tests); it is never part of the repository.
    """
    env = os.environ.get(HMAC_ENV)
    if env:
        return env
    key_file = paths.secrets / "hmac.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


MEMORY_ENV = "SUBJECTDB_DUCKDB_MEMORY"
DEFAULT_DUCKDB_MEMORY = "6GB"
"""DuckDB's memory limit in every process (profiles.yml uses the same variable and default)."""


def duckdb_memory_limit() -> str:
    """DuckDB's ``memory_limit``: ``$SUBJECTDB_DUCKDB_MEMORY`` or 6 GB."""
    return os.environ.get(MEMORY_ENV) or DEFAULT_DUCKDB_MEMORY


def duckdb_connect(
    database: str | Path = ":memory:",
    *,
    paths: Paths | None = None,
    read_only: bool = False,
    threads: int | None = None,
    preserve_order: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection bounded like dbt's: memory limit and a spill folder.

    Every module opening DuckDB goes through here so that a 50 M-case run stays within the
    memory budget (DuckDB spills to ``data/build/duckdb_tmp`` instead of growing).
    ``preserve_order=False`` lets DuckDB drop insertion order (as dbt's profile does): less
    memory for large sorts and copies, for queries that order what they need explicitly.
    """
    config: dict[str, str | int | bool] = {
        "memory_limit": duckdb_memory_limit(),
        "preserve_insertion_order": preserve_order,
    }
    if threads is not None:
        config["threads"] = threads
    spill = (paths or get_paths()).build_dir / "duckdb_tmp"
    spill.mkdir(parents=True, exist_ok=True)
    config["temp_directory"] = str(spill)
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    con.execute("set enable_progress_bar = false")  # a CLI's log, not a terminal animation
    return con
