"""The raw-extract contract, in one place: the columns of each extract, the columns a source
system must always fill, and the quarantine schema (docs/extract-contract.md,
docs/architecture.md). The generator writes it, the loader reads it, the raw suites check it.
"""

from __future__ import annotations

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
