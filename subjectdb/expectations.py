"""Custom Great Expectations expectations for the raw-extract data standards.

Each class is a real GX expectation (a map expectation backed by a map metric with a pandas
implementation), so it renders in Data Docs, honours ``mostly`` and ``row_condition`` and returns
the unexpected rows like any built-in expectation. Names say what they check.

The code and check-digit standards are vectorised: a value is checked once per chunk however often
it occurs, and the GB 11643 / GB 32100 check characters are computed with numpy over all distinct
values at once. ``tests/test_validate.py`` proves the vectorised checks agree with
``python-stdnum`` (``stdnum.cn.ric`` / ``stdnum.cn.uscc``), which is too slow row by row for
10 M cases (~40 µs per resident ID).

Reference data (GB/T 2260 regions and their retired codes, the service catalog) comes from the dbt
seeds; :func:`use_seeds` points the metrics at another seeds folder (tests).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from subjectdb.config import SEEDS_DIR

# --------------------------------------------------------------------------------------------
# Reference data from the seeds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The reference sets the standards are checked against (loaded from ``seeds/``)."""

    region_codes: frozenset[str]
    retired_region_codes: frozenset[str]
    promised_days: dict[str, int]
    """item_code → promised working days (the service catalog)."""

    @property
    def known_region_codes(self) -> frozenset[str]:
        """Current GB/T 2260 codes plus retired codes (dbt staging maps retired ones)."""
        return self.region_codes | self.retired_region_codes


_seeds_dir: list[Path] = [SEEDS_DIR]


class ReferenceError(RuntimeError):
    """A seed the standards need is missing or malformed."""


def _read_seed(path: Path, columns: Iterable[str]) -> list[dict[str, str]]:
    if not path.exists():
        raise ReferenceError(
            f"reference seed {path} is missing: run `python -m subjectdb.reference`"
        )
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ReferenceError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        return list(reader)


@lru_cache(maxsize=4)
def _load_reference(seeds_dir: Path) -> Reference:
    regions = _read_seed(seeds_dir / "ref_regions.csv", ["region_code"])
    changes = _read_seed(seeds_dir / "ref_region_code_changes.csv", ["retired_code"])
    items = _read_seed(seeds_dir / "ref_service_items.csv", ["item_code", "promised_days"])
    promised: dict[str, int] = {}
    for line, row in enumerate(items, start=2):
        try:
            promised[row["item_code"]] = int(row["promised_days"])
        except ValueError as exc:
            raise ReferenceError(
                f"{seeds_dir / 'ref_service_items.csv'}: line {line}: column promised_days: "
                f"not an integer: {row['promised_days']!r}"
            ) from exc
    return Reference(
        region_codes=frozenset(r["region_code"] for r in regions),
        retired_region_codes=frozenset(r["retired_code"] for r in changes),
        promised_days=promised,
    )


def reference() -> Reference:
    """The reference data of the current seeds folder (cached)."""
    return _load_reference(_seeds_dir[0])


def seeds_dir() -> Path:
    """The seeds folder the standards are checked against."""
    return _seeds_dir[0]


def use_seeds(seeds_dir: Path) -> None:
    """Check the standards against the seeds in ``seeds_dir`` (default: the project's seeds)."""
    _seeds_dir[0] = Path(seeds_dir).resolve()


# --------------------------------------------------------------------------------------------
# Vectorised standards
# --------------------------------------------------------------------------------------------

_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_LOOKUP = np.full(128, -1, dtype=np.int64)
for _i, _c in enumerate(_USCC_ALPHABET):
    _USCC_LOOKUP[ord(_c)] = _i


def _distinct(values: pd.Series) -> pd.Series:
    """The distinct non-null values as a str Series (plain object dtype)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(values.cat.remove_unused_categories().cat.categories)
    return pd.Series(pd.unique(values.dropna()), dtype=object).astype(str)


def _plain(values: pd.Series) -> pd.Series:
    """Categorical (how the runner hands text to GX) → plain object values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype(object)
    return values


