"""The dashboard's side: the fixed filter sets, the queries each page runs, their times on one
open warehouse, and each page's time to ready in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from subjectdb.bench.measure import Outcome, clock, stage_paths
from subjectdb.bench.spec import BenchmarkError
from subjectdb.config import PROJECT_DIR
from subjectdb.serving.serve import CHROMIUM, CHROMIUM_ARGS, streamlit_command, streamlit_env


def filter_sets(wh: Any) -> list[tuple[str, Any]]:
    """A fixed, data-derived set of filter combinations (the same for every run of a size)."""
    from subjectdb.serving import queries
    from subjectdb.serving.queries import Filters

    first, last = queries.period_bounds(wh)
    regions = queries.regions_present(wh)
    labels = queries.labels(wh)
    year_from = max(first, date(last.year, 1, 1))
    year = Filters(year_from, last)
    prefecture = str(sorted(regions["prefecture"].dropna().unique())[0])
    county = str(sorted(regions["county"].dropna().unique())[0])
    themes = labels["theme"]
    person_theme = str(sorted(themes[themes["applicant_type"] == "person"]["code"])[0])
    quarter_from = date(last.year, max(1, last.month - 2), 1)
    half_from = date(last.year, max(1, last.month - 5), 1)
    return [
        ("last year", year),
        ("whole period", Filters(first, last)),
        ("last year, one prefecture", replace(year, region=prefecture)),
        ("last year, one county", replace(year, region=county)),
        (
            "last quarter, elderly persons",
            Filters(quarter_from, last, age_groups=("60-74", "75+"), applicant_types=("person",)),
        ),
        ("last year, online channels", replace(year, channels=("web", "app"))),
        ("last half-year, one theme", Filters(half_from, last, themes=(person_theme,))),
        ("last year, enterprises", replace(year, applicant_types=("enterprise",))),
    ]


def page_queries(
    f: Any, bounds: tuple[date, date], data_root: Path
) -> dict[str, list[tuple[str, Callable[[Any], Any]]]]:
    """The queries each dashboard page runs for filters ``f`` (as in ``dashboards/views``)."""
    from subjectdb.serving import queries as q

    elderly = replace(f, age_groups=("60-74", "75+"), applicant_types=("person",))
    level = "county" if f.region and not f.region.endswith("00") else "prefecture"
    whole = replace(f, month_from=bounds[0], month_to=bounds[1])
    year = f.month_to.year
    theme = f.themes[0] if len(f.themes) == 1 else "ALL"
    picked: dict[str, str] = {}  # the cross-verification page's default department

    def xv_departments(wh: Any) -> Any:
        r = q.cross_verification(wh, f, ("department", "check"))
        per = r.data.groupby("department", as_index=False)["mismatches"].sum()
        per = per.sort_values(["mismatches", "department"], ascending=[False, True])
        picked["department"] = str(per["department"].iloc[0]) if len(per) else ""
        return r

    def xv(dims: tuple[str, ...]) -> Callable[[Any], Any]:
        return lambda wh: q.cross_verification(wh, f, dims, picked["department"])

    return {
        "common": [
            ("labels", q.labels),
            ("period_bounds", q.period_bounds),
            ("regions_present", q.regions_present),
        ],
        "overview": [
            ("kpis", lambda wh: q.kpis(wh, f)),
            ("demand(month)", lambda wh: q.demand(wh, f, ("month",))),
        ],
        "demand_map": [
            ("demand(level)", lambda wh: q.demand(wh, f, (level,))),
            ("standardised", lambda wh: q.standardised(wh, f, year, theme)),
            ("demand(elderly)", lambda wh: q.demand(wh, elderly, (level,))),
        ],
        "age_groups": [
            ("population_pyramid", lambda wh: q.population_pyramid(wh, f)),
            ("demand(age)", lambda wh: q.demand(wh, f, ("age_group",))),
            ("demand(age,theme)", lambda wh: q.demand(wh, f, ("age_group", "theme"))),
        ],
        "service_types": [("items_demand", lambda wh: q.items_demand(wh, f))],
        "trends": [
            ("demand(month)", lambda wh: q.demand(wh, f, ("month",))),
            ("demand(month, -12)", lambda wh: q.demand(wh, f.shifted(-12), ("month",))),
            ("demand(month, all)", lambda wh: q.demand(wh, whole, ("month",))),
        ],
        "performance": [
            ("performance_summary", lambda wh: q.performance_summary(wh, f)),
            ("processing_quantiles", lambda wh: q.processing_quantiles(wh, f)),
            ("processing_time", lambda wh: q.processing_time(wh, f)),
            ("performance_by(item)", lambda wh: q.performance_by(wh, f, "item")),
            ("performance_by(department)", lambda wh: q.performance_by(wh, f, "department")),
        ],
        "digital_divide": [
            ("demand(age,urban)", lambda wh: q.demand(wh, f, ("age_group", "urban_rural"))),
            ("demand(level)", lambda wh: q.demand(wh, f, (level,))),
            ("demand(age,channel)", lambda wh: q.demand(wh, f, ("age_group", "channel"))),
        ],
        "enterprises": [
            (f"enterprise_demand({d})", lambda wh, d=d: q.enterprise_demand(wh, f, (d,)))
            for d in ("industry", "size_class", "county")
        ],
        "cross_verification": [
            ("cross_verification()", lambda wh: q.cross_verification(wh, f, ())),
            ("cross_verification(department,check)", xv_departments),
            ("cross_verification(dept)", xv(())),
            ("cross_verification(dept: item,check)", xv(("item", "check"))),
            ("cross_verification(dept: month,type)", xv(("month", "applicant_type"))),
            (
                "feedback_cases(dept)",
                lambda wh: q.feedback_cases(wh, picked["department"], f.month_from, f.month_to),
            ),
            ("cross_verification(dept: item,month,check)", xv(("item", "month", "check"))),
        ],
        "data_quality": [
            (
                "validation results",
                lambda wh: q.read_parquet_file(data_root / "validation" / "results.parquet"),
            ),
            ("quarantine_counts", lambda wh: q.quarantine_counts(data_root)),
            (
                "reconciliation",
                lambda wh: q.read_parquet_file(data_root / "reconciliation.parquet"),
            ),
        ],
    }


def _percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), of a non-empty sequence."""
    xs = sorted(values)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def dashboard_queries_stage(spec: dict[str, Any]) -> Outcome:
    from subjectdb.serving.queries import Warehouse

    paths = stage_paths(spec)
    wh = Warehouse(paths.warehouse)
    try:
        wh.build_id  # attach once: the dashboard keeps its connection open  # noqa: B018
        from subjectdb.serving import queries

        bounds = queries.period_bounds(wh)
        sets = filter_sets(wh)
        page_ms: dict[str, list[float]] = {}
        query_ms: dict[str, list[float]] = {}
        start = time.perf_counter()
        calls = 0
        for _, f in sets:
            for page, items in page_queries(f, bounds, paths.root).items():
                total = 0.0
                for name, fn in items:
                    ms, _ = clock(lambda fn=fn: fn(wh))
                    ms *= 1000
                    total += ms
                    calls += 1
                    query_ms.setdefault(f"{page}: {name}", []).append(ms)
                page_ms.setdefault(page, []).append(total)
        seconds = time.perf_counter() - start
    finally:
        wh.close()

    def stats(xs: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(_percentile(xs, 0.5), 1),
            "p95_ms": round(_percentile(xs, 0.95), 1),
            "max_ms": round(max(xs), 1),
            "n": len(xs),
        }

    extra = {
        "filter_sets": [name for name, _ in sets],
        "pages": {p: stats(v) for p, v in page_ms.items()},
        "queries": {q: stats(v) for q, v in query_ms.items()},
        "calls": calls,
    }
    return Outcome(seconds, calls, extra)


