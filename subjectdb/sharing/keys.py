"""Department API keys, stored only as hashes (``data/sharing/keys.json``).

A key is ``sdb_<key id>_<secret>``: the key id (public, 12 hex digits) finds the record, the
SHA-256 of the whole key is compared in constant time. The key itself is printed once by
``subjectdb api-key create`` and never written anywhere. A key is high-entropy random (32 bytes),
so a plain SHA-256 is the right hash (no password stretching needed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from subjectdb.files import write_text_atomic

KEY_RE = re.compile(r"^sdb_([0-9a-f]{12})_([0-9A-Za-z_-]{43})$")
_LOCK = threading.Lock()


class KeyStoreError(ValueError):
    """A key operation the user can act on (unknown key id, empty department...)."""


@dataclass(frozen=True)
class ApiKey:
    """One department's key record (no secret: only its hash)."""

    key_id: str
    department: str
    key_sha256: str
    created: str
    purposes: tuple[str, ...] = ()
    revoked: str | None = None
    label: str = ""

    @property
    def active(self) -> bool:
        return self.revoked is None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class KeyStore:
    """The key records of one data folder; every change rewrites the file atomically."""

    path: Path
    _cache: tuple[float, dict[str, ApiKey]] | None = field(default=None, init=False, repr=False)

    def _read(self) -> dict[str, ApiKey]:
        if not self.path.is_file():
            return {}
        mtime = self.path.stat().st_mtime_ns
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        data = json.loads(self.path.read_text(encoding="utf-8"))
        keys = {
            k["key_id"]: ApiKey(**{**k, "purposes": tuple(k.get("purposes") or ())})
            for k in data.get("keys", [])
        }
        self._cache = (mtime, keys)
        return keys

    def _write(self, keys: dict[str, ApiKey]) -> None:
        records = [{**asdict(k), "purposes": list(k.purposes)} for k in keys.values()]
        text = json.dumps({"keys": records}, ensure_ascii=False, indent=2) + "\n"
        write_text_atomic(self.path, text)
        self.path.chmod(0o600)

    def list(self) -> list[ApiKey]:
        return sorted(self._read().values(), key=lambda k: k.created)

    def create(
        self, department: str, purposes: tuple[str, ...] = (), label: str = ""
    ) -> tuple[str, ApiKey]:
        """A new key for ``department``: returns (the key, printed once; its stored record)."""
        department = department.strip()
        if not department:
            raise KeyStoreError("a key needs a department")
        with _LOCK:
            keys = dict(self._read())
            key_id = secrets.token_hex(6)
            while key_id in keys:
                key_id = secrets.token_hex(6)
            key = f"sdb_{key_id}_{secrets.token_urlsafe(32)}"
            record = ApiKey(
                key_id=key_id,
                department=department,
                key_sha256=_digest(key),
                created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                purposes=tuple(p.strip() for p in purposes if p.strip()),
                label=label,
            )
            keys[key_id] = record
            self._write(keys)
        return key, record

    def revoke(self, key_id: str) -> ApiKey:
        with _LOCK:
            keys = dict(self._read())
            if key_id not in keys:
                raise KeyStoreError(f"no key with id {key_id}")
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            keys[key_id] = record = ApiKey(**{**asdict(keys[key_id]), "revoked": now})
            self._write(keys)
        return record

    def authenticate(self, key: str | None) -> ApiKey | None:
        """The active record of ``key``, or None (unknown, malformed, revoked, wrong secret)."""
        if not key:
            return None
        m = KEY_RE.match(key.strip())
        if m is None:
            return None
        record = self._read().get(m.group(1))
        if record is None or not record.active:
            return None
        if not hmac.compare_digest(record.key_sha256, _digest(key.strip())):
            return None
        return record