def _as_matrix(strings: pd.Series, width: int) -> np.ndarray:
    """ASCII strings of equal ``width`` → (n, width) uint8 matrix."""
    if strings.empty:
        return np.zeros((0, width), dtype=np.uint8)
    buf = "".join(strings.tolist()).encode("ascii")
    return np.frombuffer(buf, dtype=np.uint8).reshape(-1, width)


def valid_gb11643_values(values: pd.Series) -> set[str]:
    """The distinct values that are valid GB 11643-1999 resident IDs.

    Valid exactly as ``stdnum.cn.ric.is_valid``: 17 digits and a check character (digit or
    ``X``, case-insensitive) matching ISO 7064 MOD 11-2, a real calendar birth date in positions
    7–14, and an address code (positions 1–6) that existed in the birth year. The first two are
    numpy-vectorised; the address check is cached per (code, year).
    """
    distinct = _distinct(values)
    upper = distinct.str.upper()
    keep = upper.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy(dtype=bool)
    shaped, originals = upper[keep], distinct[keep]
    m = _as_matrix(shaped, 18).astype(np.int64) - ord("0")
    total = (m[:, :17] * _RIC_WEIGHTS).sum(axis=1) % 11
    expected = (12 - total) % 11  # 10 means 'X'
    actual = np.where(m[:, 17] == ord("X") - ord("0"), 10, m[:, 17])
    births = pd.to_datetime(shaped.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    ok = (expected == actual) & births.notna().to_numpy()
    addr = shaped.str.slice(0, 6).to_numpy()
    years = births.dt.year.to_numpy()
    for i in np.flatnonzero(ok):
        ok[i] = _address_code_valid(str(addr[i]), int(years[i]))
    return set(originals[ok].tolist())


@lru_cache(maxsize=1_000_000)
def _address_code_valid(address_code: str, year: int) -> bool:
    """The GB/T 2260 address code was assigned in the birth year (stdnum's birth-place table).

    Cached per (code, year): a province has a few thousand such pairs, however many IDs.
    """
    try:
        ric.get_birth_place(f"{address_code}{year:04d}0101000" + "0")
    except ValidationError:
        return False
    return True


def valid_gb32100_values(values: pd.Series) -> set[str]:
    """The distinct values that are valid GB 32100-2015 unified social credit codes.

    Valid (as ``stdnum.cn.uscc``, case-insensitive): 8 digits, then 10 characters of the
    31-symbol alphabet (no I, O, Z, S, V), the last matching the MOD 31 check character.
    """
    distinct = _distinct(values)
    upper = distinct.str.upper()
    keep = upper.str.fullmatch(r"\d{8}[0-9A-HJ-NPQRTUWXY]{10}").fillna(False).to_numpy(dtype=bool)
    shaped, originals = upper[keep], distinct[keep]
    m = _USCC_LOOKUP[_as_matrix(shaped, 18)]
    total = (m[:, :17] * _USCC_WEIGHTS).sum(axis=1)
    ok = (31 - total % 31) % 31 == m[:, 17]
    return set(originals[ok].tolist())


def resident_id_birth_date(ids: pd.Series) -> pd.Series:
    """Birth date (datetime64, NaT when not derivable) encoded in resident IDs."""
    digits = ids.astype("string").str.slice(6, 14)
    return pd.to_datetime(digits, format="%Y%m%d", errors="coerce")


def resident_id_sex(ids: pd.Series) -> pd.Series:
    """'男' (odd sequence digit) / '女' (even) from resident IDs; NA when not a digit."""
    digit = pd.to_numeric(ids.astype("string").str.slice(16, 17), errors="coerce")
    return digit.map(lambda d: pd.NA if pd.isna(d) else ("男" if int(d) % 2 else "女"))


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def starts_formula(values: pd.Series) -> pd.Series:
    """True where a text value would start a spreadsheet formula (CSV injection)."""
    s = _plain(values).astype("string")
    return s.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)


