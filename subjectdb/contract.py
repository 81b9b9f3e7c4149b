"""The raw-extract contract, in one place: the columns of each extract, the columns a source
system must always fill, the structural limits the loader enforces (identifier shapes, field
length), the personal columns and how their values are masked wherever they are shown, and
the quarantine schema (docs/extract-contract.md, docs/architecture.md). The generator writes
it, the loader reads it, the raw suites check it.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

CASE_COLUMNS = [
    "case_id",
    "item_code",
    "applicant_type",
    "applicant_id",
    "applicant_name",
    "applicant_phone",
    "residence_region",
    "dept_name",
    "dept_region",
    "channel",
    "submitted_at",
    "accepted_at",
    "completed_at",
    "status",
    "outcome",
    "promised_days",
    "visits",
    "elicence_reused",
    "rating",
    "updated_at",
]
PERSON_COLUMNS = [
    "person_id",
    "name",
    "phone",
    "birth_date",
    "sex",
    "hukou_region",
    "residence_region",
    "status",
    "status_date",
    "updated_at",
]
ENTERPRISE_COLUMNS = [
    "credit_code",
    "name",
    "legal_form",
    "industry",
    "size_class",
    "registered_capital",
    "established_date",
    "closed_date",
    "status",
    "region",
    "updated_at",
]
COLUMNS = {"cases": CASE_COLUMNS, "persons": PERSON_COLUMNS, "enterprises": ENTERPRISE_COLUMNS}

# Columns a source system must always fill.
REQUIRED = {
    "cases": [
        "case_id",
        "item_code",
        "applicant_type",
        "applicant_id",
        "residence_region",
        "dept_region",
        "channel",
        "submitted_at",
        "status",
        "promised_days",
        "updated_at",
    ],
    "persons": [
        "person_id",
        "birth_date",
        "sex",
        "residence_region",
        "status",
        "status_date",
        "updated_at",
    ],
    "enterprises": [
        "credit_code",
        "name",
        "legal_form",
        "industry",
        "region",
        "status",
        "established_date",
        "updated_at",
    ],
}

QUARANTINE_SCHEMA = pa.schema(
    [
        ("extract", pa.string()),
        ("_batch_id", pa.string()),
        ("_source_file", pa.string()),
        ("_source_row", pa.int64()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("original", pa.string()),
        ("stage", pa.string()),
        ("_quarantined_at", pa.timestamp("us")),
    ]
)
"""Columns of every quarantine file (``quarantine/<stage>/<extract>/batch=<batch>/``)."""

IDENTIFIER_PATTERNS: dict[str, dict[str, str]] = {
    "cases": {"case_id": r"^[1-9][0-9]0000(?:19|20)[0-9]{2}[0-9]{8}$"},
}
"""Shapes of the identifiers that have no standard of their own for the raw suites to check:
a case number is the province code (``330000``), the submission year and an 8-digit sequence.
The loader quarantines a value of another shape (``bad_identifier``): a key that is not a key
cannot be typed, e.g. a spreadsheet's ``3.30000E+17``. Resident IDs and credit codes are
checked, with their check characters, by the raw suites."""

MAX_FIELD_BYTES = 4096
"""Longest value of any field, in UTF-8 bytes: no field of the contract needs a tenth of it.
A longer value is a structural defect of its row (``field_too_long``), not of the file."""

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
"""Raw columns holding personal data: their values are masked wherever they are shown or
stored outside the quarantine (validation examples, rejection and error messages); the
quarantine keeps the original for the steward."""


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


_NAME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]*$")
_DATA_LIKE = re.compile(r"[0-9A-Za-z]*[0-9][0-9A-Za-z]{5,}|[^\x00-\x7f]+")


def mask_name(name: str) -> str:
    """A header name as a message may show it: column-like names as they are, anything else
    (a data row taken for a header: an ID, a name) masked like a personal value."""
    return name if _NAME_LIKE.match(name) else str(mask_example(name))


def mask_text(text: str) -> str:
    """Free text (a parser's error message) with anything that may be personal data masked:
    runs of six or more letters and digits holding a digit (IDs, phones, codes) and runs of
    non-ASCII characters (names)."""
    return _DATA_LIKE.sub(lambda m: str(mask_example(m.group(0))), text)
