"""Realistic raw extracts (cases, persons, enterprises) with a manifest of injected defects.

``subjectdb generate`` plays the source systems: it writes the population register, the
enterprise register and the approval-case extracts of one province as batches of files, the
way departmental systems export them (see ``docs/extract-contract.md``), and injects the defects
real extracts have at a configured rate, each listed in ``manifest.csv``.

Design: every step is numpy-vectorised and streamed in chunks of ``CHUNK`` cases / persons;
only compact numeric arrays of the registers stay in memory (about 60 bytes per person and
enterprise), so memory is bounded by the register size, never by the number of cases. Chunks
draw from random streams derived from (seed, extract, chunk number), so one seed always gives
the same bytes. Parameters of the realism model live in :mod:`subjectdb.synth.profiles`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import importlib.resources
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from subjectdb.config import SEEDS_DIR
from subjectdb.contract import COLUMNS, REQUIRED
from subjectdb.synth import profiles as prof

FORMATS = ("csv", "csv-gbk", "parquet")
CALENDAR_YEARS = (2004, 2026)  # chinese-calendar 1.11 knows these years' official holidays
CHUNK = 100_000
EPOCH = dt.date(1970, 1, 1)
DAY = 86_400
MIN_BIRTH_YEAR = 1900

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
    "formula_text",
)
FILE_LEVEL_KINDS = ("gbk_encoding",)
STRUCTURAL_KINDS = ("row_cut_short", "extra_delimiter")
MANIFEST_COLUMNS = ["file", "row", "column", "kind", "detail"]

_ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])
_USCC_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_INDEX[ord(_c)] = _i
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


class GenerateError(Exception):
    """A bad generator argument or missing reference data: a user error, no traceback."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass
class GenerateResult:
    """What ``generate`` wrote."""

    out: Path
    manifest: Path
    files: list[Path]
    counts: dict[str, int]
    defects: dict[str, int] = field(default_factory=dict)
    fmt: str = "csv"
    seconds: float = 0.0

    def summary(self) -> Any:
        """A rich table: rows per extract, files and defects by kind."""
        from rich.table import Table

        table = Table(title=f"generated raw extracts in {self.out} ({self.fmt})")
        table.add_column("what")
        table.add_column("count", justify="right")
        for key, value in self.counts.items():
            table.add_row(key.replace("_", " "), f"{value:,}")
        table.add_row("files", f"{len(self.files):,}")
        for kind, n in sorted(self.defects.items()):
            table.add_row(f"defect: {kind}", f"{n:,}")
        table.add_row("manifest", str(self.manifest))
        if self.seconds:
            table.add_row("seconds", f"{self.seconds:.1f}")
        return table


