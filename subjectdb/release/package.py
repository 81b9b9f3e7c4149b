"""The files of a release: table files, Data Package, DCAT catalog, citation, docs.

Writes each table as Parquet, CSV and Excel-friendly CSV, and renders the metadata around them:
the Frictionless Data Package v2 resources (schemas from the dbt manifest), the stored
frictionless validation, a DCAT JSON-LD catalog, CITATION.cff, the data dictionary (Markdown and
HTML) and the README.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from subjectdb.files import sha256_file
from subjectdb.reference import CPCA_PACKAGE, CPCA_VERSION
from subjectdb.release.manifest import ModelDocs
from subjectdb.release.specs import TABLE_BY_NAME, TABLES, TableSpec
from subjectdb.standards import lf_csv

LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0 International",
}
DATAPACKAGE_PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
PUBLISHER = os.environ.get(
    "SUBJECTDB_PUBLISHER", "互联网+政务服务数据管理机构 (Internet+ Government Services Data Office)"
)
MISSING_LABEL = "withheld: see the row's *_status column (suppressed, small_population)"


def write_table(folder: Path, name: str, df: pd.DataFrame) -> dict[str, Path]:
    """Parquet (typed), CSV (UTF-8) and an Excel-friendly CSV (UTF-8 with BOM)."""
    (folder / "data" / "excel").mkdir(parents=True, exist_ok=True)
    files = {
        "parquet": folder / "data" / f"{name}.parquet",
        "csv": folder / "data" / f"{name}.csv",
        "excel": folder / "data" / "excel" / f"{name}.csv",
    }
    df.to_parquet(files["parquet"], index=False, compression="zstd")
    # written with CRLF, so that a field holding a CR or LF is quoted (:func:`lf_csv`)
    crlf = df.to_csv(index=False, lineterminator="\r\n")
    files["csv"].write_bytes(lf_csv(crlf).encode("utf-8"))
    files["excel"].write_bytes(crlf.encode("utf-8-sig"))
    return files


def relative_path(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _schema(spec: TableSpec, docs: ModelDocs) -> dict[str, Any]:
    return {
        "$schema": "https://datapackage.org/profiles/2.0/tableschema.json",
        "fields": [docs.field_schema(f, spec.name) for f in spec.fields],
        "primaryKey": [f.name for f in spec.fields if f.key],
        "missingValues": [{"value": "", "label": MISSING_LABEL}],
    }


def table_resources(
    folder: Path, files: dict[str, dict[str, Path]], docs: ModelDocs
) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for spec in TABLES:
        schema = _schema(spec, docs)
        common = {
            "title": f"{spec.title_zh} / {spec.title_en}",
            "description": (
                f"{spec.description_zh}\n\n{spec.description_en}\n\nGrain: {spec.grain}."
            ),
            "licenses": [LICENSE],
        }
        for kind, suffix, fmt, mediatype, encoding in (
            ("csv", "", "csv", "text/csv", "utf-8"),
            ("excel", "-excel", "csv", "text/csv", "utf-8-sig"),
            ("parquet", "-parquet", "parquet", "application/vnd.apache.parquet", None),
        ):
            path = files[spec.name][kind]
            res: dict[str, Any] = {
                "name": f"{spec.name}{suffix}",
                "type": "table" if fmt == "csv" else "file",
                "path": relative_path(folder, path),
                "format": fmt,
                "mediatype": mediatype,
                **common,
            }
            if encoding:
                res["encoding"] = encoding
                res["dialect"] = {"header": True, "delimiter": ",", "quoteChar": '"'}
            res["bytes"] = path.stat().st_size
            res["hash"] = f"sha256:{sha256_file(path)}"
            res["schema"] = schema
            resources.append(res)
    return resources


def region_code_list() -> dict[str, str]:
    """The region-code standard of the release: the pinned source of ``seeds/ref_regions.csv``.

    Only the source's name and version are needed (the codes themselves come from the
    warehouse's ``dim_region``), so no seed is read here.
    """
    return {
        "standard": "GB/T 2260 (中华人民共和国行政区划代码)",
        "source": f"{CPCA_PACKAGE} {CPCA_VERSION} resources/adcodes.csv",
        "version": f"{CPCA_PACKAGE}=={CPCA_VERSION}",
        "note": "retired codes are mapped to their successors (ref_region_code_changes) "
        "before aggregation",
    }


def validate_package(folder: Path) -> dict[str, Any]:
    """Frictionless validation of the whole package, as stored in validation.json."""
    from frictionless import validate

    report = validate(str(folder / "datapackage.json"))
    errors: list[dict[str, Any]] = []
    for task in report.tasks:
        for err in task.errors[:20]:
            errors.append({"resource": task.name, "type": err.type, "message": err.message})
    for err in report.errors[:20]:
        errors.append({"resource": None, "type": err.type, "message": err.message})
    return {
        "valid": bool(report.valid),
        "validator": f"frictionless {metadata.version('frictionless')}",
        "validated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tasks": [
            {
                "resource": t.name,
                "valid": bool(t.valid),
                "rows": t.stats.get("rows"),
                "errors": t.stats.get("errors"),
            }
            for t in report.tasks
        ],
        "errors": errors,
    }


def dcat_catalog(folder: Path, package: dict[str, Any]) -> dict[str, Any]:
    """A DCAT catalog (JSON-LD) that ckanext-dcat can harvest; URLs relative to the release."""
    distributions = []
    for res in package["resources"]:
        distributions.append(
            {
                "@id": res["path"],
                "@type": "dcat:Distribution",
                "dct:title": res["title"]
                + (" (Excel CSV)" if res["name"].endswith("-excel") else ""),
                "dct:format": res["format"].upper(),
                "dcat:mediaType": res["mediatype"],
                "dcat:downloadURL": {"@id": res["path"]},
                "dcat:accessURL": {"@id": res["path"]},
                "dcat:byteSize": {"@value": str(res["bytes"]), "@type": "xsd:nonNegativeInteger"},
                "spdx:checksum": {
                    "@type": "spdx:Checksum",
                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                    "spdx:checksumValue": res["hash"].split(":", 1)[1],
                },
                "dct:license": {"@id": LICENSE["path"]},
            }
        )
    temporal = package["temporalCoverage"]
    dataset = {
        "@id": f"#dataset-{package['version']}",
        "@type": "dcat:Dataset",
        "dct:identifier": package["id"],
        "dct:title": [
            {"@value": package["title_zh"], "@language": "zh"},
            {"@value": package["title"], "@language": "en"},
        ],
        "dct:description": [
            {"@value": package["description_zh"], "@language": "zh"},
            {"@value": package["description"], "@language": "en"},
        ],
        "owl:versionInfo": package["version"],
        "dct:issued": {"@value": package["created"], "@type": "xsd:dateTime"},
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": PUBLISHER},
        "dct:license": {"@id": LICENSE["path"]},
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": {"@value": temporal["start"], "@type": "xsd:date"},
            "dcat:endDate": {"@value": temporal["end"], "@type": "xsd:date"},
        },
        "dct:spatial": [
            {"@type": "dct:Location", "skos:notation": s["province_code"], "rdfs:label": s["name"]}
            for s in package["spatialCoverage"]
        ],
        "dcat:keyword": ["政务服务", "互联网+政务服务", "open data", "government services"],
        "dcat:distribution": distributions,
    }
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "owl": "http://www.w3.org/2002/07/owl#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@graph": [
            {
                "@id": "#catalog",
                "@type": "dcat:Catalog",
                "dct:title": "subjectdb open data / 政务服务开放数据",
                "dct:publisher": {"@type": "foaf:Organization", "foaf:name": PUBLISHER},
                "dct:license": {"@id": LICENSE["path"]},
                "dcat:dataset": [{"@id": dataset["@id"]}],
            },
            dataset,
        ],
    }


def citation_cff(package: dict[str, Any]) -> str:
    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    return "\n".join(
        [
            "cff-version: 1.2.0",
            "message: If you use these data, please cite them as below.",
            "type: dataset",
            f"title: {q(package['title'] + ' / ' + package['title_zh'])}",
            f"version: {q(package['version'])}",
            f"date-released: {q(package['created'][:10])}",
            "authors:",
            f"  - name: {q(PUBLISHER)}",
            f"license: {LICENSE['name']}",
            f"identifier: {q(package['id'])}"
            if not package["id"].startswith("urn:")
            else "identifiers:\n  - type: other\n    value: " + q(package["id"]),
            f"abstract: {q(package['description'])}",
            "keywords:",
            "  - government services",
            "  - open data",
            "  - statistical disclosure control",
            "",
        ]
    )


def dictionary_md(package: dict[str, Any]) -> str:
    lines = [
        f"# 数据字典 / Data dictionary — {package['title']} {package['version']}",
        "",
        "Empty cells are missing values: the row's `*_status` column says why "
        "(`primary`, `secondary`, `small_population`; empty = published). "
        "`ALL` in a code column is the total over every value.",
        "",
    ]
    seen: set[str] = set()
    for res in package["resources"]:
        base = res["name"].removesuffix("-excel").removesuffix("-parquet")
        if base in seen:
            continue
        seen.add(base)
        spec = TABLE_BY_NAME[base]
        lines += [
            f"## `{base}` — {spec.title_zh}",
            "",
            f"*{spec.title_en}*",
            "",
            f"Grain: {spec.grain}.",
            "",
            spec.description_zh,
            "",
            spec.description_en,
            "",
            f"Files: `data/{base}.csv`, `data/excel/{base}.csv`, `data/{base}.parquet`.",
            "",
            "| field | type | description | constraints |",
            "|---|---|---|---|",
        ]
        for f in res["schema"]["fields"]:
            cons = ", ".join(f"{k}: {v}" for k, v in (f.get("constraints") or {}).items())
            desc = str(f.get("description", "")).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{f['name']}` | {f['type']} | {desc} | {cons.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def markdown_html(title: str, markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return (
        '<!doctype html>\n<html lang="zh"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;"
        "vertical-align:top}code{background:#f4f4f4}</style></head><body>\n"
        f"{body}</body></html>\n"
    )


DISCLOSURE_MD = """\
### 披露控制 / Disclosure control

