"""The data-sharing pages in a real browser: Debian chromium driven by Playwright against
`streamlit run` serving the warehouse built from the generated sample (the server and browser
fixtures of tests/test_dashboard_browser.py). Each page shows its Chinese title and numbers
equal to a direct query (or the models' catalogue), with no request leaving localhost; the
cross-verification page's feedback-list download holds the department's case ids and is
audited. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest
from test_dashboard_browser import SCREENSHOTS, _metric, _wait_ready, browser, served

from subjectdb import catalogue as cat
from subjectdb.i18n import t

pytestmark = pytest.mark.browser
__all__ = ["browser", "served"]  # fixtures shared with tests/test_dashboard_browser.py


def _direct(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture()
def page(browser, served):
    ctx = browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True, locale="zh-CN"
    )
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    outside: list[str] = []

    def _check(req) -> None:
        host = urlparse(req.url).hostname
        if not req.url.startswith(("data:", "blob:")) and host not in ("127.0.0.1", "localhost"):
            outside.append(req.url)

    pg.on("request", _check)
    pg.outside_requests = outside  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def test_sharing_pages_show_their_numbers_in_chinese(page, served) -> None:
    url, data = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{url}/resource-catalogue")
    _wait_ready(page)
    assert page.locator("h1").first.inner_text().strip() == t("page.catalogue", "zh")
    assert _metric(page, t("cat.resources", "zh")) == str(len(cat.from_yaml()))
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(SCREENSHOTS / "resource-catalogue.png"))

    page.goto(f"{url}/api-audit")
    _wait_ready(page)
    assert page.locator("h1").first.inner_text().strip() == t("page.api_audit", "zh")
    assert page.locator('[data-testid="stException"]').count() == 0

    page.goto(f"{url}/cross-verification")
    _wait_ready(page)
    assert page.locator("h1").first.inner_text().strip() == t("page.verification", "zh")
    assert page.locator('[data-testid="stException"]').count() == 0
    ((year,),) = _direct(data.warehouse, "select max(year) from marts.subj_applicant_demand")
    checks = "intermediate.int_verification__case_checks"
    ((cases, mismatches),) = _direct(
        data.warehouse,
        f"select count(*), count(*) filter (where is_mismatch) from {checks} "
        "where year(submitted_month) = ? and dept_name is not null",
        [year],
    )
    assert mismatches > 0  # the sample's own register mismatches
    assert _metric(page, t("xv.checked", "zh")) == f"{cases:,}"
    assert _metric(page, t("m.mismatches", "zh")) == f"{mismatches:,}"
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "cross-verification.png"), full_page=True)

    # the default department (most mismatches in the period) and its feedback list
    ((department, n),) = _direct(
        data.warehouse,
        f"select dept_name, count(*) from {checks} where is_mismatch and "
        "year(submitted_month) = ? group by 1 order by 2 desc, 1 limit 1",
        [year],
    )
    button = page.locator('[data-testid="stDownloadButton"]').filter(
        has_text=t("xv.feedback_download", "zh")
    )
    with page.expect_download() as dl:
        button.click()
    body = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    expected = _direct(
        data.warehouse,
        f"select case_id from {checks} where is_mismatch and dept_name = ? "
        "and year(submitted_month) = ? order by submitted_month, case_id",
        [department, year],
    )
    assert [r[t("xv.case_id", "zh")] for r in rows] == [c for (c,) in expected]
    assert len(rows) == n
    deadline = time.monotonic() + 20
    downloads: list[dict] = []
    while time.monotonic() < deadline and not downloads:
        events = [json.loads(x) for x in data.audit_log.read_text(encoding="utf-8").splitlines()]
        downloads = [e for e in events if e.get("detail") == f"feedback/{department}"]
        time.sleep(0.5)
    assert downloads, "the feedback download was not written to the audit log"
    assert downloads[-1]["rows"] == n and downloads[-1]["page"] == "cross-verification"
    assert page.outside_requests == [], f"requests left localhost: {page.outside_requests[:5]}"