def parse_years(text: str) -> tuple[int, int]:
    """``"2024-2025"`` → ``(2024, 2025)``; ``"2025"`` → ``(2025, 2025)``."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise GenerateError(f"--years must look like 2024-2025, got {text!r}") from None
    if last < first:
        raise GenerateError(f"--years {text!r}: the last year is before the first")
    return first, last


# ---------------------------------------------------------------------------------------------
# Reference data (seeds/)
# ---------------------------------------------------------------------------------------------
def _read_seed(seeds_dir: Path, name: str) -> list[dict[str, str]]:
    path = seeds_dir / f"{name}.csv"
    if not path.exists():
        raise GenerateError(f"reference seed {path} is missing (the generator reads seeds/)")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "t", "y")


@dataclass
class _Ref:
    province: str
    county_codes: list[str]
    county_names: list[str]
    county_urban: np.ndarray
    county_pref: np.ndarray  # index into region_codes of each county's prefecture
    region_codes: list[str]  # counties, then prefectures, then the province
    region_names: list[str]
    other_codes: list[str]  # counties of other provinces (migrants' origins)
    item_codes: list[str]
    item_theme: list[str]
    item_person: np.ndarray
    item_promised: np.ndarray
    item_online: np.ndarray
    item_dept: list[str]
    retired_by_successor: dict[str, list[str]]
    labels: dict[str, dict[str, str]]  # enum -> code -> raw Chinese value
    legal_forms: list[str]
    size_classes: list[str]
    industries: list[str]


def _load_reference(seeds_dir: Path, province: str) -> _Ref:
    regions = _read_seed(seeds_dir, "ref_regions")
    provinces = {r["region_code"]: r["region_name"] for r in regions if r["level"] == "province"}
    if province not in provinces:
        sample = ", ".join(sorted(provinces)[:6])
        raise GenerateError(
            f"unknown province code {province!r}: expected a GB/T 2260 province code from "
            f"seeds/ref_regions.csv (e.g. {sample} …)"
        )
    counties = [r for r in regions if r["level"] == "county" and r["province_code"] == province]
    if not counties:
        raise GenerateError(f"province {province} has no counties in seeds/ref_regions.csv")
    counties.sort(key=lambda r: r["region_code"])
    names = {r["region_code"]: r["region_name"] for r in regions}
    prefs = sorted({r["prefecture_code"] or r["parent_code"] for r in counties})
    region_codes = [r["region_code"] for r in counties] + prefs + [province]
    pref_index = {code: len(counties) + i for i, code in enumerate(prefs)}
    other = sorted(
        r["region_code"]
        for r in regions
        if r["level"] == "county" and r["province_code"] != province
    )
    items = _read_seed(seeds_dir, "ref_service_items")
    if not items:
        raise GenerateError("seeds/ref_service_items.csv has no service items")
    changes = _read_seed(seeds_dir, "ref_region_code_changes")
    retired: dict[str, list[str]] = {}
    for row in changes:
        retired.setdefault(row["successor_code"], []).append(row["retired_code"])
    labels: dict[str, dict[str, str]] = {}
    for row in _read_seed(seeds_dir, "ref_channels"):
        labels.setdefault("channel", {})[row["channel_code"]] = row["channel_name_zh"]
    for row in _read_seed(seeds_dir, "ref_case_statuses"):
        labels.setdefault("case_status", {})[row["status_code"]] = row["status_name_zh"]
    for row in _read_seed(seeds_dir, "ref_person_enums"):
        labels.setdefault(row["enum"], {})[row["value_code"]] = row["value_zh"]
    ent_enums: dict[str, list[str]] = {}
    for row in _read_seed(seeds_dir, "ref_enterprise_enums"):
        ent_enums.setdefault(row["enum"], []).append(row["value_zh"])
        labels.setdefault("ent_" + row["enum"], {})[row["value_code"]] = row["value_zh"]
    industries = [r["industry_section"] for r in _read_seed(seeds_dir, "ref_industries")]
    return _Ref(
        province=province,
        county_codes=[r["region_code"] for r in counties],
        county_names=[r["region_name"] for r in counties],
        county_urban=np.array([r["urban_rural"] == "urban" for r in counties]),
        county_pref=np.array(
            [pref_index[r["prefecture_code"] or r["parent_code"]] for r in counties]
        ),
        region_codes=region_codes,
        region_names=[names.get(c, c) for c in region_codes],
        other_codes=other,
        item_codes=[r["item_code"] for r in items],
        item_theme=[r["theme_code"] for r in items],
        item_person=np.array([r["applicant_type"] == "person" for r in items]),
        item_promised=np.array([int(r["promised_days"] or 0) for r in items]),
        item_online=np.array([_truthy(r["online_capable"]) for r in items]),
        item_dept=[r["department"] for r in items],
        retired_by_successor=retired,
        labels=labels,
        legal_forms=ent_enums.get("legal_form", list(prof.LEGAL_FORM_SHARES)),
        size_classes=ent_enums.get("size_class", list(prof.SIZE_DEMAND)),
        industries=industries,
    )


def _label(ref: _Ref, enum: str, code: str) -> str:
    try:
        return ref.labels[enum][code]
    except KeyError:
        raise GenerateError(f"reference seeds lack {enum} value {code!r}") from None


# ---------------------------------------------------------------------------------------------
# Resident-ID address codes valid at the birth year (GB/T 2260 history in python-stdnum)
# ---------------------------------------------------------------------------------------------
@functools.cache
def _stdnum_locations() -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """code -> (name, [(first year, last year)]) from python-stdnum's GB/T 2260 history."""
    text = (importlib.resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    out: dict[str, tuple[str, list[tuple[int, int]]]] = {}
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
                spans.append((int(first) if first else 0, int(last) if last else 9999))
            else:
                name = part
                spans.append((0, 9999))
        out[prefix + code] = (name, spans)
    return out


def _address_code_table(
    codes: list[str], names: dict[str, str], retired: dict[str, list[str]], years: range
) -> np.ndarray:
    """[len(codes), len(years)] int: the address code a person registered at ``code`` and born
    in ``year`` carries in the ID — the code itself when it existed then, else a predecessor
    (code changes, or the same name in the same prefecture), else the prefecture's code."""
    loc = _stdnum_locations()
    loc_codes = sorted(loc)
    loc_index = {c: i for i, c in enumerate(loc_codes)}
    loc_int = np.array([int(c) for c in loc_codes])
    y0, ny = years.start, len(years)
    valid = np.zeros((len(loc_codes), ny), dtype=bool)
    for i, c in enumerate(loc_codes):
        for a, b in loc[c][1]:
            lo, hi = max(a - y0, 0), min(b - y0, ny - 1)
            if lo <= hi:
                valid[i, lo : hi + 1] = True
    by_prefix: dict[str, list[str]] = {}
    by_province: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for c in loc_codes:
        by_prefix.setdefault(c[:4], []).append(c)
        by_province.setdefault(c[:2], []).append(c)
        by_name.setdefault(loc[c][0][:2], []).append(c)
    generic = ("市辖", "市区", "县", "省直辖", "自治区直辖", "直辖")
    table = np.zeros((len(codes), ny), dtype=np.int64)
    for i, code in enumerate(codes):
        name = names.get(code, "")
        stem = name[:-1] if len(name) > 2 else name
        stem = "" if stem.startswith(generic) else stem
        nearby = by_prefix.get(code[:4], [])
        same_name = [c for c in nearby if c != code and stem and loc[c][0].startswith(stem)]
        urban = [c for c in nearby if loc[c][0] in ("市区", "市辖区")]
        pref_name = names.get(code[:4] + "00", "")
        pref_stem = "" if pref_name.startswith(generic) else pref_name[:2]
        old_pref = [
            c
            for c in by_province.get(code[:2], [])
            if pref_stem and c[:4] != code[:4] and loc[c][0].startswith(pref_stem)
        ]
        ordered = [code, *retired.get(code, []), *same_name, *urban, *nearby, *old_pref]
        idx = np.array([loc_index[c] for c in ordered if c in loc_index], dtype=np.int64)
        ok = valid[idx] if len(idx) else np.zeros((0, ny), dtype=bool)
        found = ok.any(axis=0)
        row = np.where(found, loc_int[idx[ok.argmax(axis=0)]] if len(idx) else 0, 0)
        missing = np.flatnonzero(~found)
        if len(missing):
            # e.g. Chongqing before 1997 (then part of Sichuan): the same name elsewhere,
            # else the numerically nearest code valid that year
            stems = [x for x in (stem, pref_stem) if x]
            far = np.array(
                sorted(
                    {
                        loc_index[c]
                        for x in stems
                        for c in by_name.get(x[:2], [])
                        if loc[c][0].startswith(x)
                    }
                ),
                dtype=np.int64,
            )
            for j in missing:
                hit = far[valid[far, j]] if len(far) else far
                if len(hit):
                    row[j] = loc_int[hit[0]]
                else:
                    alive = loc_int[valid[:, j]]
                    row[j] = alive[np.argmin(np.abs(alive - int(code)))]
        table[i] = row
    return table


# ---------------------------------------------------------------------------------------------
# Calendar and batches
# ---------------------------------------------------------------------------------------------
@dataclass
class _Calendar:
    day0: int  # days since 1970-01-01 of 1 January of the first year
    n_days: int
    is_workday: np.ndarray
    is_spring_festival: np.ndarray
    month: np.ndarray  # 0..11
    year: np.ndarray
    workdays: np.ndarray  # day indices of working days
    cum: np.ndarray  # working days in [0, i]

    @property
    def end_secs(self) -> int:
        return (self.day0 + self.n_days) * DAY - 1

    def first_workday_pos(self, day: np.ndarray) -> np.ndarray:
        """Position in ``workdays`` of the first working day on or after ``day``."""
        return self.cum[day] - self.is_workday[day]


def _calendar(first: int, last: int) -> _Calendar:
    lo, hi = CALENDAR_YEARS
    if first < lo or last > hi:
        raise GenerateError(
            f"--years {first}-{last} is outside the official working-day calendar "
            f"{lo}–{hi} (chinese-calendar knows holidays and make-up days only for those years)"
        )
    import chinese_calendar

    start = dt.date(first, 1, 1)
    n_days = (dt.date(last, 12, 31) - start).days + 1
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    try:
        is_wd = np.array([chinese_calendar.is_workday(d) for d in days])
        spring = np.array(
            [chinese_calendar.get_holiday_detail(d)[1] == "Spring Festival" for d in days]
        )
    except NotImplementedError as exc:
        raise GenerateError(f"working-day calendar unavailable: {exc}") from None
    cum = np.cumsum(is_wd)
    return _Calendar(
        day0=(start - EPOCH).days,
        n_days=n_days,
        is_workday=is_wd,
        is_spring_festival=spring,
        month=np.array([d.month - 1 for d in days]),
        year=np.array([d.year for d in days]),
        workdays=np.flatnonzero(is_wd),
        cum=cum,
    )


def _cutoffs(cal: _Calendar, batches: int) -> np.ndarray:
    """Day index of each batch's cut-off: evenly spread, the last on 31 December."""
    if batches < 1:
        raise GenerateError("--batches must be at least 1")
    if batches > cal.n_days:
        raise GenerateError(f"--batches {batches} exceeds the {cal.n_days} days of the period")
    return np.array([round((k + 1) * cal.n_days / batches) - 1 for k in range(batches)])


# ---------------------------------------------------------------------------------------------
# Vectorised strings and check digits
# ---------------------------------------------------------------------------------------------
def _strings(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, width) uint8 ASCII matrix as a string array."""
    n, width = mat.shape
    data = np.ascontiguousarray(mat, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64).copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = 48 + v % 10
        v //= 10
    return out


def resident_id_matrix(id17: np.ndarray) -> np.ndarray:
    """18-char ASCII matrix of resident IDs (GB 11643: ISO 7064 MOD 11-2 check character)."""
    mat = np.empty((len(id17), 18), dtype=np.uint8)
    mat[:, :17] = _digits(id17, 17)
    total = (mat[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS
    check = (12 - total % 11) % 11
    mat[:, 17] = np.where(check == 10, ord("X"), 48 + check)
    return mat


def uscc_check(mat17: np.ndarray) -> np.ndarray:
    """GB 32100 check characters (ASCII) of an (n, 17) matrix over the 31-symbol alphabet."""
    values = _USCC_INDEX[mat17]
    check = (31 - (values @ _USCC_WEIGHTS) % 31) % 31
    return np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)[check]


def _org_check(mat8: np.ndarray) -> np.ndarray:
    """GB 11714 organisation-code check character for an (n, 8) ASCII matrix."""
    vals = np.where(mat8 >= 65, mat8.astype(np.int64) - 55, mat8.astype(np.int64) - 48)
    c = 11 - (vals @ _ORG_WEIGHTS) % 11
    return np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), 48 + c)).astype(np.uint8)


def _timestamps(secs: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(secs.astype(np.int64), type=pa.timestamp("s"), mask=mask)
    return arr.cast(pa.string())


def _dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=mask).cast(pa.string())


def _ints(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=mask).cast(pa.string())


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(pa.array(idx.astype(np.int64)))


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _const(value: str | None, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, type=pa.string()), n)


def _choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Weighted draws (vectorised inverse CDF)."""
    cum = np.cumsum(np.asarray(weights, dtype=float))
    if size == 0 or cum[-1] <= 0:
        return np.zeros(size, dtype=np.int64)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(cum) - 1)


def _secs(cal: _Calendar, day: np.ndarray, sec_of_day: np.ndarray) -> np.ndarray:
    return (cal.day0 + day.astype(np.int64)) * DAY + sec_of_day.astype(np.int64)


def _hours(rng: np.random.Generator, profile: np.ndarray, size: int) -> np.ndarray:
    hour = _choice(rng, profile, size)
    return hour * 3600 + rng.integers(0, 3600, size)


# ---------------------------------------------------------------------------------------------
# Population register
# ---------------------------------------------------------------------------------------------
@dataclass
class _Persons:
    n: int
    kind: np.ndarray  # 0 initial register, 1 born in period, 2 arrived in period
    birth_day: np.ndarray  # day index relative to day0 (negative = before the period)
    male: np.ndarray
    res0: np.ndarray  # county index
    res1: np.ndarray  # county after an internal move
    move_day: np.ndarray  # day of the internal move (huge if none)
    start_day: np.ndarray  # first day present (very negative for the initial register)
    end_day: np.ndarray  # death or move-out day (huge if none)
    event: np.ndarray  # 0 none, 1 death, 2 moved out, 3 moved within the province
    event_secs: np.ndarray
    hukou: np.ndarray  # index into hukou_codes
    hukou_codes: list[str]
    id17: np.ndarray
    surname: np.ndarray
    given1: np.ndarray
    given2: np.ndarray
    phone: np.ndarray  # 0 = none
    status_day0: np.ndarray
    updated0: np.ndarray


NEVER = 10**7


def _county_weights(rng: np.random.Generator, urban: np.ndarray, density: float) -> np.ndarray:
    w = np.where(urban, density, 1.0) * rng.lognormal(0.0, 0.45, len(urban))
    return w / w.sum()


def _census_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    starts, shares = prof.census_band_shares()
    band = _choice(rng, shares, n)
    width = np.where(starts[band] >= 95, 8.0, 5.0)
    return starts[band] + rng.random(n) * width


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    seconds = np.array(list(prof.PHONE_SECOND_DIGIT))
    p = np.array(list(prof.PHONE_SECOND_DIGIT.values()))
    second = seconds[_choice(rng, p, n)]
    return 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, n)


PERSON_BLOCK = 250_000