# --------------------------------------------------------------------------------------------
# Metrics (pandas)
# --------------------------------------------------------------------------------------------


class ColumnValuesValidGb11643ResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb11643_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.isin(valid_gb11643_values(column))


class ColumnValuesValidGb32100CreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb32100_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.isin(valid_gb32100_values(column))


class ColumnValuesInGbt2260RegionCodes(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_gbt2260_region_codes"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.isin(reference().known_region_codes)


class ColumnValuesInServiceCatalog(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_service_catalog"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.isin(reference().promised_days.keys())


class ColumnValuesNotAfterBatchCutoff(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_after_batch_cutoff"
    condition_value_keys = ("cutoff",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, cutoff: str, **kwargs: Any) -> pd.Series:
        limit = pd.Timestamp(cutoff)
        return pd.to_datetime(column) <= limit


class ColumnValuesNotStartingSpreadsheetFormula(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_starting_spreadsheet_formula"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return ~starts_formula(column)


class MulticolumnPromisedDaysMatchCatalog(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.promised_days_match_service_catalog"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        item_col, days_col = column_list.columns[:2]
        catalog = reference().promised_days
        expected = _plain(column_list[item_col]).map(catalog)
        actual = pd.to_numeric(column_list[days_col], errors="coerce")
        # unknown item codes are the service-catalog expectation's finding and missing promised
        # days the completeness expectation's, not this one's
        agree = expected.isna() | actual.isna() | (actual == expected)
        return agree.fillna(False).astype(bool)


class MulticolumnBirthDateAndSexAgreeWithResidentId(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.birth_date_and_sex_agree_with_resident_id"
    condition_domain_keys = MulticolumnPromisedDaysMatchCatalog.condition_domain_keys

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        id_col, birth_col, sex_col = column_list.columns[:3]
        ids = _plain(column_list[id_col])
        valid = ids.isin(valid_gb11643_values(ids))
        birth = pd.to_datetime(column_list[birth_col], errors="coerce")
        birth_ok = birth.isna() | (birth == resident_id_birth_date(ids))
        sex = _plain(column_list[sex_col]).astype("string")
        sex_ok = sex.isna() | (sex == resident_id_sex(ids).astype("string"))
        # an invalid ID is the GB 11643 expectation's finding, not this one's
        agree = ~valid | (birth_ok & sex_ok)
        return agree.fillna(False).astype(bool)


class MulticolumnRecordVersionUniqueWithinBatch(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.record_version_unique_within_batch"
    condition_domain_keys = MulticolumnPromisedDaysMatchCatalog.condition_domain_keys

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        # the first occurrence (in file order) is kept; later copies are duplicates
        return ~column_list.duplicated(keep="first")


# --------------------------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------------------------


class _Sentence:
    """Data Docs: one plain sentence per custom expectation (instead of its raw kwargs)."""

    sentence: ClassVar[str] = ""

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> list[RenderedStringTemplateContent]:
        kw = dict(configuration.kwargs) if configuration is not None else {}
        params: dict[str, Any] = {}
        if "column" in kw:
            params["column"] = kw["column"]
            template = "$column " + cls.sentence
        else:
            params["columns"] = ", ".join(kw.get("column_list", []))
            template = "[$columns] " + cls.sentence
        if kw.get("cutoff") is not None:
            params["cutoff"] = str(kw["cutoff"])
            template += " ($cutoff)"
        mostly = kw.get("mostly")
        if isinstance(mostly, int | float) and mostly < 1:
            params["mostly_pct"] = f"{mostly * 100:g}"
            template += ", at least $mostly_pct % of the time"
        if kw.get("row_condition") is not None:
            params["condition"] = str(kw["row_condition"])
            template += ", where $condition"
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={"template": template + ".", "params": params},
            )
        ]


class ExpectColumnValuesToBeValidGb11643ResidentId(_Sentence, ColumnMapExpectation):
    """Expect values to be valid GB 11643-1999 resident IDs (check character, birth date)."""

    sentence: ClassVar[str] = (
        "values must be valid GB 11643-1999 resident IDs (check character, birth date, "
        "address code of the birth year)"
    )
    map_metric: ClassVar[str] = "column_values.valid_gb11643_resident_id"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToBeValidGb32100CreditCode(_Sentence, ColumnMapExpectation):
    """Expect values to be valid GB 32100-2015 unified social credit codes."""

    sentence: ClassVar[str] = "values must be valid GB 32100-2015 unified social credit codes"
    map_metric: ClassVar[str] = "column_values.valid_gb32100_credit_code"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToBeInGbt2260RegionCodes(_Sentence, ColumnMapExpectation):
    """Expect values to be GB/T 2260 region codes (current, or retired and mapped by dbt)."""

    sentence: ClassVar[str] = (
        "values must be GB/T 2260 region codes (current, or retired and mapped by dbt)"
    )
    map_metric: ClassVar[str] = "column_values.in_gbt2260_region_codes"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToBeInServiceCatalog(_Sentence, ColumnMapExpectation):
    """Expect service item codes to exist in the service catalog (ref_service_items)."""

    sentence: ClassVar[str] = "values must be item codes of the service catalog"
    map_metric: ClassVar[str] = "column_values.in_service_catalog"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToNotBeAfterBatchCutoff(_Sentence, ColumnMapExpectation):
    """Expect dates/timestamps not to lie after the batch's cut-off (end of the export day)."""

    cutoff: str | dict
    sentence: ClassVar[str] = "values must not lie after the batch cut-off"
    map_metric: ClassVar[str] = "column_values.not_after_batch_cutoff"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "cutoff")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "cutoff")


class ExpectColumnValuesToNotStartASpreadsheetFormula(_Sentence, ColumnMapExpectation):
    """Expect free text not to start with =, +, -, @, tab or CR (spreadsheet formula injection)."""

    sentence: ClassVar[str] = "values must not start with =, +, -, @, tab or CR"
    map_metric: ClassVar[str] = "column_values.not_starting_spreadsheet_formula"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectPromisedDaysToMatchServiceCatalog(_Sentence, MulticolumnMapExpectation):
    """Expect [item_code, promised_days] to carry the catalog's promised working days."""

    sentence: ClassVar[str] = "promised working days must equal the service catalog's"
    map_metric: ClassVar[str] = "multicolumn_values.promised_days_match_service_catalog"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectBirthDateAndSexToAgreeWithResidentId(_Sentence, MulticolumnMapExpectation):
    """Expect [resident_id, birth_date, sex] to agree: birth date and sex digit of the ID."""

    sentence: ClassVar[str] = "birth date and sex must agree with the resident ID"
    map_metric: ClassVar[str] = "multicolumn_values.birth_date_and_sex_agree_with_resident_id"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectRecordVersionsToBeUniqueWithinBatch(_Sentence, MulticolumnMapExpectation):
    """Expect [key, updated_at] to be unique within a batch; later identical versions fail."""

    sentence: ClassVar[str] = "must be unique within the batch (later copies fail)"
    map_metric: ClassVar[str] = "multicolumn_values.record_version_unique_within_batch"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


CUSTOM_EXPECTATIONS = (
    ExpectColumnValuesToBeValidGb11643ResidentId,
    ExpectColumnValuesToBeValidGb32100CreditCode,
    ExpectColumnValuesToBeInGbt2260RegionCodes,
    ExpectColumnValuesToBeInServiceCatalog,
    ExpectColumnValuesToNotBeAfterBatchCutoff,
    ExpectColumnValuesToNotStartASpreadsheetFormula,
    ExpectPromisedDaysToMatchServiceCatalog,
    ExpectBirthDateAndSexToAgreeWithResidentId,
    ExpectRecordVersionsToBeUniqueWithinBatch,
)
