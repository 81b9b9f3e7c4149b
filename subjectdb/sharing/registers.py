"""The hashed registers in memory: what identifier verification answers from.

At 10 M cases the population register has ~6 M versions; a DuckDB join of a 10,000-identifier
batch against it costs seconds per request. Instead every API worker reads the two keyed-hash
registers of the served warehouse once (``int_verification__person_versions``,
``int_enterprises__versions``) into sorted NumPy arrays and answers a batch with
``searchsorted``: a few milliseconds for 10,000 identifiers.

**Layout.** One array element per register version, sorted by the key (the 32-byte HMAC
digest, ``unhex`` of the hex key the warehouse stores) and then by version number: the
versions of one key are adjacent. ``valid_from`` / ``valid_to`` are microseconds since
1970-01-01 (the warehouse's naive timestamps; NULL: unbounded); codes are small integers into
a list of the distinct codes (-1: NULL).

**The answers** (the rules of :mod:`subjectdb.sharing.verify`): ``registered`` if the key has
any version; the version valid at the moment asked is the one with ``valid_from <= moment <
valid_to`` (NULL bounds open) — versions of a key do not overlap by construction; if a damaged
register had overlapping versions, the latest of them answers.

**Following the swap.** :class:`RegisterCache` holds the registers of one served file; the
API's background thread notices a new file (its inode, size and mtime) and loads its registers
while the old ones keep answering; a request never loads them. Each answer names the build it
came from (``build_id``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)

NEG = np.iinfo(np.int64).min
POS = np.iinfo(np.int64).max
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DAY = dt.date(1970, 1, 1)

PERSON_MODEL = "int_verification__person_versions"
ENTERPRISE_MODEL = "int_enterprises__versions"

_PERSON_SQL = """
select unhex(person_key) as k,
    coalesce(epoch_us(valid_from), {neg}) as valid_from,
    coalesce(epoch_us(valid_to), {pos}) as valid_to,
    coalesce(status_code = 'resident', false) as flag,
    residence_region_code as code_a,
    cast(null as varchar) as code_b,
    cast(null as integer) as day_from,
    cast(null as integer) as day_to
from {db}.intermediate.{model}
where person_key is not null
order by person_key, version_number
"""

_ENTERPRISE_SQL = """
select unhex(enterprise_key) as k,
    coalesce(epoch_us(valid_from), {neg}) as valid_from,
    coalesce(epoch_us(valid_to), {pos}) as valid_to,
    coalesce(status_code = 'active', false) as flag,
    region_code as code_a,
    industry_section as code_b,
    coalesce(cast(established_date - date '1970-01-01' as integer), {neg32}) as day_from,
    coalesce(cast(closed_date - date '1970-01-01' as integer), {pos32}) as day_to
from {db}.intermediate.{model}
where enterprise_key is not null
order by enterprise_key, version_number
"""


def _codes(column: Any) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1: NULL) and the distinct values of a pyarrow string column."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column.combine_chunks())
    indices = encoded.indices.fill_null(-1) if encoded.indices.null_count else encoded.indices
    values = [str(v) for v in encoded.dictionary.to_pylist()]
    return indices.to_numpy(zero_copy_only=False).astype(np.int32), values


def _prefix(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each 32-byte key as an unsigned integer (big-endian: the order of
    the keys is kept)."""
    if not len(keys):
        return np.zeros(0, dtype=np.uint64)
    head = np.ascontiguousarray(keys.view(np.uint8).reshape(len(keys), 32)[:, :8])
    return head.view(">u8").ravel().astype(np.uint64)