def _make_persons(
    rng: np.random.Generator,
    ref: _Ref,
    cal: _Calendar,
    n: int,
    first_year: int,
    last_year: int,
    county_w: np.ndarray,
    addr_table: np.ndarray,
    other_pick: list[str],
) -> _Persons:
    """The population register, drawn in blocks (bounded temporaries), then given unique IDs."""
    years = last_year - first_year + 1
    n_birth = round(n * prof.BIRTH_RATE * years)
    n_in = round(n * prof.IN_MIGRATION_RATE * years)
    n_init = max(n - n_birth - n_in, 1)
    n_birth = min(n_birth, n - n_init)
    n_in = n - n_init - n_birth
    blocks: list[_Persons] = []
    for lo in range(0, n, PERSON_BLOCK):
        hi = min(lo + PERSON_BLOCK, n)
        b_init = max(0, min(hi, n_init) - lo)
        b_birth = max(0, min(hi, n_init + n_birth) - max(lo, n_init))
        b_in = hi - lo - b_init - b_birth
        blocks.append(
            _make_person_block(
                rng,
                ref,
                cal,
                b_init,
                b_birth,
                b_in,
                first_year,
                last_year,
                county_w,
                addr_table,
                other_pick,
            )
        )
    arrays = {
        f: np.concatenate([getattr(b, f) for b in blocks])
        for f in _Persons.__dataclass_fields__
        if isinstance(getattr(blocks[0], f), np.ndarray)
    }
    del blocks
    # the ID sequence: unique within (address code, birth date), odd for men, even for women
    male = arrays["male"]
    key = (arrays["id17"] // 1000) * 2 + male
    order = np.argsort(key, kind="stable")
    sk = key[order]
    first_pos = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    group_start = np.repeat(first_pos, np.diff(np.r_[first_pos, len(sk)]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    del order, sk, group_start
    if rank.max(initial=0) >= 499:
        raise GenerateError("too many persons share a birth date and region for unique IDs")
    k = ((key * 2654435761) % 300 + rank) % 499
    arrays["id17"] = arrays["id17"] + 2 * k + np.where(male, 1, 2)
    return _Persons(n=n, hukou_codes=ref.county_codes + other_pick, **arrays)


def _make_person_block(
    rng: np.random.Generator,
    ref: _Ref,
    cal: _Calendar,
    n_init: int,
    n_birth: int,
    n_in: int,
    first_year: int,
    last_year: int,
    county_w: np.ndarray,
    addr_table: np.ndarray,
    other_pick: list[str],
) -> _Persons:
    years = last_year - first_year + 1
    n = n_init + n_birth + n_in
    kind = np.concatenate([np.zeros(n_init), np.ones(n_birth), np.full(n_in, 2)]).astype(np.int8)
    mid_first = (dt.date(first_year, 7, 1) - dt.date(first_year, 1, 1)).days
    last_day = cal.n_days - 1

    age = np.empty(n)
    age[:n_init] = _census_ages(rng, n_init)
    age[n_init + n_birth :] = np.clip(rng.normal(31, 9, n_in), 16, 65)
    birth = np.empty(n, dtype=np.int64)
    birth[:n_init] = mid_first - np.floor(age[:n_init] * 365.2425).astype(np.int64)
    late = birth[:n_init] >= 0  # the initial register predates the period
    birth[:n_init][late] = -rng.integers(1, 366, int(late.sum()))
    b_days = rng.integers(0, max(last_day - 60, 1), n_birth)
    birth[n_init : n_init + n_birth] = b_days
    arrival = rng.integers(0, last_day + 1, n_in)
    birth[n_init + n_birth :] = arrival - np.floor(age[n_init + n_birth :] * 365.2425).astype(int)

    age_mid = (mid_first - birth) / 365.2425
    p_male = np.full(n, prof.MALE_SHARE_BY_AGE[0][1])
    for a, share in prof.MALE_SHARE_BY_AGE[1:]:
        p_male[age_mid >= a] = share
    male = rng.random(n) < p_male

    res0 = _choice(rng, county_w, n).astype(np.int32)
    n_cty = len(ref.county_codes)
    u = rng.random(n)
    hukou = res0.copy()
    other_cty = u > prof.HUKOU_SAME_SHARE
    hukou[other_cty] = _choice(rng, county_w, int(other_cty.sum()))
    out_prov = (u > 1 - prof.HUKOU_OTHER_PROVINCE) | (kind == 2) & (rng.random(n) < 0.6)
    out_prov &= kind != 1
    hukou[out_prov] = n_cty + rng.integers(0, len(other_pick), int(out_prov.sum()))
    hukou[kind == 1] = res0[kind == 1]

    # the ID: address code valid at the birth year, birth date, sequence, check digit
    birth_dates = (cal.day0 + birth).astype("datetime64[D]")
    birth_year = birth_dates.astype("datetime64[Y]").astype(np.int64) + 1970
    addr = addr_table[hukou, np.clip(birth_year - MIN_BIRTH_YEAR, 0, addr_table.shape[1] - 1)]
    id17 = addr * 10**11 + _ymd(birth_dates) * 1000  # sequence added by _make_persons

    # names and phones
    s_share = np.array([s for _, s in prof.SURNAMES])
    surname = _choice(rng, s_share, n).astype(np.int16)
    n_m, n_f = len(prof.GIVEN_MALE), len(prof.GIVEN_FEMALE)
    g1 = np.where(male, rng.integers(0, n_m, n), n_m + rng.integers(0, n_f, n))
    g2 = np.where(male, rng.integers(0, n_m, n), n_m + rng.integers(0, n_f, n))
    g2 = np.where(rng.random(n) < prof.TWO_CHAR_GIVEN_SHARE, g2, n_m + n_f)  # "" = none
    phone = _phones(rng, n)
    no_phone = (age_mid < prof.PHONE_MIN_AGE) | (rng.random(n) < prof.NO_PHONE_ADULT_SHARE)
    phone[no_phone & (kind != 2)] = 0

    # register dates
    start = np.full(n, -NEVER, dtype=np.int64)
    start[kind == 1] = np.minimum(b_days + rng.integers(7, 60, n_birth), last_day)
    start[kind == 2] = arrival
    status_day = birth.copy()
    migrated = (hukou != res0) & (kind == 0)
    adult_from = birth + 18 * 365
    span = np.maximum(-1 - adult_from, 1)
    status_day[migrated] = np.minimum(adult_from + (rng.random(n) * span).astype(int), -1)[migrated]
    status_day[kind == 2] = arrival
    upd_from = np.maximum(status_day, -5 * 365)
    upd_day = np.where(kind == 0, upd_from + (rng.random(n) * (-1 - upd_from)).astype(int), start)
    upd_day = np.where(kind == 0, np.minimum(upd_day, -1), upd_day)
    updated0 = _secs(cal, upd_day, _hours(rng, prof.OFFLINE_HOURS, n))

    # changes during the period (initial register only): death, move out, move within
    q = 1 - (1 - prof.annual_mortality(np.maximum(age_mid, 0))) ** years
    p_out = prof.OUT_MIGRATION_RATE * years
    p_move = prof.INTERNAL_MOVE_RATE * years
    u = rng.random(n)
    event = np.zeros(n, dtype=np.int8)
    event[u < q] = 1
    event[(u >= q) & (u < q + p_out)] = 2
    event[(u >= q + p_out) & (u < q + p_out + p_move)] = 3
    event[kind != 0] = 0
    ev_day = rng.integers(0, last_day + 1, n)
    ev_rec = np.minimum(ev_day + rng.integers(0, 15, n), last_day)
    event_secs = _secs(cal, ev_rec, _hours(rng, prof.OFFLINE_HOURS, n))
    end = np.where((event == 1) | (event == 2), ev_day, NEVER)
    move_day = np.where(event == 3, ev_day, NEVER)
    res1 = res0.copy()
    movers = event == 3
    res1[movers] = (
        res0[movers] + 1 + rng.integers(0, max(n_cty - 1, 1), int(movers.sum()))
    ) % n_cty
    i32 = np.int32
    return _Persons(
        n=n,
        kind=kind,
        birth_day=birth.astype(i32),
        male=male,
        res0=res0.astype(i32),
        res1=res1.astype(i32),
        move_day=move_day.astype(i32),
        start_day=start.astype(i32),
        end_day=end.astype(i32),
        event=event,
        event_secs=event_secs,
        hukou=hukou.astype(i32),
        hukou_codes=[],
        id17=id17,
        surname=surname,
        given1=g1.astype(np.int16),
        given2=g2.astype(np.int16),
        phone=phone,
        status_day0=status_day.astype(i32),
        updated0=updated0,
    )


def _ymd(dates: np.ndarray) -> np.ndarray:
    d = dates.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y * 10_000 + m * 100 + day


_SURNAME_POOL = pa.array([s for s, _ in prof.SURNAMES])
_GIVEN_POOL = pa.array(prof.GIVEN_MALE + prof.GIVEN_FEMALE + [""])


def _person_names(p: _Persons, idx: np.ndarray) -> pa.Array:
    return _join(
        _take(_SURNAME_POOL, p.surname[idx]),
        _take(_GIVEN_POOL, p.given1[idx]),
        _take(_GIVEN_POOL, p.given2[idx]),
    )


def _person_ids(p: _Persons, idx: np.ndarray) -> pa.Array:
    return _strings(resident_id_matrix(p.id17[idx]))


def _person_rows(
    ref: _Ref, cal: _Calendar, p: _Persons, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Register rows of persons lo..hi: the first row of each, then its change (if any)."""
    idx = np.arange(lo, hi)
    ev = idx[p.event[idx] > 0]
    rows = np.concatenate([idx, ev])
    is_ev = np.r_[np.zeros(len(idx), bool), np.ones(len(ev), bool)]
    county = pa.array(ref.county_codes)
    res = np.where(is_ev & (p.event[rows] == 3), p.res1[rows], p.res0[rows])
    status_code = np.where(
        is_ev & (p.event[rows] == 1), 2, np.where(is_ev & (p.event[rows] == 2), 1, 0)
    )
    status_pool = pa.array(
        [_label(ref, "status", c) for c in ("resident", "moved_out", "deceased")]
    )
    ev_day = (p.event_secs[rows] // DAY) - cal.day0
    move_or_end = np.where(p.event[rows] == 3, p.move_day[rows], p.end_day[rows])
    status_day = np.where(is_ev, np.minimum(move_or_end, ev_day), p.status_day0[rows])
    updated = np.where(is_ev, p.event_secs[rows], p.updated0[rows])
    phone = p.phone[rows]
    cols = {
        "person_id": _person_ids(p, rows),
        "name": _person_names(p, rows),
        "phone": _ints(phone, mask=phone == 0),
        "birth_date": _dates(cal.day0 + p.birth_day[rows]),
        "sex": _take(
            pa.array([_label(ref, "sex", "female"), _label(ref, "sex", "male")]),
            p.male[rows].astype(np.int64),
        ),
        "hukou_region": _take(pa.array(p.hukou_codes), p.hukou[rows]),
        "residence_region": _take(county, res),
        "status": _take(status_pool, status_code),
        "status_date": _dates(cal.day0 + status_day),
        "updated_at": _timestamps(updated),
    }
    return cols, updated


# ---------------------------------------------------------------------------------------------
# Enterprise register
# ---------------------------------------------------------------------------------------------
@dataclass
class _Enterprises:
    n: int
    region: np.ndarray
    industry: np.ndarray  # index into ref.industries
    form: np.ndarray  # index into ref.legal_forms
    size: np.ndarray  # index into ref.size_classes
    established: np.ndarray  # day index
    closed: np.ndarray  # day index of closure (NEVER if active)
    closed_before: np.ndarray  # closed before the period (appears closed in the first row)
    revoked: np.ndarray
    close_secs: np.ndarray
    updated0: np.ndarray
    capital_cents: np.ndarray
    codes: pa.Array
    names: pa.Array
    phone: np.ndarray


def _make_enterprises(
    rng: np.random.Generator, ref: _Ref, cal: _Calendar, m: int, years: int
) -> _Enterprises:
    last_day = cal.n_days - 1
    county_w = _county_weights(rng, ref.county_urban, prof.URBAN_ENTERPRISE_DENSITY)
    region = _choice(rng, county_w, m)
    ind_w = np.array([prof.INDUSTRY_SHARES.get(s, 0.1) for s in ref.industries])
    industry = _choice(rng, ind_w, m)
    forms = ref.legal_forms
    form_w = np.array([prof.LEGAL_FORM_SHARES.get(f, 0.0) for f in forms])
    form = _choice(rng, form_w, m)
    if "农民专业合作社" in forms and "A" in ref.industries:
        in_a = industry == ref.industries.index("A")
        coop = in_a & (rng.random(m) < prof.COOPERATIVE_SHARE_IN_A)
        form[coop] = forms.index("农民专业合作社")
    size = np.empty(m, dtype=np.int64)
    for f_i, f in enumerate(forms):
        sel = form == f_i
        dist = prof.SIZE_BY_FORM.get(f, prof.SIZE_BY_FORM["*"])
        size[sel] = _choice(
            rng, np.array([dist.get(s, 0.0) for s in ref.size_classes]), int(sel.sum())
        )
    median = np.array([prof.CAPITAL_MEDIAN.get(s, 50.0) for s in ref.size_classes])[size]
    capital = np.round(median * rng.lognormal(0, 0.8, m) * 100).astype(np.int64)
    capital = np.maximum(capital, 100)

    n_open = min(round(m * prof.ENTERPRISE_OPENING_RATE * years), m - 1)
    new = np.zeros(m, dtype=bool)
    new[rng.permutation(m)[:n_open]] = True
    est = -np.minimum(rng.exponential(prof.ENTERPRISE_MEAN_AGE_YEARS * 365, m), 40 * 365)
    est = est.astype(np.int64) - 1
    est[new] = rng.integers(0, last_day + 1, int(new.sum()))
    closed_before = ~new & (rng.random(m) < prof.ENTERPRISE_CLOSED_BEFORE)
    closed = np.full(m, NEVER, dtype=np.int64)
    span = np.maximum(-1 - est, 1)
    closed[closed_before] = (est + 30 + (rng.random(m) * span).astype(np.int64))[closed_before]
    closed[closed_before] = np.minimum(closed[closed_before], -1)
    p_close = 1 - (1 - prof.ENTERPRISE_CLOSURE_RATE) ** years
    closing = ~closed_before & (rng.random(m) < p_close)
    c_day = np.maximum(est + 30, 0) + (rng.random(m) * (last_day - np.maximum(est + 30, 0)))
    closing &= c_day.astype(np.int64) <= last_day
    closed[closing] = c_day.astype(np.int64)[closing]
    revoked = rng.random(m) < prof.REVOKED_SHARE
    close_rec = np.minimum(np.maximum(closed, 0) + rng.integers(0, 5, m), last_day)
    close_secs = _secs(cal, close_rec, _hours(rng, prof.OFFLINE_HOURS, m))
    upd_day = np.where(
        new,
        est,
        np.where(closed_before, closed, est + (rng.random(m) * (-1 - est)).astype(np.int64)),
    )
    upd_day = np.where(new, upd_day, np.minimum(upd_day, -1))
    updated0 = _secs(cal, upd_day, _hours(rng, prof.OFFLINE_HOURS, m))

    # credit codes: authority + entity type, region, organisation code (+ its check), check
    mat = np.empty((m, 18), dtype=np.uint8)
    auth = np.array([prof.CREDIT_AUTHORITY.get(f, prof.CREDIT_AUTHORITY["*"]) for f in forms])
    auth_codes = np.frombuffer("".join(auth).encode(), dtype=np.uint8).reshape(-1, 2)
    mat[:, 0:2] = auth_codes[form]
    region_int = np.array([int(c) for c in ref.county_codes], dtype=np.int64)[region]
    mat[:, 2:8] = _digits(region_int, 6)
    serial = (np.arange(m, dtype=np.int64) * 7_368_787 + int(rng.integers(0, 10**8))) % 10**8
    mat[:, 8:16] = _digits(serial, 8)
    est_year = (cal.day0 + est).astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970
    ma = est_year >= 2015
    alpha = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
    ser31 = (np.arange(m, dtype=np.int64) * 48_271 + int(rng.integers(0, 31**6))) % 31**6
    tail = np.empty((m, 6), dtype=np.uint8)
    v = ser31.copy()
    for j in range(5, -1, -1):
        tail[:, j] = alpha[v % 31]
        v //= 31
    mat[ma, 8] = ord("M")
    mat[ma, 9] = ord("A")
    mat[ma, 10:16] = tail[ma]
    mat[:, 16] = _org_check(mat[:, 8:16])
    mat[:, 17] = uscc_check(mat[:, :17])
    codes = _strings(mat)

    # names: prefecture (or county) stem + trade name + industry word + legal-form suffix
    pref_names = [ref.region_names[i] for i in ref.county_pref]
    stems = pa.array([(n[:-1] if len(n) > 2 and n[-1] in "市县区州盟" else n) for n in pref_names])
    cty_stems = pa.array([(n[:-1] if len(n) > 2 else n) for n in ref.county_names])
    trade = pa.array(prof.TRADE_NAME_CHARS)
    nt = len(prof.TRADE_NAME_CHARS)
    words: list[str] = []
    word_idx = np.empty(m, dtype=np.int64)
    pick = rng.random(m)
    for s_i, sec in enumerate(ref.industries):
        opts = prof.INDUSTRY_WORDS.get(sec, ["实业"])
        sel = industry == s_i
        word_idx[sel] = len(words) + (pick[sel] * len(opts)).astype(np.int64)
        words.extend(opts)
    suffix = pa.array([prof.FORM_SUFFIX.get(f, "有限公司") for f in forms])
    shop = pa.array(prof.SHOP_WORDS)
    is_shop = np.array([f == "个体工商户" for f in forms])[form]
    place = np.where(is_shop, 0, 1)
    names = pc.if_else(
        pa.array(place == 1),
        _join(
            _take(stems, region),
            _take(trade, rng.integers(0, nt, m)),
            _take(trade, rng.integers(0, nt, m)),
            _take(pa.array(words), word_idx),
            _take(suffix, form),
        ),
        _join(
            _take(cty_stems, region),
            _take(trade, rng.integers(0, nt, m)),
            _take(trade, rng.integers(0, nt, m)),
            _take(shop, rng.integers(0, len(prof.SHOP_WORDS), m)),
        ),
    )
    return _Enterprises(
        n=m,
        region=region,
        industry=industry,
        form=form,
        size=size,
        established=est,
        closed=closed,
        closed_before=closed_before,
        revoked=revoked,
        close_secs=close_secs,
        updated0=updated0,
        capital_cents=capital,
        codes=codes,
        names=names,
        phone=_phones(rng, m),
    )


def _enterprise_rows(
    ref: _Ref, cal: _Calendar, e: _Enterprises, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    idx = np.arange(lo, hi)
    ev = idx[(e.closed[idx] >= 0) & (e.closed[idx] < NEVER)]
    rows = np.concatenate([idx, ev])
    is_ev = np.r_[np.zeros(len(idx), bool), np.ones(len(ev), bool)]
    shows_closed = is_ev | e.closed_before[rows]
    status = np.where(shows_closed, np.where(e.revoked[rows], 2, 1), 0)
    status_pool = pa.array(
        [_label(ref, "ent_status", c) for c in ("active", "deregistered", "revoked")]
    )
    cents = e.capital_cents[rows]
    capital = _join(
        _ints(cents // 100), _const(".", len(rows)), pc.utf8_lpad(_ints(cents % 100), 2, "0")
    )
    updated = np.where(is_ev, e.close_secs[rows], e.updated0[rows])
    cols = {
        "credit_code": e.codes.take(pa.array(rows)),
        "name": e.names.take(pa.array(rows)),
        "legal_form": _take(pa.array(ref.legal_forms), e.form[rows]),
        "industry": _take(pa.array(ref.industries), e.industry[rows]),
        "size_class": _take(pa.array(ref.size_classes), e.size[rows]),
        "registered_capital": capital,
        "established_date": _dates(cal.day0 + e.established[rows]),
        "closed_date": _dates(
            cal.day0 + np.where(shows_closed, e.closed[rows], 0), mask=~shows_closed
        ),
        "status": _take(status_pool, status),
        "region": _take(pa.array(ref.county_codes), e.region[rows]),
        "updated_at": _timestamps(updated),
    }
    return cols, updated


# ---------------------------------------------------------------------------------------------
# Approval cases
# ---------------------------------------------------------------------------------------------
@dataclass
class _World:
    ref: _Ref
    cal: _Calendar
    persons: _Persons
    ents: _Enterprises | None
    person_themes: list[str]
    person_theme_p: np.ndarray
    cell_p: np.ndarray  # [theme, cell] cumulative probabilities
    cell_order: np.ndarray
    cell_start: np.ndarray
    cell_count: np.ndarray
    ent_themes: list[str]
    ent_theme_p: np.ndarray
    ent_cum: list[np.ndarray]
    theme_items: dict[str, tuple[np.ndarray, np.ndarray]]
    day_cum: dict[str, np.ndarray]
    person_share: float
    other_pick: list[str]
    addr_table: np.ndarray
    cut_end: np.ndarray  # last second of each batch (epoch seconds, local time)


N_AGES = 101


def _day_weights(cal: _Calendar, theme: str, first_year: int) -> np.ndarray:
    w = prof.MONTH_FACTOR[cal.month] * prof.theme_month_factor(theme)[cal.month]
    w = w * (1 + prof.YEARLY_GROWTH * (cal.year - first_year))
    w = w * np.where(cal.is_workday, 1.0, prof.ONLINE_NONWORKDAY)
    w = w * np.where(cal.is_spring_festival, prof.SPRING_FESTIVAL_ONLINE, 1.0)
    return np.cumsum(w)


def _build_world(
    ref: _Ref,
    cal: _Calendar,
    persons: _Persons,
    ents: _Enterprises | None,
    first_year: int,
    other_pick: list[str],
    addr_table: np.ndarray,
    cut_end: np.ndarray,
) -> _World:
    p = persons
    mid = cal.n_days // 2
    age = np.clip(((mid - p.birth_day) / 365.2425).astype(np.int64), 0, N_AGES - 1)
    cell = age * 2 + p.male
    order = np.argsort(cell, kind="stable")
    count = np.bincount(cell, minlength=2 * N_AGES)
    start = np.r_[0, np.cumsum(count)[:-1]]
    ages = np.repeat(np.arange(N_AGES), 2).astype(float)
    males = np.tile([False, True], N_AGES)

    items_by_theme: dict[str, list[int]] = {}
    for i, theme in enumerate(ref.item_theme):
        key = ("P:" if ref.item_person[i] else "E:") + theme
        items_by_theme.setdefault(key, []).append(i)
    theme_items = {}
    for key, idx in items_by_theme.items():
        arr = np.array(idx)
        zipf = 1.0 / (np.arange(len(arr)) + 1.0) ** 0.7
        theme_items[key] = (arr, np.cumsum(zipf))

    p_themes = sorted(k[2:] for k in theme_items if k.startswith("P:"))
    shares, cells = [], []
    for t in p_themes:
        share, profile = prof.PERSON_THEMES.get(t, prof.DEFAULT_PERSON_THEME)
        w = profile(ages, males) * count
        if w.sum() <= 0:
            w = count.astype(float)
        shares.append(share)
        cells.append(np.cumsum(w))
    e_themes = sorted(k[2:] for k in theme_items if k.startswith("E:"))
    if ents is None or ents.n == 0:
        e_themes = []
    e_shares, e_cum = [], []
    for t in e_themes:
        share, boost = prof.ENTERPRISE_THEMES.get(t, prof.DEFAULT_ENTERPRISE_THEME)
        assert ents is not None
        size_w = np.array([prof.SIZE_DEMAND.get(s, 1.0) for s in ref.size_classes])[ents.size]
        ind_w = np.array([boost.get(s, 1.0) for s in ref.industries])[ents.industry]
        w = size_w * ind_w * ~ents.closed_before
        e_shares.append(share)
        e_cum.append(np.cumsum(w))
    if not p_themes and not e_themes:
        raise GenerateError("the service catalog has no items to generate cases for")
    if not e_themes:
        person_share = 1.0
    elif not p_themes:
        person_share = 0.0
    else:
        person_share = prof.PERSON_CASE_SHARE_DEFAULT
    day_cum = {t: _day_weights(cal, t, first_year) for t in set(p_themes) | set(e_themes)}
    return _World(
        ref=ref,
        cal=cal,
        persons=p,
        ents=ents,
        person_themes=p_themes,
        person_theme_p=np.array(shares),
        cell_p=np.array(cells) if cells else np.zeros((0, 1)),
        cell_order=order,
        cell_start=start,
        cell_count=count,
        ent_themes=e_themes,
        ent_theme_p=np.array(e_shares),
        ent_cum=e_cum,
        theme_items=theme_items,
        day_cum=day_cum,
        person_share=person_share,
        other_pick=other_pick,
        addr_table=addr_table,
        cut_end=cut_end,
    )


def _draw_cum(rng: np.random.Generator, cum: np.ndarray, size: int) -> np.ndarray:
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(cum) - 1)


def _case_chunk(
    rng: np.random.Generator, w: _World, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    ref, cal, p = w.ref, w.cal, w.persons
    m = hi - lo
    last_day = cal.n_days - 1
    is_person = rng.random(m) < w.person_share
    pi = np.flatnonzero(is_person)
    ei = np.flatnonzero(~is_person)
    item = np.zeros(m, dtype=np.int64)
    day = np.zeros(m, dtype=np.int64)
    subject = np.zeros(m, dtype=np.int64)  # person or enterprise index
    region = np.zeros(m, dtype=np.int64)  # county index
    age = np.full(m, np.nan)

    # natural persons: theme -> (age, sex) cell -> person -> item -> day
    theme = _choice(rng, w.person_theme_p, len(pi)) if len(pi) else np.zeros(0, np.int64)
    for t_i, t in enumerate(w.person_themes):
        sel = pi[theme == t_i]
        k = len(sel)
        if not k:
            continue
        c = _draw_cum(rng, w.cell_p[t_i], k)
        subject[sel] = w.cell_order[
            w.cell_start[c] + (rng.random(k) * w.cell_count[c]).astype(np.int64)
        ]
        items, icum = w.theme_items["P:" + t]
        item[sel] = items[_draw_cum(rng, icum, k)]
        day[sel] = _draw_cum(rng, w.day_cum[t], k)
    # enterprises: theme -> enterprise (size, industry) -> item -> day
    if len(ei):
        assert w.ents is not None
        etheme = _choice(rng, w.ent_theme_p, len(ei))
        for t_i, t in enumerate(w.ent_themes):
            sel = ei[etheme == t_i]
            k = len(sel)
            if not k:
                continue
            subject[sel] = _draw_cum(rng, w.ent_cum[t_i], k)
            items, icum = w.theme_items["E:" + t]
            item[sel] = items[_draw_cum(rng, icum, k)]
            day[sel] = _draw_cum(rng, w.day_cum[t], k)

    # keep each applicant's case inside the time it is in the register
    if len(pi):
        s = subject[pi]
        first = np.clip(p.start_day[s], 0, last_day)
        last = np.clip(p.end_day[s] - 1, 0, last_day)
        last = np.maximum(last, first)
        bad = (day[pi] < first) | (day[pi] > last)
        redraw = first + (rng.random(len(pi)) * (last - first + 1)).astype(np.int64)
        day[pi] = np.where(bad, redraw, day[pi])
    if len(ei):
        assert w.ents is not None
        s = subject[ei]
        first = np.clip(w.ents.established[s], 0, last_day)
        last = np.clip(w.ents.closed[s] - 1, 0, last_day)
        last = np.maximum(last, first)
        bad = (day[ei] < first) | (day[ei] > last)
        redraw = first + (rng.random(len(ei)) * (last - first + 1)).astype(np.int64)
        day[ei] = np.where(bad, redraw, day[ei])

    # non-register applicants (visitors, people not yet registered)
    nonreg = is_person & (rng.random(m) < prof.NON_REGISTER_APPLICANTS)
    year_off = cal.year[day] - cal.year[0]

    # region and age
    if len(pi):
        s = subject[pi]
        region[pi] = np.where(day[pi] >= p.move_day[s], p.res1[s], p.res0[s])
        age[pi] = (day[pi] - p.birth_day[s]) / 365.2425
    nr = np.flatnonzero(nonreg)
    nr_age = np.clip(rng.normal(36, 11, len(nr)), 18, 75)
    age[nr] = nr_age
    region[nr] = _choice(rng, np.where(ref.county_urban, 2.0, 1.0), len(nr))
    if len(ei):
        assert w.ents is not None
        region[ei] = w.ents.region[subject[ei]]
    rural = ~ref.county_urban[region]

    # channel: online share falls with age, lower in rural counties, rises over time
    online_ok = ref.item_online[item]
    logit = np.where(
        is_person,
        prof.ONLINE_INTERCEPT + prof.ONLINE_AGE_SLOPE * (np.nan_to_num(age) - 20),
        prof.ENTERPRISE_ONLINE_INTERCEPT,
    )
    if len(ei):
        assert w.ents is not None
        micro = np.zeros(m, dtype=bool)
        micro[ei] = np.array([s == "微型" for s in ref.size_classes])[w.ents.size[subject[ei]]]
        logit = logit + prof.ENTERPRISE_MICRO_ONLINE * micro
    logit = logit + prof.ONLINE_RURAL * rural + prof.ONLINE_YEARLY * year_off
    online = online_ok & (rng.random(m) < prof.logistic(logit))
    app = online & (
        rng.random(m)
        < prof.logistic(
            prof.APP_INTERCEPT + prof.APP_AGE_SLOPE * (np.nan_to_num(age, nan=35.0) - 30)
        )
    )
    offline_kind = _choice(rng, np.array(list(prof.OFFLINE_SPLIT.values())), m)
    channel = np.where(online, np.where(app, 1, 0), 2 + offline_kind)  # web app window kiosk post
    offline = channel >= 2
    # service halls are closed on rest days: most offline visits move to the next working day
    shift = offline & ~cal.is_workday[day] & (rng.random(m) > prof.OFFLINE_NONWORKDAY)
    pos = cal.first_workday_pos(day)
    movable = shift & (pos < len(cal.workdays))  # no working day left: stays on the rest day
    day = np.where(movable, cal.workdays[np.minimum(pos, len(cal.workdays) - 1)], day)

    # timeline: submitted -> accepted -> in progress -> completed (working days)
    hours = np.where(offline, _hours(rng, prof.OFFLINE_HOURS, m), _hours(rng, prof.ONLINE_HOURS, m))
    t_sub = _secs(cal, day, hours)
    end_secs = cal.end_secs
    n_wd = len(cal.workdays)
    u = rng.random(m)
    withdrawn = u < prof.WITHDRAWN_SHARE
    rejected = ~withdrawn & (u < prof.WITHDRAWN_SHARE + prof.NOT_ACCEPTED_SHARE)
    in_person = (channel == 2) | (channel == 3)
    k = np.where(in_person, 0, _choice(rng, np.array([0.6, 0.3, 0.1]), m))
    k = np.where(channel == 4, 2 + rng.integers(0, 3, m), k)
    a_pos = cal.first_workday_pos(day) + k
    a_ok = in_person | (a_pos < n_wd)
    a_day = np.where(in_person, day, cal.workdays[np.minimum(a_pos, n_wd - 1)])
    same = a_day == day
    day_end = (cal.day0 + day + 1) * DAY - 1
    t_acc = np.where(
        same,
        np.minimum(
            t_sub + np.where(in_person, rng.integers(60, 1800, m), rng.integers(300, 7200, m)),
            day_end,
        ),
        _secs(cal, a_day, 8 * 3600 + 1800 + rng.integers(0, 9 * 3600, m)),
    )
    a_ok &= t_acc <= end_secs
    t_wd = np.minimum(t_sub + rng.integers(3600, 3 * DAY, m), end_secs)

    promised = ref.item_promised[item]
    ratio = np.exp(rng.normal(np.log(prof.DURATION_MEDIAN_RATIO), prof.DURATION_SIGMA, m))
    ratio = ratio * np.where(rng.random(m) < prof.LONG_TAIL_SHARE, 3.0, 1.0)
    d = np.floor(promised * ratio).astype(np.int64)
    d = np.where(promised == 0, np.where(rng.random(m) < 0.9, 0, rng.integers(1, 3, m)), d)
    a_day_c = np.clip(a_day, 0, last_day)
    c_pos = cal.cum[a_day_c] + d - 1
    c_ok = a_ok & ~rejected & ~withdrawn & (c_pos < n_wd)
    c_day = np.where(d == 0, a_day_c, cal.workdays[np.clip(c_pos, 0, n_wd - 1)])
    t_done = np.where(
        d == 0,
        np.minimum(t_acc + rng.integers(600, 4 * 3600, m), (cal.day0 + c_day + 1) * DAY - 1),
        _secs(cal, c_day, 9 * 3600 + rng.integers(0, 8 * 3600 + 1800, m)),
    )
    c_ok &= t_done <= end_secs
    ip_pos = np.minimum(cal.cum[a_day_c], n_wd - 1)
    t_prog = _secs(cal, cal.workdays[ip_pos], 8 * 3600 + 1800 + rng.integers(0, 2 * 3600, m))
    p_ok = a_ok & ~rejected & ~withdrawn & (d >= 2) & (t_prog <= end_secs)

    visits_final = np.select(
        [channel == 2, channel == 3, channel == 4],
        [
            1 + np.minimum(rng.poisson(prof.EXTRA_VISIT_PER_10_DAYS * d / 10 + 0.05), 3),
            np.ones(m, np.int64),
            np.zeros(m, np.int64),
        ],
        (rng.random(m) < 0.12).astype(np.int64),
    )
    visits_first = np.where(in_person, 1, 0)
    elic = (
        rng.random(m)
        < np.where(online, prof.ELICENCE_ONLINE, prof.ELICENCE_OFFLINE) + 0.05 * year_off
    )
    rated = rng.random(m) < np.where(online, prof.RATED_SHARE_ONLINE, prof.RATED_SHARE_OFFLINE)
    late = np.maximum(d - promised, 0) / np.maximum(promised, 1)
    latent = (
        prof.RATING_BASE - prof.RATING_DELAY_PENALTY * late + rng.normal(0, prof.RATING_NOISE, m)
    )
    rating = np.clip(np.round(latent), 1, 5).astype(np.int64)
    denied = rng.random(m) < prof.DENIED_SHARE

    # stage events: 0 submitted, 1 accepted / not accepted / withdrawn, 2 in progress, 3 done
    t1 = np.where(withdrawn, t_wd, t_acc)
    ok1 = withdrawn | a_ok
    times = np.stack([t_sub, t1, t_prog, t_done])
    present = np.stack([np.ones(m, bool), ok1, p_ok, c_ok])
    batch = np.searchsorted(w.cut_end, times, side="left")
    emit = np.zeros_like(present)
    next_batch = np.full(m, -1)
    for s in range(3, -1, -1):
        emit[s] = present[s] & (batch[s] != next_batch)
        next_batch = np.where(present[s], batch[s], next_batch)
    stage_of, case_of = np.nonzero(emit)
    stage = stage_of
    c = case_of
    n = len(c)

    # dept region: the county (most), the prefecture or the province
    dl = _choice(rng, np.array([0.85, 0.12, 0.03]), m)
    dept_region = np.where(
        dl == 0, region, np.where(dl == 1, ref.county_pref[region], len(ref.region_codes) - 1)
    )
    dept = pa.array([_dept_suffix(x) for x in ref.item_dept])
    rcodes = pa.array(ref.region_codes)
    status_pool = pa.array(
        [
            _label(ref, "case_status", s)
            for s in ("submitted", "accepted", "in_progress", "completed", "rejected", "withdrawn")
        ]
    )
    status = np.select(
        [stage == 0, stage == 2, stage == 3, withdrawn[c], rejected[c]], [0, 2, 3, 5, 4], 1
    )
    has_acc = (stage >= 1) & ~withdrawn[c] & ~rejected[c]
    done = stage == 3

    # applicant strings
    phone_num = np.zeros(n, dtype=np.int64)
    row_person = is_person[c] & ~nonreg[c]
    row_nonreg = nonreg[c]
    row_ent = ~is_person[c]
    parts_id: list[tuple[np.ndarray, pa.Array]] = []
    parts_name: list[tuple[np.ndarray, pa.Array]] = []
    if row_person.any():
        rp = np.flatnonzero(row_person)
        s = subject[c[rp]]
        parts_id.append((rp, _person_ids(p, s)))
        parts_name.append((rp, _person_names(p, s)))
        phone_num[rp] = p.phone[s]
    if row_nonreg.any():
        rn = np.flatnonzero(row_nonreg)
        cn = c[rn]
        # a deterministic identity per case: other-province address code, birth date, sequence
        lrng = rng
        birth_day = day[cn] - np.floor(age[cn] * 365.2425).astype(np.int64)
        bdates = (cal.day0 + birth_day).astype("datetime64[D]")
        byear = bdates.astype("datetime64[Y]").astype(np.int64) + 1970
        origin = len(ref.county_codes) + (cn * 7919 + lo) % max(len(w.other_pick), 1)
        addr = w.addr_table[origin, np.clip(byear - MIN_BIRTH_YEAR, 0, w.addr_table.shape[1] - 1)]
        seq = 1 + (lo + cn) % 999
        parts_id.append(
            (rn, _strings(resident_id_matrix(addr * 10**11 + _ymd(bdates) * 1000 + seq)))
        )
        nm = len(cn)
        sn = _draw_cum(lrng, np.cumsum([x for _, x in prof.SURNAMES]), nm)
        g = lrng.integers(0, len(prof.GIVEN_MALE) + len(prof.GIVEN_FEMALE), (2, nm))
        parts_name.append(
            (
                rn,
                _join(_take(_SURNAME_POOL, sn), _take(_GIVEN_POOL, g[0]), _take(_GIVEN_POOL, g[1])),
            )
        )
        phone_num[rn] = _phones(lrng, nm)
    if row_ent.any():
        assert w.ents is not None
        re_ = np.flatnonzero(row_ent)
        s = subject[c[re_]]
        parts_id.append((re_, w.ents.codes.take(pa.array(s))))
        parts_name.append((re_, w.ents.names.take(pa.array(s))))
        phone_num[re_] = w.ents.phone[s]
    app_id = _scatter(n, parts_id)
    app_name = _scatter(n, parts_name)
    atype = pa.array(
        [_label(ref, "applicant_type", "enterprise"), _label(ref, "applicant_type", "person")]
    )
    chan = pa.array([_label(ref, "channel", x) for x in ("web", "app", "window", "kiosk", "post")])
    yes_no = pa.array(
        [_label(ref, "elicence_reused", "false"), _label(ref, "elicence_reused", "true")]
    )
    outcome = pa.array([_label(ref, "outcome", "approved"), _label(ref, "outcome", "denied")])
    case_year = cal.year[day[c]]
    case_id = _strings(_digits(int(ref.province) * 10**12 + case_year * 10**8 + lo + c, 18))
    updated = times[stage, c]
    cols = {
        "case_id": case_id,
        "item_code": _take(pa.array(ref.item_codes), item[c]),
        "applicant_type": _take(atype, is_person[c].astype(np.int64)),
        "applicant_id": app_id,
        "applicant_name": app_name,
        "applicant_phone": _ints(phone_num, mask=phone_num == 0),
        "residence_region": _take(rcodes, region[c]),
        "dept_name": _join(_take(pa.array(ref.region_names), dept_region[c]), _take(dept, item[c])),
        "dept_region": _take(rcodes, dept_region[c]),
        "channel": _take(chan, channel[c]),
        "submitted_at": _timestamps(t_sub[c]),
        "accepted_at": _timestamps(t_acc[c], mask=~has_acc),
        "completed_at": _timestamps(t_done[c], mask=~done),
        "status": _take(status_pool, status),
        "outcome": pc.if_else(
            pa.array(done), _take(outcome, denied[c].astype(np.int64)), _const(None, n)
        ),
        "promised_days": _ints(promised[c]),
        "visits": _ints(np.where(done, visits_final[c], visits_first[c])),
        "elicence_reused": _take(yes_no, elic[c].astype(np.int64)),
        "rating": _ints(rating[c], mask=~(done & rated[c])),
        "updated_at": _timestamps(updated),
    }
    return cols, updated


def _scatter(n: int, parts: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Assemble a string array of length n from (positions, values) parts covering 0..n-1."""
    if not parts:
        return _const(None, n)
    positions = np.concatenate([pos for pos, _ in parts])
    values = pa.concat_arrays([v.cast(pa.string()) for _, v in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[positions] = np.arange(len(positions))
    return values.take(pa.array(inverse))


def _dept_suffix(department: str) -> str:
    if department.endswith(("局", "厅", "委", "中心", "办", "院", "所", "处", "会", "署")):
        return department
    return department + "局"


# ---------------------------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------------------------
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
    },
    "persons": {
        "traditional_chars": ["name"],
        "fullwidth_digits": ["person_id", "phone"],
        "retired_region_code": ["residence_region", "hukou_region"],
        "bad_id_check_digit": ["person_id"],
        "future_date": ["updated_at"],
        "formula_text": ["name", "phone"],
        "extra_delimiter": ["name"],
    },
    "enterprises": {
        "traditional_chars": ["name"],
        "fullwidth_digits": ["credit_code", "registered_capital"],
        "retired_region_code": ["region"],
        "bad_credit_code_check_digit": ["credit_code"],
        "future_date": ["updated_at"],
        "formula_text": ["name"],
        "extra_delimiter": ["name"],
    },
}
_TS = "%Y-%m-%d %H:%M:%S"


@dataclass
class _Patch:
    """A line-level change of a CSV row, applied to the written bytes."""

    kind: str
    field: int  # row_cut_short: fields kept; extra_delimiter: field that gets a comma
    at: int = 0  # extra_delimiter: character position of the comma


class _Injector:
    """Picks defect rows, applies one defect per row and records each in the manifest."""

    def __init__(
        self, rate: float, fmt: str, ref: _Ref, batch_ends: list[dt.datetime], seed: int
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
        self.person_label = _label(ref, "applicant_type", "person")
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
        dict[int, _Patch],
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
        patches: dict[int, _Patch] = {}
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
                elif isinstance(new, _Patch):
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
    ) -> tuple[str, str | None | _Patch, str] | None:
        rng = self.rng
        spec = _KIND_COLUMNS[extract]
        cands = [c for c in spec.get(kind, []) if row.get(c)]
        if kind == "traditional_chars":
            for col in rng.sample(cands, len(cands)):
                new = self.s2t.convert(row[col])
                if new != row[col] and (self.fmt != "csv-gbk" or _gbk_ok(new)):
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
            alphabet = "0123456789X" if kind == "bad_id_check_digit" else USCC_ALPHABET
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
            return columns[keep], _Patch(kind, keep), f"{keep} of {len(columns)} fields"
        if kind == "extra_delimiter":
            cands = [c for c in cands if len(row[c]) >= 2]
            if not cands:
                return None
            col = rng.choice(cands)
            at = rng.randint(1, len(row[col]) - 1)
            return col, _Patch(kind, columns.index(col), at), row[col]
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


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
class _Sink:
    """One extract's batch files, written chunk by chunk."""

    def __init__(self, out: Path, extract: str, batch_ids: list[str], fmt: str) -> None:
        self.extract = extract
        self.columns = COLUMNS[extract]
        self.fmt = fmt
        folder = out / extract
        folder.mkdir(parents=True, exist_ok=True)
        ext = "parquet" if fmt == "parquet" else "csv"
        self.paths = [folder / f"{extract}_{b}.{ext}" for b in batch_ids]
        self.rows = [0] * len(batch_ids)
        self.schema = pa.schema([(c, pa.string()) for c in self.columns])
        self._pending: list[list[pa.Table]] = [[] for _ in batch_ids]
        self._pending_rows = [0] * len(batch_ids)
        self._handles: list[Any] = []
        encoding = "gbk" if fmt == "csv-gbk" else "utf-8"
        for path in self.paths:
            if fmt == "parquet":
                self._handles.append(pq.ParquetWriter(path, self.schema, compression="zstd"))
            else:
                fh = path.open("wb")
                fh.write((",".join(self.columns) + "\n").encode(encoding))
                self._handles.append(fh)

    def write(self, b: int, cols: dict[str, pa.Array], patches: dict[int, _Patch]) -> None:
        table = pa.table([cols[c] for c in self.columns], schema=self.schema)
        self.rows[b] += table.num_rows
        if self.fmt == "parquet":
            self._pending[b].append(table)
            self._pending_rows[b] += table.num_rows
            if self._pending_rows[b] >= 128_000:
                self._flush(b)
            return
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        data = sink.getvalue().to_pybytes()
        if patches:
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            starts = np.r_[0, ends[:-1] + 1]
            pieces, at = [], 0
            for pos in sorted(patches):
                patch = patches[pos]
                lo, hi = int(starts[pos]), int(ends[pos])
                fields = data[lo:hi].split(b",")
                if patch.kind == "row_cut_short":
                    fields = fields[: patch.field]
                else:
                    text = fields[patch.field].decode("utf-8")
                    fields[patch.field] = (text[: patch.at] + "," + text[patch.at :]).encode()
                pieces += [data[at:lo], b",".join(fields)]
                at = hi
            pieces.append(data[at:])
            data = b"".join(pieces)
        if self.fmt == "csv-gbk":
            data = data.decode("utf-8").encode("gbk")
        self._handles[b].write(data)

    def _flush(self, b: int) -> None:
        if self._pending[b]:
            self._handles[b].write_table(pa.concat_tables(self._pending[b]))
            self._pending[b] = []
            self._pending_rows[b] = 0

    def close(self) -> None:
        for b, handle in enumerate(self._handles):
            if self.fmt == "parquet":
                self._flush(b)
            handle.close()


def _route(
    sink: _Sink,
    injector: _Injector,
    cols: dict[str, pa.Array],
    updated: np.ndarray,
    cut_end: np.ndarray,
    np_rng: np.random.Generator,
) -> None:
    """Split one chunk's rows into batches (by updated_at), inject defects, write."""
    batch = np.searchsorted(cut_end, updated, side="left")
    order = np.lexsort((updated, batch))
    bounds = np.searchsorted(batch[order], np.arange(len(cut_end) + 1), side="left")
    sorted_cols = {c: cols[c].take(pa.array(order)) for c in sink.columns}
    pending: dict[int, list[dict[str, Any]]] = {}
    for b in range(len(cut_end)):
        lo, n_b = int(bounds[b]), int(bounds[b + 1] - bounds[b])
        table = {c: sorted_cols[c].slice(lo, n_b) for c in sink.columns}
        table, patches, found, dups = injector.apply(sink.extract, b, table, np_rng)
        base = sink.rows[b] + 2  # header = line 1, first data row = line 2
        name = sink.paths[b].name
        for pos, column, kind, detail in found:
            injector.entries.append((name, base + pos, column, kind, detail))
            injector.counts[kind] += 1
        extra = pending.pop(b, [])
        if extra:
            n0 = len(table[sink.columns[0]])
            for c in sink.columns:
                table[c] = pa.concat_arrays(
                    [table[c], pa.array([r[c] for r in extra], pa.string())]
                )
            for i, row in enumerate(extra):
                src = row.get("__source__", "")
                injector.entries.append(
                    (name, base + n0 + i, "", "duplicate_resent", f"same row as {src}")
                )
                injector.counts["duplicate_resent"] += 1
        for target, row, pos in dups:
            pending.setdefault(target, []).append({**row, "__source__": f"{name} row {base + pos}"})
        sink.write(b, table, patches)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def _check_args(persons: int, enterprises: int, cases: int, fmt: str, defect_rate: float) -> None:
    if fmt not in FORMATS:
        raise GenerateError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    if persons < 1:
        raise GenerateError("--persons must be at least 1")
    if enterprises < 0 or cases < 0:
        raise GenerateError("--enterprises and --cases cannot be negative")
    if cases >= 10**8:
        raise GenerateError("--cases must be below 100,000,000 (8-digit case sequence)")
    if not 0 <= defect_rate <= 0.5:
        raise GenerateError(f"--defect-rate must be between 0 and 0.5, got {defect_rate}")


def _clear(out: Path) -> None:
    """Remove extract files of an earlier run (the generator owns the raw folder layout)."""
    for extract in COLUMNS:
        folder = out / extract
        if folder.is_dir():
            for path in folder.glob(f"{extract}_*"):
                if path.suffix in (".csv", ".parquet"):
                    path.unlink()
    (out / "manifest.csv").unlink(missing_ok=True)


def _chunks(total: int, size: int = CHUNK) -> Iterator[tuple[int, int, int]]:
    for i, lo in enumerate(range(0, total, size)):
        yield i, lo, min(lo + size, total)


def generate(
    out: Path,
    province: str,
    persons: int,
    enterprises: int,
    cases: int,
    years: tuple[int, int],
    batches: int,
    fmt: str,
    defect_rate: float,
    seed: int,
    show_progress: bool = False,
    seeds_dir: Path | None = None,
) -> GenerateResult:
    """Write the raw extracts and ``manifest.csv`` under ``out`` (see the module docstring).

    Extract files and the manifest of an earlier run in ``out`` are replaced. ``seeds_dir``
    (default ``seeds/``) holds the reference seeds: regions, code changes, service catalog,
    channels, statuses and enumerations. Raises :class:`GenerateError` for bad arguments
    (unknown province or format, years outside the working-day calendar 2004–2026, ...).
    """
    import time

    started = time.perf_counter()
    _check_args(persons, enterprises, cases, fmt, defect_rate)
    first_year, last_year = years
    cal = _calendar(first_year, last_year)
    ref = _load_reference(seeds_dir or SEEDS_DIR, str(province))
    cut = _cutoffs(cal, batches)
    batch_days = [EPOCH + dt.timedelta(days=int(cal.day0 + c)) for c in cut]
    batch_ids = [d.strftime("%Y%m%d") for d in batch_days]
    batch_ends = [dt.datetime.combine(d, dt.time(23, 59, 59)) for d in batch_days]
    cut_end = (cal.day0 + cut + 1).astype(np.int64) * DAY - 1
    if fmt == "csv-gbk":
        _check_gbk(ref)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    root = np.random.SeedSequence(seed)
    world_rng = np.random.default_rng(root.spawn(1)[0])
    n_years = last_year - first_year + 1

    # migrants' origins: a fixed sample of other provinces' counties
    pick_n = min(300, len(ref.other_codes))
    other_pick = (
        sorted(world_rng.choice(ref.other_codes, pick_n, replace=False).tolist()) if pick_n else []
    )
    all_names = _all_region_names()
    addr_table = _address_code_table(
        ref.county_codes + other_pick,
        all_names,
        ref.retired_by_successor,
        range(MIN_BIRTH_YEAR, last_year + 1),
    )
    county_w = _county_weights(world_rng, ref.county_urban, prof.URBAN_DENSITY)
    progress = _progress(show_progress)
    sinks: list[_Sink] = []
    injector = _Injector(defect_rate, fmt, ref, batch_ends, int(world_rng.integers(2**62)))
    try:
        with progress:
            t_p = progress.add_task("population register", total=persons)
            pers = _make_persons(
                world_rng,
                ref,
                cal,
                persons,
                first_year,
                last_year,
                county_w,
                addr_table,
                other_pick,
            )
            sink = _Sink(out, "persons", batch_ids, fmt)
            sinks.append(sink)
            for i, lo, hi in _chunks(persons):
                rng = np.random.default_rng([seed, 1, i])
                cols, updated = _person_rows(ref, cal, pers, lo, hi)
                _route(sink, injector, cols, updated, cut_end, rng)
                progress.update(t_p, completed=hi)

            t_e = progress.add_task("enterprise register", total=max(enterprises, 1))
            ents = (
                _make_enterprises(world_rng, ref, cal, enterprises, n_years)
                if enterprises
                else None
            )
            sink = _Sink(out, "enterprises", batch_ids, fmt)
            sinks.append(sink)
            if ents is not None:
                for i, lo, hi in _chunks(enterprises):
                    rng = np.random.default_rng([seed, 2, i])
                    cols, updated = _enterprise_rows(ref, cal, ents, lo, hi)
                    _route(sink, injector, cols, updated, cut_end, rng)
                    progress.update(t_e, completed=hi)
            progress.update(t_e, completed=max(enterprises, 1))

            world = _build_world(ref, cal, pers, ents, first_year, other_pick, addr_table, cut_end)
            t_c = progress.add_task("approval cases", total=max(cases, 1))
            sink = _Sink(out, "cases", batch_ids, fmt)
            sinks.append(sink)
            for i, lo, hi in _chunks(cases):
                rng = np.random.default_rng([seed, 3, i])
                cols, updated = _case_chunk(rng, world, lo, hi)
                _route(sink, injector, cols, updated, cut_end, np.random.default_rng([seed, 4, i]))
                progress.update(t_c, completed=hi)
            progress.update(t_c, completed=max(cases, 1))
    finally:
        for s in sinks:
            s.close()

    files = [p for s in sinks for p in s.paths]
    entries = sorted(injector.entries, key=lambda e: (e[0], e[1]))
    if fmt == "csv-gbk":
        entries = [
            (p.name, 0, "", "gbk_encoding", "whole file is GBK-encoded") for p in files
        ] + entries
        injector.counts["gbk_encoding"] = len(files)
    manifest = out / "manifest.csv"
    with manifest.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(entries)
    counts = {
        "persons": persons,
        "enterprises": enterprises,
        "cases": cases,
        "persons_rows": sum(sinks[0].rows),
        "enterprises_rows": sum(sinks[1].rows),
        "cases_rows": sum(sinks[2].rows),
        "defects": len(entries),
    }
    return GenerateResult(
        out=out,
        manifest=manifest,
        files=files,
        counts=counts,
        defects=dict(injector.counts),
        fmt=fmt,
        seconds=time.perf_counter() - started,
    )


def _all_region_names() -> dict[str, str]:
    return {code: name for code, (name, _) in _stdnum_locations().items()}


def _gbk_ok(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _check_gbk(ref: _Ref) -> None:
    for name in ref.region_names:
        try:
            name.encode("gbk")
        except UnicodeEncodeError:
            raise GenerateError(
                f"region name {name!r} cannot be encoded in GBK: use --format csv or parquet"
            ) from None


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(show: bool) -> Any:
    if not show:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


__all__: list[str] = ["GenerateError", "GenerateResult", "generate", "parse_years"]