- **最小计数 / minimum count**：发布的计数不小于 10，且由不少于 {threshold} 名不同申请人
  （人口表：人；企业数：户）构成；否则抑制（一级抑制）。
  No published count is under 10 or built from fewer than {threshold} distinct applicants
  (population: persons; active enterprises: enterprises): such cells are suppressed.
- **比率 / rates**：分母少于 100（常住人口、企业、办件或评价）的比率、分位数不发布
  (`small_population`)；比率、标化比、期望数等派生指标只在其全部输入均已发布时发布。
  A rate, share or quantile on fewer than 100 residents (enterprises, cases, ratings) is
  withheld; every derived statistic (rates, expected cases, standardised ratios and their
  intervals) is published only when every cell it is computed from is published.
- **保护区间 / protection range**：所有表的所有可加关系（行列合计、区县→地市→省汇总、跨表共享的
  合计）组成一个线性方程组。线性规划审计证明：在全部已发布方程、且每个计数至少为 1 的条件下，
  每个被抑制计数的可行区间宽度至少为 {protection_range:g}（即上界不小于阈值：无法证明其小于阈值）；
  否则继续补充抑制。一级与二级抑制统一标记为 `suppressed`，不加区分。
  Every additive relation between published numbers (row and column totals, county →
  prefecture → province roll-ups, margins shared between tables) forms one linear system; a
  linear-programming audit proves that every suppressed count's feasible interval under all
  of them, with every count at least 1, is at least {protection_range:g} wide (so its upper end
  reaches the threshold: no suppressed count can be shown to be below it), adding
  complementary suppressions until it is. Primary and secondary suppressions are both marked
  `suppressed`.