@dataclass(frozen=True)
class Register:
    """One register's versions in key order (module docstring)."""

    keys: np.ndarray  # S32, sorted
    prefix: np.ndarray  # uint64: the keys' first 8 bytes, big-endian (sorted too)
    valid_from: np.ndarray  # int64 µs
    valid_to: np.ndarray  # int64 µs
    flag: np.ndarray  # bool: resident / active status
    code_a: np.ndarray  # int32 into codes_a: county / region
    codes_a: list[str]
    code_b: np.ndarray  # int32 into codes_b: industry section
    codes_b: list[str]
    day_from: np.ndarray  # int32 days: established (enterprises)
    day_to: np.ndarray  # int32 days: closed (enterprises)
    longest: int  # most versions of one key

    @classmethod
    def from_arrow(cls, table: Any) -> Register:
        import pyarrow as pa

        n = table.num_rows
        keys_col = table.column("k").combine_chunks().cast(pa.binary(32))
        buf = keys_col.buffers()[1]
        keys = np.frombuffer(buf, dtype="S32", count=n, offset=keys_col.offset * 32).copy()
        if n > 1 and not bool(np.all(keys[1:] >= keys[:-1])):  # defensive: sort here instead
            order = np.argsort(keys, kind="stable")
            table, keys = table.take(pa.array(order)), keys[order]

        def ints(name: str, dtype: Any, fill: int) -> np.ndarray:
            col = table.column(name).combine_chunks()
            if col.null_count:
                col = col.fill_null(fill)
            return col.to_numpy(zero_copy_only=False).astype(dtype)

        code_a, codes_a = _codes(table.column("code_a"))
        code_b, codes_b = _codes(table.column("code_b"))
        prefix = _prefix(keys)
        if n:  # the longest run of one prefix (the versions of a key, or keys sharing it)
            starts = np.flatnonzero(np.r_[True, prefix[1:] != prefix[:-1]])
            longest = int(np.diff(np.r_[starts, n]).max())
        else:
            longest = 0
        return cls(
            keys=keys,
            prefix=prefix,
            valid_from=ints("valid_from", np.int64, NEG),
            valid_to=ints("valid_to", np.int64, POS),
            flag=ints("flag", np.bool_, 0),
            code_a=code_a,
            codes_a=codes_a,
            code_b=code_b,
            codes_b=codes_b,
            day_from=ints("day_from", np.int32, np.iinfo(np.int32).min),
            day_to=ints("day_to", np.int32, np.iinfo(np.int32).max),
            longest=longest,
        )

    @property
    def nbytes(self) -> int:
        arrays = (self.keys, self.prefix, self.valid_from, self.valid_to, self.flag, self.code_a)
        return sum(a.nbytes for a in (*arrays, self.code_b, self.day_from, self.day_to))

    def lookup(
        self, digests: Sequence[bytes], moment: dt.datetime
    ) -> tuple[np.ndarray, np.ndarray]:
        """(registered, version index valid at ``moment`` or -1) for each digest.

        The search runs on the keys' first 8 bytes as integers (``prefix``: ~20x faster than on
        32-byte strings); the full key is then compared, so two keys sharing a prefix are told
        apart.
        """
        asked = np.array(digests, dtype="S32")
        wanted = _prefix(asked)
        lo = np.searchsorted(self.prefix, wanted, side="left")
        hi = np.searchsorted(self.prefix, wanted, side="right")
        at = (moment - _EPOCH) // dt.timedelta(microseconds=1)
        chosen = np.full(len(asked), -1, dtype=np.int64)
        found = np.zeros(len(asked), dtype=bool)
        last = max(len(self.keys) - 1, 0)
        for j in range(self.longest):
            idx = lo + j
            safe = np.minimum(idx, last)
            same = (idx < hi) & (self.keys[safe] == asked)
            found |= same
            ok = same & (self.valid_from[safe] <= at) & (self.valid_to[safe] > at)
            chosen = np.where(ok, idx, chosen)
        return found, chosen


def _code(values: list[str], code: int) -> str | None:
    return values[code] if code >= 0 else None


def answer_persons(
    reg: Register, digests: Sequence[bytes], on: dt.date, detail: bool
) -> list[dict[str, Any]]:
    """Resident-ID answers: registered, resident on ``on`` (end of day), county if ``detail``."""
    registered, version = reg.lookup(digests, dt.datetime.combine(on, dt.time(23, 59, 59)))
    has = version >= 0
    safe = np.where(has, version, 0)
    resident = has & reg.flag[safe] if len(reg.keys) else has
    out: list[dict[str, Any]] = []
    reg_list, res_list = registered.tolist(), resident.tolist()
    if not detail:
        return [
            {"index": i, "registered": r, "resident": s}
            for i, (r, s) in enumerate(zip(reg_list, res_list, strict=True))
        ]
    county = np.where(resident, reg.code_a[safe] if len(reg.keys) else -1, -1).tolist()
    for i, (r, s, c) in enumerate(zip(reg_list, res_list, county, strict=True)):
        out.append({"index": i, "registered": r, "resident": s, "county": _code(reg.codes_a, c)})
    return out


