"""The reference data the generator draws from, read once from the seeds (``seeds/``).

Regions of the chosen province (counties, their prefectures, the province) and the counties of
other provinces (migrants' origins), retired region codes by successor, the service catalog,
and the raw Chinese labels of every enumeration the extracts carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subjectdb.seeds import SeedError, read_seed, truthy
from subjectdb.synth import profiles as prof
from subjectdb.synth.errors import GenerateError


def _read_seed(seeds_dir: Path, name: str) -> list[dict[str, str]]:
    """One seed's rows; a missing seed is a :class:`GenerateError` (a user error)."""
    try:
        return read_seed(name, seeds_dir)
    except SeedError as exc:
        raise GenerateError(str(exc)) from None


@dataclass
class Ref:
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


def load_reference(seeds_dir: Path, province: str) -> Ref:
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
    return Ref(
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
        item_online=np.array([truthy(r["online_capable"]) for r in items]),
        item_dept=[r["department"] for r in items],
        retired_by_successor=retired,
        labels=labels,
        legal_forms=ent_enums.get("legal_form", list(prof.LEGAL_FORM_SHARES)),
        size_classes=ent_enums.get("size_class", list(prof.SIZE_DEMAND)),
        industries=industries,
    )


def label(ref: Ref, enum: str, code: str) -> str:
    try:
        return ref.labels[enum][code]
    except KeyError:
        raise GenerateError(f"reference seeds lack {enum} value {code!r}") from None
