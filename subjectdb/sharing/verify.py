"""Identifier verification (交互核验) against the hashed registers: yes/no answers only.

A department submits identifiers it already holds — resident IDs (GB 11643) or unified social
credit codes (GB 32100). Each is normalised as the loader and staging normalise it (Unicode
NFKC, which turns full-width digits and letters into ASCII; trimmed; upper case: staging hashes
``upper(trim(id))``) and hashed with the warehouse's HMAC key exactly as ``macros/keyed_hash.sql``
does (HMAC-SHA256), then looked up in the keyed-hash registers of the served warehouse
(``int_verification__person_versions``, ``int_enterprises__versions``), which every API worker
holds in memory (:mod:`subjectdb.sharing.registers`). The raw identifiers stay in memory for
the request; answers carry the caller's own index.

Answers: a resident ID is ``registered`` and ``resident`` on the date (the register version
valid on that date says resident), plus its ``county`` when the department is granted detail;
a credit code is ``registered`` and ``active`` on the date (version valid then is active, not
closed on or before the date, established on or before it), plus ``region`` and
``industry_section`` when granted. A version is valid from its updated_at (the first one also
before it) until the next one's, as in the cross-verification model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import operator
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from subjectdb.sharing.registers import Registers

MAX_BATCH = 10_000
KINDS = ("resident_id", "credit_code")


def normalise_identifier(value: str) -> str:
    """An identifier as staging sees it: NFKC (full-width → ASCII), trimmed, upper case."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` (UTF-8) under ``key``, hex — equal to ``keyed_hash()`` in dbt."""
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_identifiers(key: str, ids: Sequence[str], normalised: bool = False) -> list[str]:
    """Keyed hashes of ``ids`` (normalised first unless ``normalised``), hex."""
    return [d.hex() for d in digest_identifiers(key, ids, normalised)]


def digest_identifiers(key: str, ids: Sequence[str], normalised: bool = False) -> list[bytes]:
    """Keyed hashes of ``ids`` as 32-byte digests (what the in-memory registers hold)."""
    inner = hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)
    out = []
    for i in ids:
        h = inner.copy()  # the key schedule once, not per identifier
        h.update((i if normalised else normalise_identifier(i)).encode("utf-8"))
        out.append(h.digest())
    return out


def verify(
    registers: Registers, kind: str, digests: Sequence[bytes], on: dt.date, detail: bool
) -> list[dict[str, Any]]:
    """Answers for ``digests`` (keyed hashes, in the caller's order) on date ``on`` from the
    in-memory registers (:mod:`subjectdb.sharing.registers`); ``detail`` adds county / region
    and industry section. Each answer carries the caller's ``index``."""
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return registers.answer(kind, digests, on, detail)


_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_INDEX = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _ric_ok(number: str) -> bool:
    """GB 11643-1999: 17 digits, a real birth date, ISO 7064 MOD 11-2 check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(map(operator.mul, map(int, number[:17]), _RIC_WEIGHTS))
    return number[17] == _RIC_CHECK[total % 11]


def _uscc_ok(number: str) -> bool:
    """GB 32100-2015: 8 digits, 10 characters of the 31-symbol alphabet, check character."""
    if len(number) != 18 or not number[:8].isdigit():
        return False
    if any(c not in _USCC_INDEX for c in number[8:]):
        return False
    total = sum(map(operator.mul, map(_USCC_INDEX.__getitem__, number[:17]), _USCC_WEIGHTS))
    return number[17] == _USCC_ALPHABET[(31 - total) % 31]


_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_RIC_W = np.array(_RIC_WEIGHTS, dtype=np.int64)
_RIC_CHECK_CODES = np.frombuffer(_RIC_CHECK.encode("ascii"), dtype=np.uint8)
_USCC_W = np.array(_USCC_WEIGHTS, dtype=np.int64)
_USCC_CODES = np.frombuffer(_USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[_USCC_CODES] = np.arange(len(_USCC_ALPHABET))


def _ric_ok_many(chars: np.ndarray) -> np.ndarray:
    """:func:`_ric_ok` over an (n, 18) array of ASCII codes."""
    digits = chars[:, :17].astype(np.int64) - ord("0")
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    digits = np.where(ok[:, None], digits, 0)
    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10:12] @ np.array([10, 1])
    day = digits[:, 12:14] @ np.array([10, 1])
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    in_month = _DAYS[np.clip(month - 1, 0, 11)] + ((month == 2) & leap)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= in_month)
    check = _RIC_CHECK_CODES[(digits * _RIC_W).sum(axis=1) % 11]
    return ok & (chars[:, 17] == check)


def _uscc_ok_many(chars: np.ndarray) -> np.ndarray:
    """:func:`_uscc_ok` over an (n, 18) array of ASCII codes."""
    head = chars[:, :8]
    ok = ((head >= ord("0")) & (head <= ord("9"))).all(axis=1)
    values = _USCC_VALUE[chars]
    ok &= (values >= 0).all(axis=1)
    total = (np.where(ok[:, None], values[:, :17], 0) * _USCC_W).sum(axis=1)
    return ok & (chars[:, 17] == _USCC_CODES[(31 - total) % 31])


def well_formed(kind: str, ids: Sequence[str], normalised: bool = False) -> list[bool]:
    """Whether each identifier passes its standard's format and check character.

    GB 11643 for resident IDs, GB 32100 for credit codes (the rules of ``stdnum.cn.ric`` and
    ``stdnum.cn.uscc``, written out: python-stdnum takes ~0.3 ms an ID, too slow for a batch of
    10,000). The 18-character ASCII identifiers of a batch are checked at once with NumPy
    (:func:`_ric_ok_many`, :func:`_uscc_ok_many`), any other by the scalar rule (the same
    rule: tests/test_sharing_scale.py compares them). An ID that fails cannot be in the
    register, which only holds IDs that passed the raw suites.
    """
    check = _ric_ok if kind == "resident_id" else _uscc_ok
    many = _ric_ok_many if kind == "resident_id" else _uscc_ok_many
    values = [i if normalised else normalise_identifier(i) for i in ids]
    plain = [len(v) == 18 and v.isascii() for v in values]
    out = [False if p else check(v) for v, p in zip(values, plain, strict=True)]
    chosen = [i for i, p in enumerate(plain) if p]
    if chosen:
        text = "".join(values[i] for i in chosen).encode("ascii")
        chars = np.frombuffer(text, dtype=np.uint8).reshape(len(chosen), 18)
        for i, ok in zip(chosen, many(chars).tolist(), strict=True):
            out[i] = ok
    return out
