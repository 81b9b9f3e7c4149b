"""``subjectdb rotate-key``: re-key the warehouse with a new HMAC key.

**How the steward supplies the new key.** The current key is where every command finds it:
``$SUBJECTDB_HMAC_KEY`` (production: injected from the platform's secret store) or, when that
is unset, ``data/secrets/hmac.key`` (demo, tests). The new key comes from
``$SUBJECTDB_HMAC_NEW_KEY``:

* production: store the new key in the secret store, then run once with both keys,
  ``SUBJECTDB_HMAC_KEY=<current> SUBJECTDB_HMAC_NEW_KEY=<new> subjectdb rotate-key``; when it
  reports the new warehouse served, make ``SUBJECTDB_HMAC_KEY`` the new key for every later
  command and retire the old one (a build with the old key is then refused, not mixed in);
* local key file: ``subjectdb rotate-key`` draws a new random key (or takes
  ``$SUBJECTDB_HMAC_NEW_KEY``) and replaces ``data/secrets/hmac.key`` once the new warehouse is
  served (written first as ``hmac.key.new``, so an interrupted rotation is settled by the next
  build: the file that matches the served warehouse wins).

**What it does.** It checks that the current key is the one the served warehouse was built with
(its ``key_fingerprint``), then runs a full build (raw suites, ``dbt build --full-refresh`` with
the new key, gates, atomic swap) into a *new, empty* file that holds only what a full refresh
cannot rebuild: the snapshot history ``snapshots.snap_enterprises``, re-keyed (every
``enterprise_key`` mapped from its old to its new HMAC through the landed credit codes, and
``dbt_scd_id`` recomputed as dbt computes it), and the build history ``main.build_info``.
Starting empty means no page of the old file, so no pseudonym under the old key, survives in
the new one. Failed build copies (old pseudonyms) are removed. The re-keying runs in this
process with the pads as bound parameters: no SQL holding key material is written anywhere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from subjectdb.config import HMAC_ENV, Paths, duckdb_connect, hmac_key
from subjectdb.files import write_text_atomic
from subjectdb.quality import GateStep
from subjectdb.warehouse.build import (
    NEW_KEY_FILE,
    BuildError,
    BuildResult,
    build,
    key_fingerprint,
    served_with,
    settle_key_file,
    stored_key_fingerprint,
)
from subjectdb.warehouse.keyed_hash import hmac_pads
from subjectdb.warehouse.scratch import require_data_folder

NEW_KEY_ENV = "SUBJECTDB_HMAC_NEW_KEY"
SNAPSHOT = ("snapshots", "snap_enterprises")
SNAPSHOT_KEY = "enterprise_key"
SCD_ID = (
    "md5(coalesce(cast({k} as varchar), '') || '|' || coalesce(cast(updated_at as varchar), ''))"
)
"""dbt's ``dbt_scd_id`` of a timestamp snapshot (``snapshot_hash_arguments`` of the unique key
and ``updated_at``); every stored row is checked against it before it is recomputed."""
CARRIED = (("main", "build_info"),)
"""Tables copied as they are into the re-keyed file (they hold no pseudonym)."""


class RotateError(BuildError):
    """The key cannot be rotated as asked (no warehouse, wrong current key, no new key…)."""


@dataclass
class Rotation:
    result: BuildResult
    snapshot_rows: int
    key_file: Path | None

    @property
    def ok(self) -> bool:
        return self.result.ok

    def summary(self) -> str:
        lines = [str(self.result.summary())]
        if self.ok:
            lines.append(f"  re-keyed {self.snapshot_rows:,} snapshot history rows")
            if self.key_file is not None:
                lines.append(f"  new key stored in {self.key_file}")
            else:
                lines.append(
                    f"  now make ${HMAC_ENV} the new key for every later command "
                    "(a build with the old key is refused)"
                )
        return "\n".join(lines)


def _new_key(paths: Paths) -> tuple[str, bool]:
    """The new key and whether it goes into the local key file."""
    given = os.environ.get(NEW_KEY_ENV, "").strip()
    from_file = not os.environ.get(HMAC_ENV)
    if given:
        return given, from_file
    if not from_file:
        raise RotateError(
            f"${HMAC_ENV} holds the current key: put the new key in ${NEW_KEY_ENV} "
            "(from your secret store) and run `subjectdb rotate-key` again"
        )
    return secrets.token_hex(32), True


def _hash_sql(column: str) -> str:
    """HMAC-SHA256 of ``column`` with the pads bound as parameters: opad, then ipad."""
    return f"sha256(?::blob || unhex(sha256(?::blob || encode({column}))))"


def rekeyed_start(paths: Paths, old_key: str, new_key: str, new_file: Path) -> int:
    """Write ``new_file``: an empty warehouse holding the served snapshot history re-keyed
    from ``old_key`` to ``new_key`` and the build history. Returns the snapshot rows."""
    old_ipad, old_opad = (bytes.fromhex(p) for p in hmac_pads(old_key))
    new_ipad, new_opad = (bytes.fromhex(p) for p in hmac_pads(new_key))
    schema, table = SNAPSHOT
    landed = (
        f"read_parquet('{paths.landing}/enterprises/*/*.parquet', "
        "hive_partitioning = false, union_by_name = true)"
    )
    new_file.unlink(missing_ok=True)
    Path(f"{new_file}.wal").unlink(missing_ok=True)
    with duckdb_connect(new_file, paths=paths) as con:
        con.execute(f"attach '{paths.warehouse}' as served (read_only)")
        tables = {
            (r[0], r[1])
            for r in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'served'"
            ).fetchall()
        }
        for carried_schema, carried_table in CARRIED:
            if (carried_schema, carried_table) in tables:
                name = f"{carried_schema}.{carried_table}"
                con.execute(f"create schema if not exists {carried_schema}")
                con.execute(f"create table {name} as select * from served.{name}")
        others = sorted(f"{s}.{t}" for s, t in tables if s == schema and t != table)
        if others:
            raise RotateError(f"cannot re-key snapshot tables {others}: only {schema}.{table}")
        if (schema, table) not in tables:
            con.execute("checkpoint")
            return 0
        con.execute(
            f"""
            create temp table keymap as
            select {_hash_sql("id")} as old_key, {_hash_sql("id")} as new_key
            from (
                select distinct upper(trim(credit_code)) as id from {landed}
                where credit_code is not null
            )
            """,
            [old_opad, old_ipad, new_opad, new_ipad],
        )
        unmapped, foreign = con.execute(
            f"""
            select
                count(*) filter (where m.old_key is null),
                count(*) filter (where s.dbt_scd_id <> {SCD_ID.format(k="s." + SNAPSHOT_KEY)})
            from served.{schema}.{table} as s
            left join keymap as m on m.old_key = s.{SNAPSHOT_KEY}
            """
        ).fetchone() or (0, 0)
        if unmapped or foreign:
            raise RotateError(
                f"{schema}.{table}: {unmapped} history rows have no landed credit code and "
                f"{foreign} an unexpected dbt_scd_id: they cannot be re-keyed (nothing changed)"
            )
        con.execute(f"create schema {schema}")
        con.execute(
            f"""
            create table {schema}.{table} as
            select s.* replace (
                m.new_key as {SNAPSHOT_KEY},
                {SCD_ID.format(k="m.new_key")} as dbt_scd_id
            )
            from served.{schema}.{table} as s
            join keymap as m on m.old_key = s.{SNAPSHOT_KEY}
            """
        )
        rows = con.execute(f"select count(*) from {schema}.{table}").fetchone()
        con.execute("drop table keymap")
        con.execute("detach served")
        con.execute("checkpoint")
    return int(rows[0]) if rows else 0


def rotate_key(
    paths: Paths, show_progress: bool = False, extra_gates: Sequence[GateStep] = ()
) -> Rotation:
    """Re-key the served warehouse with the new key (see module docs)."""
    require_data_folder(paths, warehouse=True)
    old_key = hmac_key(paths)
    stored = stored_key_fingerprint(paths.warehouse)
    if stored != key_fingerprint(paths, old_key):
        raise RotateError(
            "the current key ("
            + (f"${HMAC_ENV}" if os.environ.get(HMAC_ENV) else "the key file")
            + ") is not the one the served warehouse was built with: set it to the current key"
        )
    new_key, to_file = _new_key(paths)
    if key_fingerprint(paths, new_key) == stored:
        raise RotateError(f"the new key equals the current one: set ${NEW_KEY_ENV} to a new key")
    pending = paths.secrets / NEW_KEY_FILE
    if to_file:
        pending.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(pending, new_key)
        pending.chmod(0o600)
    rows: list[int] = []

    def prepare(new_file: Path) -> None:
        rows.append(rekeyed_start(paths, old_key, new_key, new_file))

    try:
        result = build(
            paths,
            full_refresh=True,
            show_progress=show_progress,
            keep=0,  # a failed copy would hold new pseudonyms nobody serves
            key=new_key,
            prepare=prepare,
            purpose="rotate-key",
            extra_gates=extra_gates,
        )
    finally:
        if to_file and not (paths.warehouse.is_file() and served_with(paths, new_key)):
            pending.unlink(missing_ok=True)
    key_file = None
    if result.ok and to_file:
        key_file = settle_key_file(paths)
    return Rotation(result, rows[0] if rows else 0, key_file)
