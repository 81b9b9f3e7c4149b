"""Defect injection: the kinds of defect real extracts have, which columns each can hit, and
the injector that picks rows at the configured rate, applies one defect per row and lists each
in the manifest (``docs/extract-contract.md`` describes every kind)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from subjectdb.contract import COLUMNS, REQUIRED
from subjectdb.standards import GB32100_ALPHABET
from subjectdb.synth.calendar import DAY
from subjectdb.synth.reference import Ref, label

DEFECT_KINDS = (
    "traditional_chars",
    "fullwidth_digits",
    "retired_region_code",
    "bad_id_check_digit",
    "bad_credit_code_check_digit",
    "unknown_item_code",
    "duplicate_resent",
    "accepted_before_submitted",
    "future_date",
    "missing_required",
    "row_cut_short",
    "extra_delimiter",
    "stray_quote",
    "excel_mangled_id",
    "formula_text",
)
FILE_LEVEL_KINDS = ("gbk_encoding",)
STRUCTURAL_KINDS = ("row_cut_short", "extra_delimiter", "stray_quote")
"""Kinds that change a CSV line's framing: written into the bytes, never into Parquet."""


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


_KIND_COLUMNS: dict[str, dict[str, list[str]]] = {
    "cases": {
        "traditional_chars": ["applicant_name", "dept_name"],
        "fullwidth_digits": [
            "applicant_id",
            "applicant_phone",
            "residence_region",
            "promised_days",
        ],
        "retired_region_code": ["residence_region", "dept_region"],
        "bad_id_check_digit": ["applicant_id"],
        "bad_credit_code_check_digit": ["applicant_id"],
        "unknown_item_code": ["item_code"],
        "accepted_before_submitted": ["accepted_at"],
        "future_date": ["updated_at"],
        "formula_text": ["applicant_name", "dept_name", "applicant_phone"],
        "extra_delimiter": ["applicant_name", "dept_name"],
        "stray_quote": ["applicant_name", "dept_name"],
        "excel_mangled_id": ["case_id"],
    },
    "persons": {
        "traditional_chars": ["name"],
        "fullwidth_digits": ["person_id", "phone"],
        "retired_region_code": ["residence_region", "hukou_region"],
        "bad_id_check_digit": ["person_id"],
        "future_date": ["updated_at"],
        "formula_text": ["name", "phone"],
        "extra_delimiter": ["name"],
        "stray_quote": ["name"],
    },
    "enterprises": {
        "traditional_chars": ["name"],
        "fullwidth_digits": ["credit_code", "registered_capital"],
        "retired_region_code": ["region"],
        "bad_credit_code_check_digit": ["credit_code"],
        "future_date": ["updated_at"],
        "formula_text": ["name"],
        "extra_delimiter": ["name"],
        "stray_quote": ["name"],
    },
}
_TS = "%Y-%m-%d %H:%M:%S"


@dataclass
class Patch:
    """A line-level change of a CSV row, applied to the written bytes."""

    kind: str
    field: int  # row_cut_short: fields kept; extra_delimiter, stray_quote: the field changed
    at: int = 0  # extra_delimiter: character position of the comma