READY_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]');
  return !!(main && main.querySelector('[data-testid="stHeading"], h1'));
}"""
"""Page ready: the script finished, no running indicator, the main area shows its title."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchmarkError(f"streamlit exited with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.25)
    raise BenchmarkError(f"streamlit did not answer on {url} within {timeout:.0f} s")


def dashboard_pages() -> list[tuple[str, str]]:
    """(file stem, URL path) of every dashboard page, from the page registry."""
    from dashboards.pages import PAGES

    return [(p.stem, p.url_path) for p in PAGES]


def page_ready_stage(spec: dict[str, Any]) -> Outcome:
    if not CHROMIUM.exists():
        return Outcome(0.0, 0, {"not_measured": "chromium missing"})
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return Outcome(0.0, 0, {"not_measured": "playwright missing"})
    paths = stage_paths(spec)
    port = _free_port()
    env = streamlit_env(paths)
    cmd = streamlit_command(port, "--server.fileWatcherType", "none")
    log = paths.build_dir / "bench-streamlit.log"
    pages: dict[str, float] = {}
    errors: dict[str, str] = {}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            _wait_healthy(port, proc)
            server_start = time.perf_counter() - started
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    base = f"http://127.0.0.1:{port}"
                    first = _open_page(browser, f"{base}/")  # cold: imports, first attach
                    for stem, url in dashboard_pages():
                        try:
                            pages[stem] = _open_page(browser, f"{base}/{url}")
                        except Exception as exc:  # noqa: BLE001 - reported per page
                            errors[stem] = f"{type(exc).__name__}: {exc}"[:300]
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if errors:
        raise BenchmarkError("dashboard pages did not get ready: " + json.dumps(errors))
    seconds = sum(pages.values())
    extra = {
        "server_start_seconds": round(server_start, 3),
        "first_load_seconds": round(first, 3),
        "pages": {p: round(s, 3) for p, s in pages.items()},
        "slowest_page": max(pages, key=lambda p: pages[p]) if pages else None,
        "max_seconds": round(max(pages.values()), 3) if pages else None,
    }
    return Outcome(seconds, len(pages), extra)


def _open_page(browser: Any, url: str, timeout_ms: int = 120_000) -> float:
    """Seconds from navigation to page ready, in a fresh browser context (a new session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        page.wait_for_function(READY_JS, timeout=timeout_ms, polling=50)
        seconds = time.perf_counter() - start
        exc = page.query_selector('[data-testid="stException"]')
        if exc is not None:
            raise BenchmarkError(f"{url} shows an exception: {exc.inner_text()[:200]}")
        return seconds
    finally:
        context.close()
