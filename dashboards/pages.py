"""The dashboard's page registry: the one list of pages that the app, the browser tests, the
benchmarks and the dbt exposures (``models/marts/subjects/_subjects__exposures.yml``) all read.

Pure data (no Streamlit import), so tests and the benchmark harness can read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIEWS_DIR = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class Page:
    """One page: its script ``views/<stem>.py``, title key in :mod:`subjectdb.i18n`, URL path
    and the dbt exposure that lists what it reads."""

    stem: str
    title_key: str
    url_path: str

    @property
    def script(self) -> Path:
        return VIEWS_DIR / f"{self.stem}.py"

    @property
    def exposure(self) -> str:
        return f"dashboard_{self.stem}"


PAGES: tuple[Page, ...] = (
    Page("overview", "page.overview", "home"),  # the default page: served at "/"
    Page("demand_map", "page.map", "map"),
    Page("age_groups", "page.age", "age-groups"),
    Page("compare", "page.compare", "compare-regions"),
    Page("service_types", "page.services", "services"),
    Page("trends", "page.trends", "demand-trends"),
    Page("performance", "page.performance", "service-performance"),
    Page("digital_divide", "page.digital", "digital-divide"),
    Page("enterprises", "page.enterprises", "enterprise-demand"),
    Page("data_quality", "page.quality", "data-quality"),
    Page("open_data", "page.opendata", "open-data-release"),
    Page("catalogue", "page.catalogue", "resource-catalogue"),
    Page("api_audit", "page.api_audit", "api-audit"),
    Page("cross_verification", "page.verification", "cross-verification"),
)
DEFAULT = PAGES[0]
BY_STEM = {p.stem: p for p in PAGES}


def link_path(page: Page) -> str:
    """The path a browser opens for ``page`` (the default page lives at the root)."""
    return "" if page is DEFAULT else page.url_path