class Injector:
    """Picks defect rows, applies one defect per row and records each in the manifest."""

    def __init__(
        self, rate: float, fmt: str, ref: Ref, batch_ends: list[dt.datetime], seed: int
    ) -> None:
        import opencc

        self.rate = rate
        self.fmt = fmt
        self.batch_ends = batch_ends
        self.rng = random.Random(seed)
        self.items = set(ref.item_codes)
        self.item_prefixes = sorted({c.rstrip("0123456789") for c in ref.item_codes})
        self.retired = ref.retired_by_successor
        self.s2t = opencc.OpenCC("s2t")
        self.person_label = label(ref, "applicant_type", "person")
        self.entries: list[tuple[str, int, str, str, str]] = []
        self.counts: Counter[str] = Counter()

    def kinds(self, extract: str, batch: int) -> list[str]:
        spec = _KIND_COLUMNS[extract]
        kinds = [
            k
            for k in DEFECT_KINDS
            if k in spec or k in ("missing_required", "row_cut_short", "duplicate_resent")
        ]
        if self.fmt == "parquet":
            kinds = [k for k in kinds if k not in STRUCTURAL_KINDS]
        if batch >= len(self.batch_ends) - 1:
            kinds = [k for k in kinds if k != "duplicate_resent"]
        return kinds

    def apply(
        self,
        extract: str,
        batch: int,
        table: dict[str, pa.Array],
        np_rng: np.random.Generator,
    ) -> tuple[
        dict[str, pa.Array],
        dict[int, Patch],
        list[tuple[int, str, str, str]],
        list[tuple[int, dict[str, Any], int]],
    ]:
        """Inject defects into one batch table.

        Returns the changed columns, CSV line patches by row position, manifest items
        (position, column, kind, detail) and duplicates to re-send: (target batch, row values).
        """
        columns = COLUMNS[extract]
        n = len(table[columns[0]])
        k = int(np_rng.binomial(n, self.rate)) if n and self.rate > 0 else 0
        if not k:
            return table, {}, [], []
        positions = np.sort(np_rng.choice(n, size=k, replace=False))
        pos_arr = pa.array(positions)
        rows = {c: table[c].take(pos_arr).to_pylist() for c in columns}
        kinds = self.kinds(extract, batch)
        changes: dict[str, dict[int, str | None]] = {}
        patches: dict[int, Patch] = {}
        found: list[tuple[int, str, str, str]] = []
        dups: list[tuple[int, dict[str, Any], int]] = []
        for j, pos in enumerate(positions.tolist()):
            row = {c: rows[c][j] for c in columns}
            order = kinds[:]
            self.rng.shuffle(order)
            for kind in order:
                result = self._one(extract, batch, kind, row, columns)
                if result is None:
                    continue
                column, new, detail = result
                if kind == "duplicate_resent":
                    target = self.rng.randint(batch + 1, len(self.batch_ends) - 1)
                    dups.append((target, row, pos))
                elif isinstance(new, Patch):
                    patches[pos] = new
                    found.append((pos, column, kind, detail))
                else:
                    changes.setdefault(column, {})[pos] = new
                    found.append((pos, column, kind, detail))
                break
        for column, values in changes.items():
            mask = np.zeros(n, dtype=bool)
            idx = sorted(values)
            mask[idx] = True
            table[column] = pc.replace_with_mask(
                table[column], pa.array(mask), pa.array([values[i] for i in idx], pa.string())
            )
        return table, patches, found, dups

    def _one(
        self,
        extract: str,
        batch: int,
        kind: str,
        row: dict[str, Any],
        columns: list[str],
    ) -> tuple[str, str | None | Patch, str] | None:
        rng = self.rng
        spec = _KIND_COLUMNS[extract]
        cands = [c for c in spec.get(kind, []) if row.get(c)]
        if kind == "traditional_chars":
            for col in rng.sample(cands, len(cands)):
                new = self.s2t.convert(row[col])
                if new != row[col] and (self.fmt != "csv-gbk" or gbk_ok(new)):
                    return col, new, row[col]
            return None
        if kind == "fullwidth_digits":
            cands = [c for c in cands if any(ch.isdigit() for ch in row[c])]
            if not cands:
                return None
            col = rng.choice(cands)
            return col, row[col].translate(_FULLWIDTH), row[col]
        if kind == "retired_region_code":
            cands = [c for c in cands if row[c] in self.retired]
            if not cands:
                return None
            col = rng.choice(cands)
            return col, rng.choice(self.retired[row[col]]), row[col]
        if kind in ("bad_id_check_digit", "bad_credit_code_check_digit"):
            if not cands or len(row[cands[0]]) != 18:
                return None
            col = cands[0]
            if extract == "cases":
                is_person = row["applicant_type"] == self.person_label
                if is_person != (kind == "bad_id_check_digit"):
                    return None
            alphabet = "0123456789X" if kind == "bad_id_check_digit" else GB32100_ALPHABET
            value = row[col]
            wrong = rng.choice([ch for ch in alphabet if ch != value[-1]])
            return col, value[:-1] + wrong, value
        if kind == "unknown_item_code":
            if not cands:
                return None
            prefix = rng.choice(self.item_prefixes) if self.item_prefixes else "X"
            while True:
                new = f"{prefix}{rng.randint(900, 999)}{rng.randint(0, 9)}"
                if new not in self.items:
                    return "item_code", new, row["item_code"]
        if kind == "accepted_before_submitted":
            if not cands or not row.get("submitted_at"):
                return None
            sub = dt.datetime.strptime(row["submitted_at"], _TS)
            new = sub - dt.timedelta(seconds=rng.randint(3600, 5 * DAY))
            return "accepted_at", new.strftime(_TS), row["accepted_at"]
        if kind == "future_date":
            new = self.batch_ends[batch] + dt.timedelta(seconds=rng.randint(DAY, 300 * DAY))
            return "updated_at", new.strftime(_TS), row["updated_at"]
        if kind == "missing_required":
            cands = [c for c in REQUIRED[extract] if row.get(c)]
            if not cands:
                return None
            col = rng.choice(cands)
            return col, None, row[col]
        if kind == "row_cut_short":
            keep = rng.randint(1, len(columns) - 1)
            return columns[keep], Patch(kind, keep), f"{keep} of {len(columns)} fields"
        if kind == "extra_delimiter":
            cands = [c for c in cands if len(row[c]) >= 2]
            if not cands:
                return None
            col = rng.choice(cands)
            at = rng.randint(1, len(row[col]) - 1)
            return col, Patch(kind, columns.index(col), at), row[col]
        if kind == "stray_quote":
            if not cands:
                return None
            col = rng.choice(cands)
            return col, Patch(kind, columns.index(col)), row[col]
        if kind == "excel_mangled_id":
            if not cands or not row[cands[0]].isdigit():
                return None
            value = row[cands[0]]
            return cands[0], f"{int(value):.5E}", value  # what a spreadsheet saves: 3.30000E+17
        if kind == "formula_text":
            if not cands:
                return None
            col = rng.choice(cands)
            value = row[col]
            if value.isdigit():
                return col, "+86" + value, value
            return col, rng.choice("=+-@") + value, value
        if kind == "duplicate_resent":
            return "", None, ""
        return None


def gbk_ok(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True
