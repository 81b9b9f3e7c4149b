"""Every row rule of docs/extract-contract.md (sections 1–6), written once more, independently
of the loader and the raw suites, for tests: :func:`violations` reads a raw delivery folder
and lists each (file, row, column, rule) a row breaks. A clean generated delivery must break
none; a defect-injected one exactly the rows of its manifest."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import chinese_calendar
import opencc
import pyarrow.parquet as pq
from stdnum.cn import ric, uscc

from subjectdb.config import SEEDS_DIR
from subjectdb.contract import COLUMNS, IDENTIFIER_PATTERNS, MAX_FIELD_BYTES, REQUIRED

TS = "%Y-%m-%d %H:%M:%S"
PHONE = re.compile(r"^1[3-9][0-9]{9}$")
DECIMAL = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,2})?$")
INTEGER = re.compile(r"^[0-9]+$")
FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


@dataclass(frozen=True)
class Violation:
    file: str
    row: int
    column: str
    rule: str


@functools.cache
def _workday(day: dt.date) -> bool:
    return bool(chinese_calendar.is_workday(day))


valid_resident_id = functools.cache(ric.is_valid)
valid_credit_code = functools.cache(uscc.is_valid)


def _seed(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class Rules:
    """The reference data the rules need, read from the seeds."""

    def __init__(self, province: str) -> None:
        regions = _seed("ref_regions")
        self.province = province
        self.counties = {
            r["region_code"]
            for r in regions
            if r["level"] == "county" and r["province_code"] == province
        }
        self.all_counties = {r["region_code"] for r in regions if r["level"] == "county"}
        self.dept_regions = self.counties | {
            r["region_code"]
            for r in regions
            if r["province_code"] == province and r["level"] in ("prefecture", "province")
        }
        self.items = {r["item_code"] for r in _seed("ref_service_items")}
        self.channels = {r["channel_name_zh"] for r in _seed("ref_channels")}
        self.statuses = {r["status_name_zh"] for r in _seed("ref_case_statuses")}
        self.industries = {r["industry_section"] for r in _seed("ref_industries")}
        self.simplified = functools.cache(opencc.OpenCC("t2s").convert)
        self.enums: dict[str, set[str]] = {}
        for name in ("ref_person_enums", "ref_enterprise_enums"):
            prefix = "person" if "person" in name else "enterprise"
            for r in _seed(name):
                self.enums.setdefault(f"{prefix}.{r['enum']}", set()).add(r["value_zh"])


def read_rows(path: Path) -> tuple[list[str], dict[int, dict[str, str | None]]]:
    """A raw file's rows by line number (header = 1); rows of the wrong width are skipped."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return table.column_names, {i + 2: r for i, r in enumerate(table.to_pylist())}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gbk")
    lines = text.split("\n")
    header = lines[0].split(",")
    rows: dict[int, dict[str, str | None]] = {}
    for i, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if line and len(fields) == len(header):
            rows[i] = dict(zip(header, fields, strict=True))
    return header, rows


def _cutoff(name: str) -> str:
    batch = name.split("_", 1)[1].split(".")[0]
    return f"{batch[:4]}-{batch[4:6]}-{batch[6:]} 23:59:59"


