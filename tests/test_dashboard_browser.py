"""The dashboard in a real browser: Debian chromium driven by Playwright against `streamlit run`
serving the warehouse built from the generated sample. Every page renders with no request
leaving localhost (offline: no tiles, CDN or fonts), a filter changed in the UI changes the KPI
to the value a direct warehouse query gives, the URL carries the filters, a download is safe and
audited. Screenshots of every page go to test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest

from dashboards.pages import PAGES as REGISTRY
from dashboards.pages import link_path
from subjectdb.config import PROJECT_DIR, Paths
from subjectdb.i18n import t
from subjectdb.serving.serve import CHROMIUM, CHROMIUM_ARGS, streamlit_command, streamlit_env

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_DIR / "test-artifacts" / "screenshots"
PAGES = [(link_path(p), p.title_key) for p in REGISTRY]  # (url path, title key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(built: Paths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Paths]]:
    """`streamlit run dashboards/app.py` on a free localhost port over a copy of the data."""
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is missing at {CHROMIUM}: run `make browser-deps`")
    data = Paths(tmp_path_factory.mktemp("served") / "data")
    shutil.copytree(built.root, data.root)
    port = _free_port()
    env = streamlit_env(data)
    log = (tmp_path_factory.mktemp("served-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"streamlit did not start: {Path(log.name).read_text()}")
            time.sleep(0.5)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is missing at {CHROMIUM}: run `make browser-deps`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


_first_visit: dict[str, str] = {}
"""What the very first request to the fresh server (a deep link) showed: its h1 and body text."""
FIRST_DEEP_LINK = ("demand-trends", "page.trends")


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
        if req.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            return
        outside.append(req.url)

    pg.on("request", _check)
    pg.outside_requests = outside  # type: ignore[attr-defined]
    if not _first_visit:
        # The very first request after the server start is a deep link to a page other than
        # the default one (a `pages/` folder beside app.py used to make Streamlit answer it
        # with a "Page not found" dialog): record what it showed, asserted below.
        pg.goto(f"{served[0]}/{FIRST_DEEP_LINK[0]}")
        _wait_ready(pg)
        pg.wait_for_timeout(1000)  # the dialog, if any, opens after the first render
        _first_visit["h1"] = pg.locator("h1").first.inner_text().strip()
        _first_visit["body"] = pg.locator("body").inner_text()
        _first_visit["dialogs"] = str(pg.locator('[role="dialog"]').count())
    yield pg
    ctx.close()


def _wait_ready(pg) -> None:
    """Until the script run has finished (no running indicator) and the page title is drawn."""
    pg.wait_for_selector("h1", timeout=60_000)
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    pg.wait_for_timeout(500)


def _metric(pg, label: str) -> str:
    box = pg.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _year(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT max(year) FROM marts.subj_applicant_demand").fetchone()[0])
    finally:
        con.close()


def _direct_cases(path: Path, year: int, theme: str | None = None) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        sql = "SELECT sum(cases) FROM marts.subj_service_demand WHERE year = ?"
        params: list[object] = [year]
        if theme:
            sql += " AND theme_code = ?"
            params.append(theme)
        return int(con.execute(sql, params).fetchone()[0])
    finally:
        con.close()


def test_deep_link_as_first_request_opens_the_page(page, served) -> None:
    assert _first_visit, "the page fixture did not open the deep link"
    assert _first_visit["h1"] == t(FIRST_DEEP_LINK[1], "zh")
    assert "Page not found" not in _first_visit["body"]
    assert "Running the app's main page" not in _first_visit["body"]
    assert _first_visit["dialogs"] == "0"


def test_every_page_renders_offline(page, served) -> None:
    url, _data = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path, title_key in PAGES:
        page.goto(f"{url}/{path}")
        _wait_ready(page)
        assert page.locator("h1").first.inner_text().strip() == t(title_key, "zh")
        assert page.locator('[data-testid="stException"]').count() == 0, path
        if path in ("", "map", "demand-trends", "age-groups"):
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        if path == "map":
            # the offline map draws its regions (maplibre canvas), with no tile server
            page.wait_for_selector(".js-plotly-plot canvas", timeout=60_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SCREENSHOTS / f"{path or 'overview'}.png"), full_page=False)
    assert page.outside_requests == [], f"requests left localhost: {page.outside_requests[:5]}"


def test_filter_changes_kpi_to_the_warehouse_value(page, served) -> None:
    url, data = served
    y = _year(data.warehouse)
    page.goto(f"{url}/?lang=en&year={y}")
    _wait_ready(page)
    label = t("m.cases", "en")
    assert _metric(page, label) == f"{_direct_cases(data.warehouse, y):,}"
    # choose a theme in the sidebar multiselect, as a planner would
    con = duckdb.connect(str(data.warehouse), read_only=True)
    theme, name = con.execute(
        "SELECT d.theme_code, t.theme_name_en FROM marts.subj_service_demand d "
        "JOIN reference.ref_life_event_themes t USING (theme_code) WHERE d.year = ? "
        "GROUP BY 1, 2 ORDER BY sum(d.cases) DESC LIMIT 1",
        [y],
    ).fetchone()
    con.close()
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(
        has_text=t("f.theme", "en")
    )
    box.locator("input").click()
    box.locator("input").fill(name)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expected = f"{_direct_cases(data.warehouse, y, theme):,}"
    page.wait_for_function(
        """([label, expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
             .some(m => m.innerText.includes(label) && m.innerText.includes(expected))""",
        arg=[label, expected],
        timeout=60_000,
    )
    assert _metric(page, label) == expected
    assert f"theme={theme}" in page.url  # the view can be shared as a link
    # the shared link restores the same view in a new session
    page.goto(page.url)
    _wait_ready(page)
    assert _metric(page, label) == expected
    page.screenshot(path=str(SCREENSHOTS / "overview-filtered-en.png"))


def test_download_is_spreadsheet_safe_and_audited(page, served) -> None:
    url, data = served
    page.goto(f"{url}/map?metric=age_standardised_rate")
    _wait_ready(page)
    button = page.locator('[data-testid="stDownloadButton"]').first
    with page.expect_download() as dl:
        button.click()
    body = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert len(rows) > 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # only numbers may start with a minus
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        events = [json.loads(x) for x in data.audit_log.read_text(encoding="utf-8").splitlines()]
        downloads = [e for e in events if e["event"] == "download"]
        if downloads:
            break
        time.sleep(0.5)
    assert downloads, "the download was not written to the audit log"
    assert downloads[-1]["rows"] == len(rows) - 1
    assert downloads[-1]["page"] == "map"
    assert any(e["event"] == "view" and e["page"] == "map" for e in events)


def _open_prefecture_map(page, url: str):
    page.goto(f"{url}/map?level=prefecture")
    _wait_ready(page)
    plot = page.locator(".js-plotly-plot").first
    page.wait_for_selector(".js-plotly-plot canvas", timeout=60_000)
    page.wait_for_timeout(1500)  # let maplibre draw the regions
    box = plot.bounding_box()
    assert box is not None
    assert "region=" not in page.url
    return plot, box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5


def _assert_drilled(page) -> None:
    page.wait_for_function("() => location.search.includes('region=')", timeout=60_000)
    _wait_ready(page)
    assert "level=county" in page.url  # drilled into the prefecture's counties
    assert page.locator('[data-testid="stException"]').count() == 0


def test_click_on_the_map_drills_down(page, served) -> None:
    url, _data = served
    _plot, cx, cy = _open_prefecture_map(page, url)
    # one click on a prefecture selects it (pan mode, clickmode event+select) and drills down
    page.mouse.click(cx, cy)
    _assert_drilled(page)
    page.screenshot(path=str(SCREENSHOTS / "map-drilldown.png"))


def test_box_select_on_the_map_drills_down(page, served) -> None:
    url, _data = served
    plot, cx, cy = _open_prefecture_map(page, url)
    # the modebar's box tool, then a box drawn in the middle of the province
    plot.hover()
    plot.locator('[data-title="Box Select"]').click()
    page.mouse.move(cx - 70, cy - 70)
    page.mouse.down()
    page.mouse.move(cx + 70, cy + 70, steps=10)
    page.mouse.up()
    _assert_drilled(page)