Cells: {cells}; primary: {primary}; secondary: {secondary}; equations audited: {equations};
narrowest certified interval: {narrowest};
"""


def _disclosure_md(stats: dict[str, Any]) -> str:
    narrowest = stats.get("narrowest_interval")
    return (
        DISCLOSURE_MD.format(
            **stats, narrowest="none" if narrowest is None else f"{narrowest:.2f}"
        ).rstrip(";\n")
        + ".\n"
    )


def readme_md(package: dict[str, Any], stats: dict[str, Any], rows: dict[str, int]) -> str:
    table_lines = "\n".join(
        f"| `{t.name}` | {t.title_zh} | {t.title_en} | {rows[t.name]} |" for t in TABLES
    )
    cov = package["temporalCoverage"]
    return f"""# {package["title_zh"]} — {package["version"]}

# {package["title"]} — {package["version"]}

发布时间 / Created: {package["created"]} · 许可 / Licence: CC BY 4.0 ·
时间范围 / Period: {cov["start"]} – {cov["end"]} ·
区划代码 / Region codes: {package["region_code_list"]["version"]}

## 简介

{package["description_zh"]}

## About

{package["description"]}

## 表 / Tables

| table | 中文 | English | rows |
|---|---|---|---|
{table_lines}

每张表提供三种文件：`data/<表>.csv`（UTF-8）、`data/excel/<表>.csv`（带 BOM 的 UTF-8，
可直接用 Excel 打开）和 `data/<表>.parquet`（带类型）。字段说明见 `data-dictionary.md` /
`data-dictionary.html`，机器可读元数据见 `datapackage.json`，DCAT 目录见 `catalog.jsonld`。

Each table comes as `data/<table>.csv` (UTF-8), `data/excel/<table>.csv` (UTF-8 with BOM, opens
in Excel) and `data/<table>.parquet` (typed). Fields: `data-dictionary.md` / `.html`;
machine-readable metadata: `datapackage.json` (Frictionless Data Package v2); DCAT catalog:
`catalog.jsonld`; changes since the previous release: `CHANGELOG.md`.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR)
are prefixed with an apostrophe `'`, and so is every line inside a cell that starts with one;
a cell holding a line break is quoted.

{_disclosure_md(stats)}
## 校验 / Validate

```
sha256sum -c SHA256SUMS
frictionless validate datapackage.json
```

The validation result at publication is stored in `validation.json`.

## 引用 / Cite

{PUBLISHER}. *{package["title"]}*, version {package["version"]} ({package["created"][:4]}).
Licensed CC BY 4.0. See `CITATION.cff`.
"""