def answer_enterprises(
    reg: Register, digests: Sequence[bytes], on: dt.date, detail: bool
) -> list[dict[str, Any]]:
    """Credit-code answers: registered, active on ``on`` (status active, established on or
    before it, not closed on or before it), region and industry section if ``detail``."""
    registered, version = reg.lookup(digests, dt.datetime.combine(on, dt.time(23, 59, 59)))
    has = version >= 0
    safe = np.where(has, version, 0)
    day = (on - _EPOCH_DAY).days
    if len(reg.keys):
        active = has & reg.flag[safe] & (reg.day_from[safe] <= day) & (reg.day_to[safe] > day)
    else:
        active = has
    reg_list, act_list = registered.tolist(), active.tolist()
    if not detail:
        return [
            {"index": i, "registered": r, "active": a}
            for i, (r, a) in enumerate(zip(reg_list, act_list, strict=True))
        ]
    empty = np.full(len(has), -1)
    region = np.where(has, reg.code_a[safe], -1).tolist() if len(reg.keys) else empty.tolist()
    section = np.where(has, reg.code_b[safe], -1).tolist() if len(reg.keys) else empty.tolist()
    return [
        {
            "index": i,
            "registered": r,
            "active": a,
            "region": _code(reg.codes_a, g),
            "industry_section": _code(reg.codes_b, s),
        }
        for i, (r, a, g, s) in enumerate(zip(reg_list, act_list, region, section, strict=True))
    ]


@dataclass(frozen=True)
class Registers:
    """Both registers of one served warehouse file."""

    file_id: str
    build_id: str | None
    persons: Register
    enterprises: Register
    seconds: float

    def answer(
        self, kind: str, digests: Sequence[bytes], on: dt.date, detail: bool
    ) -> list[dict[str, Any]]:
        if kind == "resident_id":
            return answer_persons(self.persons, digests, on, detail)
        if kind == "credit_code":
            return answer_enterprises(self.enterprises, digests, on, detail)
        raise ValueError(f"unknown identifier kind {kind!r}")


def file_id(path: Path) -> str:
    """The identity of a warehouse file (as :class:`subjectdb.serving.Warehouse` keys it)."""
    st = path.stat()
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def load_registers(path: Path, db: str = "wh") -> Registers:
    """Read both registers of the warehouse file at ``path`` (read-only)."""
    import duckdb

    from subjectdb.config import duckdb_memory_limit
    from subjectdb.serving.connection import lock_down

    started = time.perf_counter()
    ident = file_id(path)
    con = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": duckdb_memory_limit()})
    try:
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {db} (READ_ONLY)")
        con.execute("set enable_progress_bar = false")
        lock_down(con)
        fill = {
            "db": db,
            "neg": NEG,
            "pos": POS,
            "neg32": np.iinfo(np.int32).min,
            "pos32": np.iinfo(np.int32).max,
        }
        persons = con.sql(_PERSON_SQL.format(model=PERSON_MODEL, **fill)).to_arrow_table()
        firms = con.sql(_ENTERPRISE_SQL.format(model=ENTERPRISE_MODEL, **fill)).to_arrow_table()
        build = None
        with contextlib.suppress(duckdb.Error):
            row = con.execute(
                f"select build_id from {db}.main.build_info order by built_at desc limit 1"
            ).fetchone()
            build = str(row[0]) if row else None
    finally:
        con.close()
    return Registers(
        file_id=ident,
        build_id=build,
        persons=Register.from_arrow(persons),
        enterprises=Register.from_arrow(firms),
        seconds=round(time.perf_counter() - started, 2),
    )


class RegisterCache:
    """The registers of the served file; :meth:`refresh` loads them when the file changed.

    The API's watcher thread calls :meth:`refresh` (once before serving, then every second):
    the new registers replace the old ones in one assignment once loaded, and until then the
    old ones answer. :meth:`get` never loads: it returns the registers in hand (None before
    the first load succeeded).
    """

    def __init__(self, path: Path, loader: Callable[[Path], Registers] = load_registers) -> None:
        self.path, self.loader = path, loader
        self._current: Registers | None = None
        self.loads = 0

    def get(self) -> Registers | None:
        return self._current

    def refresh(self) -> bool:
        """Load the registers if the served file changed; True when new ones were loaded."""
        try:
            ident = file_id(self.path)
        except FileNotFoundError:
            return False
        current = self._current
        if current is not None and current.file_id == ident:
            return False
        registers = self.loader(self.path)
        self._current = registers
        self.loads += 1
        LOG.info(
            "registers of build %s loaded in %.1f s (%d person, %d enterprise versions)",
            registers.build_id,
            registers.seconds,
            len(registers.persons.keys),
            len(registers.enterprises.keys),
        )
        return True
