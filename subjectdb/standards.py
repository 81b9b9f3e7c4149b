"""Shared leaf: small rules of the national and file standards, each written once.

- the spreadsheet-formula guard (OWASP CSV injection): text that a spreadsheet would run as a
  formula is neutralised by one function, used by every CSV subjectdb writes and by the gate
  that checks published text;
- GB 11643 (resident ID) and GB 32100 (unified social credit code) check characters, and
  GB/T 2260 region-code rules, are added here by the stages that use them.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet cell a formula (or hide one after a control)."""


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula."""
    return text.startswith(FORMULA_PREFIXES)


def neutralise_formula(value: object) -> object:
    """Prefix ``'`` to text a spreadsheet would read as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