def _ts(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, TS) if value else None
    except ValueError:
        return None


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def row_violations(
    rules: Rules, extract: str, name: str, row: dict[str, str | None]
) -> list[tuple[str, str]]:
    """(column, rule) for every rule of the contract that one row breaks."""
    v = {k: (val if val not in ("", None) else None) for k, val in row.items()}
    out: list[tuple[str, str]] = []

    def bad(column: str, rule: str) -> None:
        out.append((column, rule))

    for column in REQUIRED[extract]:
        if v.get(column) is None:
            bad(column, "required")
    for column, value in v.items():
        if value is None:
            continue
        if value[0] in "=+-@":
            bad(column, "formula_prefix")
        if len(value.encode("utf-8")) > MAX_FIELD_BYTES:
            bad(column, "too_long")
        if value != value.strip() or FULLWIDTH_ALNUM.search(value):
            bad(column, "not_standard_text")
        elif not value.isascii() and rules.simplified(value) != value:
            bad(column, "not_simplified")
        if '"' in value or "," in value or "\n" in value or "\r" in value:
            bad(column, "framing_character")
    for column, pattern in IDENTIFIER_PATTERNS.get(extract, {}).items():
        if v.get(column) is not None and not re.match(pattern, v[column] or ""):
            bad(column, "identifier_shape")
    updated = _ts(v.get("updated_at"))
    if v.get("updated_at") is not None and updated is None:
        bad("updated_at", "timestamp")
    if updated is not None and v["updated_at"] > _cutoff(name):  # type: ignore[operator]
        bad("updated_at", "after_cutoff")
    if extract == "cases":
        out += _case_violations(rules, v, updated)
    elif extract == "persons":
        out += _person_violations(rules, v, updated)
    else:
        out += _enterprise_violations(rules, v, updated)
    return out


