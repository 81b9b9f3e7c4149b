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

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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

from subjectdb.config import SEEDS_DIR
from subjectdb.seeds import SeedError, read_seed
from subjectdb.standards import (
    FORMULA_PREFIXES,
    GB11643_PATTERN,
    GB32100_PATTERN,
    gb2260_assigned,
    gb11643_check,
    gb32100_check,
    gb32100_values,
)

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


@lru_cache(maxsize=4)
def _load_reference(seeds_dir: Path) -> Reference:
    """Raises :class:`subjectdb.seeds.SeedError` when a seed is missing or malformed."""
    regions = read_seed("ref_regions", seeds_dir, ["region_code"])
    changes = read_seed("ref_region_code_changes", seeds_dir, ["retired_code"])
    items = read_seed("ref_service_items", seeds_dir, ["item_code", "promised_days"])
    promised: dict[str, int] = {}
    for line, row in enumerate(items, start=2):
        try:
            promised[row["item_code"]] = int(row["promised_days"])
        except ValueError as exc:
            raise SeedError(
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

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _codes_and_distinct(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Per row the position of its value among the distinct values (-1: missing), and the
    distinct values as an Arrow string array.

    The runner hands text to GX as categoricals (codes and categories are there already);
    other series are factorised. Standards are computed once per distinct value and spread to
    the rows by position: no Python per row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        uniques = values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
    distinct = pa.array([str(v) for v in uniques], type=pa.string())
    return np.asarray(codes), distinct


_per_value_cache: dict[str, tuple[Any, Any]] = {}


def _per_value(values: pd.Series, name: str, compute: Any) -> tuple[np.ndarray, Any]:
    """(codes, ``compute(distinct values)``), cached per categories object.

    Several expectations of one chunk check the same column (the GB 11643 standard and the
    birth-date/sex agreement both need the ID check): a chunk's categories object is shared by
    every row subset GX takes of the frame, so the per-value result is computed once. The
    cache holds the categories object itself (compared with ``is``), never a stale id.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        hit = _per_value_cache.get(name)
        if hit is not None and hit[0] is cats:
            return values.cat.codes.to_numpy(), hit[1]
        codes, distinct = _codes_and_distinct(values)
        result = compute(distinct)
        _per_value_cache[name] = (cats, result)
        return codes, result
    codes, distinct = _codes_and_distinct(values)
    return codes, compute(distinct)


def clear_cache() -> None:
    """Drop the per-value results of the last chunk (the runner calls it after each chunk)."""
    _per_value_cache.clear()


def _spread(codes: np.ndarray, per_value: np.ndarray, missing: Any) -> np.ndarray:
    """Per-value results → per-row results (``missing`` where the row's value is null)."""
    if len(per_value) == 0:
        return np.full(len(codes), missing, dtype=per_value.dtype)
    out = per_value[np.where(codes < 0, 0, codes)]
    if (codes < 0).any():
        out = out.copy()
        out[codes < 0] = missing
    return out


def _ascii_matrix(strings: pa.Array, width: int) -> np.ndarray:
    """Arrow strings, all ``width`` ASCII characters long → (n, width) uint8 matrix."""
    n = len(strings)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    strings = pa.concat_arrays([strings])  # own buffers, offset 0
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=n + 1)
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[0] + n * width].reshape(n, width)


def _digits(m: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The decimal number in columns ``start:stop`` of an ASCII digit matrix."""
    out = np.zeros(len(m), dtype=np.int64)
    for i in range(start, stop):
        out = out * 10 + (m[:, i].astype(np.int64) - ord("0"))
    return out


@dataclass(frozen=True)
class _ResidentIds:
    """Per distinct value: GB 11643 validity, and birth date and sex digit of the valid ones."""

    valid: np.ndarray  # bool
    birth: np.ndarray  # datetime64[ns], NaT unless valid
    odd: np.ndarray  # bool: sequence digit odd (男), meaningful where valid


def _resident_ids(distinct: pa.Array) -> _ResidentIds:
    n = len(distinct)
    upper = pc.utf8_upper(distinct)
    keep = pc.fill_null(pc.match_substring_regex(upper, GB11643_PATTERN), False)
    where = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    m = _ascii_matrix(pc.filter(upper, keep), 18).astype(np.int64)
    digits = m - ord("0")
    expected = gb11643_check(m[:, :17])  # 10 means 'X'
    actual = np.where(m[:, 17] == ord("X"), 10, digits[:, 17])
    year, month, day = _digits(m, 6, 10), _digits(m, 10, 12), _digits(m, 12, 14)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    ok = (expected == actual) & month_ok & (day >= 1) & (day <= last)
    births = np.full(len(m), np.datetime64("NaT"), dtype="datetime64[ns]")
    if ok.any():
        dates = pd.to_datetime(
            pd.DataFrame({"year": year[ok], "month": month[ok], "day": day[ok]}), errors="coerce"
        )
        births[ok] = dates.to_numpy(dtype="datetime64[ns]")
        ok &= ~np.isnat(births)  # outside pandas' datetime range, as pd.to_datetime
    # address code of the birth year: once per distinct (code, year) pair
    key = _digits(m, 0, 6) * 10_000 + year
    pairs, inverse = np.unique(key[ok], return_inverse=True)
    pair_ok = np.array(
        [_address_code_valid(f"{p // 10_000:06d}", int(p % 10_000)) for p in pairs], dtype=bool
    )
    ok[ok] = pair_ok[inverse] if len(pairs) else False
    valid = np.zeros(n, dtype=bool)
    valid[where] = ok
    birth = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    birth[where[ok]] = births[ok]
    odd = np.zeros(n, dtype=bool)
    odd[where] = digits[:, 16] % 2 == 1
    return _ResidentIds(valid, birth, odd)


def _gb32100_valid(distinct: pa.Array) -> np.ndarray:
    upper = pc.utf8_upper(distinct)
    keep = pc.fill_null(pc.match_substring_regex(upper, GB32100_PATTERN), False)
    where = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    m = _ascii_matrix(pc.filter(upper, keep), 18)
    valid = np.zeros(len(distinct), dtype=bool)
    valid[where] = gb32100_check(m[:, :17]) == gb32100_values(m[:, 17])
    return valid


def valid_gb11643_resident_id(values: pd.Series) -> np.ndarray:
    """Per row: a valid GB 11643-1999 resident ID (False where missing).

    Valid exactly as ``stdnum.cn.ric.is_valid``: 17 digits and a check character (digit or
    ``X``, case-insensitive) matching ISO 7064 MOD 11-2, a real calendar birth date in positions
    7–14, and an address code (positions 1–6) that existed in the birth year. Computed once per
    distinct value with Arrow and numpy; the address check once per (code, year).
    """
    codes, ids = _per_value(values, "resident_id", _resident_ids)
    return _spread(codes, ids.valid, False)


def valid_gb32100_credit_code(values: pd.Series) -> np.ndarray:
    """Per row: a valid GB 32100-2015 unified social credit code (False where missing).

    Valid (as ``stdnum.cn.uscc``, case-insensitive): 8 digits, then 10 characters of the
    31-symbol alphabet (no I, O, Z, S, V), the last matching the MOD 31 check character.
    """
    codes, valid = _per_value(values, "credit_code", _gb32100_valid)
    return _spread(codes, valid, False)


def valid_gb11643_values(values: pd.Series) -> set[str]:
    """The distinct values of ``values`` that are valid GB 11643-1999 resident IDs."""
    codes, distinct = _codes_and_distinct(values)
    valid = _resident_ids(distinct).valid
    return set(pc.filter(distinct, pa.array(valid)).to_pylist())


def valid_gb32100_values(values: pd.Series) -> set[str]:
    """The distinct values of ``values`` that are valid GB 32100-2015 credit codes."""
    codes, distinct = _codes_and_distinct(values)
    return set(pc.filter(distinct, pa.array(_gb32100_valid(distinct))).to_pylist())


@lru_cache(maxsize=1_000_000)
def _address_code_valid(address_code: str, year: int) -> bool:
    """The GB/T 2260 address code was assigned in the birth year (the code history
    ``stdnum.cn.ric.get_birth_place`` uses, read once: :func:`subjectdb.standards.gb2260_history`).

    Cached per (code, year).
    """
    return gb2260_assigned(address_code, year)


def _in_set(values: pd.Series, allowed: frozenset[str] | Iterable[str]) -> np.ndarray:
    """Per row: the value is one of ``allowed`` (checked once per distinct value)."""
    codes, distinct = _codes_and_distinct(values)
    member = pc.is_in(distinct, value_set=pa.array(list(allowed), type=pa.string()))
    return _spread(codes, pc.fill_null(member, False).to_numpy(zero_copy_only=False), False)


def starts_formula(values: pd.Series) -> pd.Series:
    """True where a text value would start a spreadsheet formula (CSV injection).

    Vectorised form of :func:`subjectdb.standards.starts_formula` (its ``FORMULA_PREFIXES``),
    checked once per distinct value.
    """
    codes, distinct = _per_value(values, "formula", _starts_formula)
    return pd.Series(_spread(codes, distinct, False), index=values.index, dtype=bool)


def _starts_formula(distinct: pa.Array) -> np.ndarray:
    hit = np.zeros(len(distinct), dtype=bool)
    for prefix in FORMULA_PREFIXES:
        starts = pc.fill_null(pc.starts_with(distinct, pattern=prefix), False)
        hit |= np.asarray(starts.to_numpy(zero_copy_only=False), dtype=bool)
    return hit


def _member(column: pd.Series, allowed: Iterable[str]) -> pd.Series:
    """Per row: the value is in ``allowed`` (categoricals: once per distinct value)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Series(_in_set(column, frozenset(allowed)), index=column.index, dtype=bool)
    return column.isin(set(allowed))


# --------------------------------------------------------------------------------------------
# Metrics (pandas)
# --------------------------------------------------------------------------------------------


class ColumnValuesValidGb11643ResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb11643_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return pd.Series(valid_gb11643_resident_id(column), index=column.index)


class ColumnValuesValidGb32100CreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb32100_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return pd.Series(valid_gb32100_credit_code(column), index=column.index)


class ColumnValuesInGbt2260RegionCodes(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_gbt2260_region_codes"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return _member(column, reference().known_region_codes)


class ColumnValuesInServiceCatalog(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_service_catalog"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return _member(column, reference().promised_days.keys())


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
        codes, distinct = _codes_and_distinct(column_list[item_col])
        per_item = np.array([catalog.get(v, np.nan) for v in distinct.to_pylist()], dtype=float)
        expected = pd.Series(_spread(codes, per_item, np.nan), index=column_list.index)
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
        codes, ids = _per_value(column_list[id_col], "resident_id", _resident_ids)
        valid = _spread(codes, ids.valid, False)
        birth = pd.to_datetime(column_list[birth_col], errors="coerce")
        id_birth = _spread(codes, ids.birth, np.datetime64("NaT"))
        birth_ok = birth.isna().to_numpy() | (birth.to_numpy(dtype="datetime64[ns]") == id_birth)
        sex = column_list[sex_col]
        odd = _spread(codes, ids.odd, False)
        sex_ok = sex.isna().to_numpy() | np.where(
            odd, (sex == "男").to_numpy(dtype=bool), (sex == "女").to_numpy(dtype=bool)
        )
        # an invalid ID is the GB 11643 expectation's finding, not this one's
        return pd.Series(~valid | (birth_ok & sex_ok), index=column_list.index, dtype=bool)


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
