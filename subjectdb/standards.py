"""Shared leaf: small rules of the national and file standards, each written once.

- the spreadsheet-formula guard (OWASP CSV injection): text that a spreadsheet would run as a
  formula is neutralised by one function, used by every CSV subjectdb writes and by the gate
  that checks published text;
- the check characters of GB 11643 (resident ID: ISO 7064 MOD 11-2), GB 32100 (unified social
  credit code: MOD 31 over a 31-symbol alphabet) and GB 11714 (organisation code, inside the
  credit code), vectorised with numpy over (n, 17) ASCII matrices: the generator writes them,
  the raw-suite expectations check them (``tests/test_standards.py`` proves both agree with
  ``python-stdnum``, which is too slow row by row for millions of IDs);
- the GB/T 2260 history of region codes (which code existed in which years), read from the
  table ``python-stdnum`` ships and uses for ``stdnum.cn.ric.get_birth_place``.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping

import numpy as np

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet cell a formula (or hide one after a control)."""


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula."""
    return text.startswith(FORMULA_PREFIXES)


def lf_csv(crlf_csv: str) -> str:
    """A CSV text written with CRLF line ends turned into one with LF line ends.

    A CSV writer quotes a field holding a line-break character only when that character is
    part of its line terminator, so writing with LF leaves a carriage return inside a field
    unquoted — and a spreadsheet starts a new row there. Write with CRLF (every field with a
    CR or LF is quoted) and convert the row ends: outside quotes (an even number of ``"``
    before them; doubled quotes inside a field count twice) every CRLF is a row end.
    """
    parts = crlf_csv.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("\r\n", "\n")
    return '"'.join(parts)


_LINE_FORMULA = re.compile(r"([\r\n])(?=[=+\-@\t\r])")


def neutralise_formula(value: object) -> object:
    """Prefix ``'`` to text a spreadsheet would read as a formula; other values unchanged.

    Also every line of the text: a reader that splits rows at a carriage return (a CSV
    writer quotes fields holding one only when CR is part of its line terminator) would
    otherwise start a new cell at it, so a line that starts with ``= + - @``, tab or CR gets
    the ``'`` too.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
    if "\r" in value or "\n" in value:
        value = _LINE_FORMULA.sub(r"\1'", value)
    return value


# --------------------------------------------------------------------------------------------
# GB 11643-1999 resident identity number: 17 digits and an ISO 7064 MOD 11-2 check character
# --------------------------------------------------------------------------------------------
GB11643_PATTERN = r"^[0-9]{17}[0-9X]$"
"""The shape of a resident ID (upper case): what the check character is computed over."""

GB11643_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)


def gb11643_check(body: np.ndarray) -> np.ndarray:
    """Check values (0–10; 10 is written ``X``) of an (n, 17) matrix of ASCII digits."""
    digits = body.astype(np.int64) - ord("0")
    return (12 - (digits @ GB11643_WEIGHTS) % 11) % 11


def gb11643_check_chars(body: np.ndarray) -> np.ndarray:
    """Check characters (ASCII codes, ``uint8``) of an (n, 17) matrix of ASCII digits."""
    check = gb11643_check(body)
    return np.where(check == 10, ord("X"), ord("0") + check).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# GB 32100-2015 unified social credit code: 18 characters, a MOD 31 check character
# --------------------------------------------------------------------------------------------
GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 symbols of a credit code (no I, O, S, V, Z), in check-value order."""

GB32100_PATTERN = r"^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}$"
"""The shape of a credit code (upper case) as ``stdnum.cn.uscc`` accepts it."""

GB32100_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_GB32100_BYTES = np.frombuffer(GB32100_ALPHABET.encode(), dtype=np.uint8)
_GB32100_INDEX = np.full(256, -1, dtype=np.int64)
_GB32100_INDEX[_GB32100_BYTES] = np.arange(len(GB32100_ALPHABET))


def gb32100_values(chars: np.ndarray) -> np.ndarray:
    """The value (0–30) of each ASCII character in the alphabet; -1 for other characters."""
    return _GB32100_INDEX[chars]


def gb32100_check(body: np.ndarray) -> np.ndarray:
    """Check values (0–30) of an (n, 17) ASCII matrix over :data:`GB32100_ALPHABET`.

    Characters outside the alphabet make the result meaningless: check the shape first.
    """
    return (31 - (gb32100_values(body) @ GB32100_WEIGHTS) % 31) % 31


def gb32100_check_chars(body: np.ndarray) -> np.ndarray:
    """Check characters (ASCII codes, ``uint8``) of an (n, 17) ASCII matrix."""
    return _GB32100_BYTES[gb32100_check(body)]


# --------------------------------------------------------------------------------------------
# GB 11714-1997 organisation code (characters 9–17 of a credit code): MOD 11 check character
# --------------------------------------------------------------------------------------------
GB11714_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


def gb11714_check_chars(body: np.ndarray) -> np.ndarray:
    """Check characters (ASCII codes, ``uint8``) of an (n, 8) matrix of ASCII digits and
    upper-case letters (A = 10 … Z = 35); 10 is written ``X``, 11 is written ``0``."""
    codes = body.astype(np.int64)
    values = np.where(codes >= ord("A"), codes - ord("A") + 10, codes - ord("0"))
    check = 11 - (values @ GB11714_WEIGHTS) % 11
    return np.where(
        check == 10, ord("X"), np.where(check == 11, ord("0"), ord("0") + check)
    ).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# GB/T 2260 region codes and their history
# --------------------------------------------------------------------------------------------
Spans = tuple[tuple[int, int], ...]
ALWAYS = 0, 9999
"""The span of a code without recorded first or last year."""


@functools.cache
def gb2260_history() -> Mapping[str, tuple[str, Spans]]:
    """County-level code → (latest name, the (first, last) years it was assigned).

    Read from ``stdnum/cn/loc.dat``, the table ``stdnum.cn.ric.get_birth_place`` searches,
    with its rules: an entry ``[1986-]房山区`` was assigned from 1986, ``[-2010]崇文区`` until
    2010, an entry without brackets always; a code reused for another place has several.
    """
    text = (importlib.resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    out: dict[str, tuple[str, Spans]] = {}
    prefix = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            prefix = line.split()[0]
            continue
        code, _, rest = line.strip().partition(" ")
        value = rest.partition("=")[2].strip().strip('"')
        spans: list[tuple[int, int]] = []
        name = value
        for part in value.split(","):
            if part.startswith("["):
                span, name = part[1:].split("]", 1)
                first, last = span.split("-")
                spans.append((int(first) if first else ALWAYS[0], int(last) if last else ALWAYS[1]))
            else:
                name = part
                spans.append(ALWAYS)
        out[prefix + code] = (name, tuple(spans))
    return out


def gb2260_spans(code: str) -> Spans:
    """The years (first, last) in which a county-level code was assigned; () if never."""
    entry = gb2260_history().get(code)
    return entry[1] if entry else ()


def gb2260_assigned(code: str, year: int) -> bool:
    """Whether a county-level region code was assigned in ``year`` (a resident ID's address
    code must have been assigned in the holder's birth year)."""
    return any(first <= year <= last for first, last in gb2260_spans(code))