def _case_violations(
    rules: Rules, v: dict[str, str | None], updated: dt.datetime | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    bad = lambda c, r: out.append((c, r))  # noqa: E731
    status = v.get("status")
    sub, acc, done = (
        _ts(v.get("submitted_at")),
        _ts(v.get("accepted_at")),
        _ts(v.get("completed_at")),
    )
    for column, parsed in (("submitted_at", sub), ("accepted_at", acc), ("completed_at", done)):
        if v.get(column) is not None and parsed is None:
            bad(column, "timestamp")
    case_id = v.get("case_id") or ""
    wrong_origin = case_id[:6] != rules.province or case_id[6:10] != f"{sub.year if sub else ''}"
    if sub is not None and len(case_id) == 18 and wrong_origin:
        bad("case_id", "province_and_year")
    if v.get("item_code") is not None and v["item_code"] not in rules.items:
        bad("item_code", "catalog")
    atype = v.get("applicant_type")
    if atype is not None and atype not in rules.enums["person.applicant_type"]:
        bad("applicant_type", "enumeration")
    aid = v.get("applicant_id")
    if aid is not None and atype == "自然人" and not valid_resident_id(aid):
        bad("applicant_id", "gb11643")
    if aid is not None and atype == "法人" and not valid_credit_code(aid):
        bad("applicant_id", "gb32100")
    if v.get("applicant_phone") is not None and not PHONE.match(v["applicant_phone"] or ""):
        bad("applicant_phone", "mobile")
    if v.get("residence_region") is not None and v["residence_region"] not in rules.counties:
        bad("residence_region", "county_of_province")
    if v.get("dept_region") is not None and v["dept_region"] not in rules.dept_regions:
        bad("dept_region", "region_of_province")
    if v.get("channel") is not None and v["channel"] not in rules.channels:
        bad("channel", "enumeration")
    if status is not None and status not in rules.statuses:
        bad("status", "enumeration")
    if sub is not None and updated is not None and updated < sub:
        bad("updated_at", "before_submitted")
    accepted_states = ("已受理", "办理中", "已办结")
    if status in accepted_states and v.get("accepted_at") is None:
        bad("accepted_at", "missing_when_accepted")
    if status not in accepted_states and v.get("accepted_at") is not None:
        bad("accepted_at", "only_when_accepted")
    if acc is not None and sub is not None and acc < sub:
        bad("accepted_at", "before_submitted")
    if acc is not None and updated is not None and acc > updated:
        bad("accepted_at", "after_updated")
    if (status == "已办结") != (v.get("completed_at") is not None):
        bad("completed_at", "only_and_always_when_completed")
    if done is not None:
        if acc is not None and done < acc:
            bad("completed_at", "before_accepted")
        if not _workday(done.date()):
            bad("completed_at", "working_day")
        if updated is not None and done > updated:
            bad("completed_at", "after_updated")
    outcome = v.get("outcome")
    if outcome is not None and (status != "已办结" or outcome not in rules.enums["person.outcome"]):
        bad("outcome", "only_when_completed")
    for column in ("promised_days", "visits"):
        if v.get(column) is not None and not INTEGER.match(v[column] or ""):
            bad(column, "non_negative_integer")
    if v.get("elicence_reused") is not None and v["elicence_reused"] not in ("是", "否"):
        bad("elicence_reused", "enumeration")
    rating = v.get("rating")
    if rating is not None and (status != "已办结" or rating not in ("1", "2", "3", "4", "5")):
        bad("rating", "1_to_5_only_when_completed")
    return out


def _person_violations(
    rules: Rules, v: dict[str, str | None], updated: dt.datetime | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    bad = lambda c, r: out.append((c, r))  # noqa: E731
    pid = v.get("person_id")
    birth = _date(v.get("birth_date"))
    if pid is not None and not valid_resident_id(pid):
        bad("person_id", "gb11643")
    elif pid is not None:
        if birth is not None and pid[6:14] != birth.strftime("%Y%m%d"):
            bad("birth_date", "equals_id")
        sex = "男" if int(pid[16]) % 2 else "女"
        if v.get("sex") is not None and v["sex"] != sex:
            bad("sex", "equals_id")
    if v.get("sex") is not None and v["sex"] not in rules.enums["person.sex"]:
        bad("sex", "enumeration")
    if v.get("phone") is not None and not PHONE.match(v["phone"] or ""):
        bad("phone", "mobile")
    if v.get("hukou_region") is not None and v["hukou_region"] not in rules.all_counties:
        bad("hukou_region", "county")
    if v.get("residence_region") is not None and v["residence_region"] not in rules.counties:
        bad("residence_region", "county_of_province")
    if v.get("status") is not None and v["status"] not in rules.enums["person.status"]:
        bad("status", "enumeration")
    since = _date(v.get("status_date"))
    if since is not None and updated is not None and since > updated.date():
        bad("status_date", "after_updated")
    if since is not None and birth is not None and since < birth:
        bad("status_date", "before_birth")
    return out


def _enterprise_violations(
    rules: Rules, v: dict[str, str | None], updated: dt.datetime | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    bad = lambda c, r: out.append((c, r))  # noqa: E731
    code = v.get("credit_code")
    if code is not None and not valid_credit_code(code):
        bad("credit_code", "gb32100")
    elif code is not None and v.get("region") is not None and code[2:8] != v["region"]:
        bad("region", "equals_credit_code")
    for column, enum in (("legal_form", "legal_form"), ("size_class", "size_class")):
        if v.get(column) is not None and v[column] not in rules.enums[f"enterprise.{enum}"]:
            bad(column, "enumeration")
    if v.get("industry") is not None and v["industry"] not in rules.industries:
        bad("industry", "gbt4754_section")
    capital = v.get("registered_capital")
    if capital is not None and not DECIMAL.match(capital):
        bad("registered_capital", "non_negative_decimal")
    est, closed = _date(v.get("established_date")), _date(v.get("closed_date"))
    status = v.get("status")
    if status is not None and status not in rules.enums["enterprise.status"]:
        bad("status", "enumeration")
    if (status in ("注销", "吊销")) != (v.get("closed_date") is not None):
        bad("closed_date", "only_and_always_when_closed")
    if est is not None and closed is not None and closed < est:
        bad("closed_date", "before_established")
    if updated is not None:
        if est is not None and est > updated.date():
            bad("established_date", "after_updated")
        if closed is not None and closed > updated.date():
            bad("closed_date", "after_updated")
    if v.get("region") is not None and v["region"] not in rules.counties:
        bad("region", "county_of_province")
    return out


def violations(raw: Path, province: str) -> list[Violation]:
    """Every rule broken by a row of the delivery under ``raw`` (rows of the wrong width,
    which no rule can read, are the loader's: see ``read_rows``)."""
    rules = Rules(province)
    found: list[Violation] = []
    for extract in COLUMNS:
        for path in sorted((raw / extract).glob(f"{extract}_*")):
            _, rows = read_rows(path)
            for line, row in rows.items():
                for column, rule in row_violations(rules, extract, path.name, row):
                    found.append(Violation(path.name, line, column, rule))
    return found
