"""The HMAC key's one way into SQL: two functions registered on the database connection.

Personal identifiers are pseudonymised in the staging models by HMAC-SHA256 (RFC 2104),
``sha256(opad || sha256(ipad || m))``, where ``ipad`` / ``opad`` are the key padded to the
64-byte block and XOR-ed with 0x36 / 0x5c. The ``keyed_hash`` macro compiles to

    sha256(subjectdb_hmac_opad() || unhex(sha256(subjectdb_hmac_ipad() || encode(m))))

and the two zero-argument functions are registered on dbt's DuckDB connection by the
dbt-duckdb plugin :mod:`subjectdb.warehouse.dbt_plugin` (``profiles.yml``). They read the pads
from dbt's environment (:data:`IPAD_ENV`, :data:`OPAD_ENV`, set by ``subjectdb build`` from
``$SUBJECTDB_HMAC_KEY``) when a query runs, so no compiled SQL, manifest, run result or log
ever holds key material. DuckDB folds a call without arguments to a constant once per query,
so the hash still runs as native vectorised ``sha256`` (no Python per row).

The key itself never reaches dbt (only the pads do, and only in its process environment).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

HMAC_BLOCK = 64  # SHA-256 block size in bytes
IPAD_ENV = "SUBJECTDB_HMAC_IPAD"
OPAD_ENV = "SUBJECTDB_HMAC_OPAD"
IPAD_FUNCTION = "subjectdb_hmac_ipad"
OPAD_FUNCTION = "subjectdb_hmac_opad"


class KeyMaterialError(RuntimeError):
    """The pads are missing or malformed in the environment of the process hashing."""


def hmac_pads(key: str | bytes) -> tuple[str, str]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104), as 128-char hex strings."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if not raw:
        raise ValueError("the HMAC key is empty")
    if len(raw) > HMAC_BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(HMAC_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in raw).hex()
    opad = bytes(b ^ 0x5C for b in raw).hex()
    return ipad, opad


def pad_from_env(name: str) -> bytes:
    """One pad (64 bytes) from the environment; a clear error, naming no value, otherwise."""
    value = os.environ.get(name, "").strip().lower()
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != HMAC_BLOCK:
        raise KeyMaterialError(
            f"keyed_hash: ${name} must hold a 64-byte HMAC pad as 128 hex characters "
            f"(got {len(value)} characters). Run dbt through `subjectdb build` (or "
            "`python -m subjectdb.warehouse.dbt_runner`), which sets it from $SUBJECTDB_HMAC_KEY."
        )
    return raw


def register_hmac_functions(conn: Any) -> None:
    """Register ``subjectdb_hmac_ipad()`` / ``subjectdb_hmac_opad()`` (BLOB) on a DuckDB
    connection; cursors of the connection see them too. The pads are read at each call."""
    from duckdb.sqltypes import BLOB

    def ipad() -> bytes:
        return pad_from_env(IPAD_ENV)

    def opad() -> bytes:
        return pad_from_env(OPAD_ENV)

    conn.create_function(IPAD_FUNCTION, ipad, [], BLOB)
    conn.create_function(OPAD_FUNCTION, opad, [], BLOB)
