"""How the dashboard is served: the one Streamlit command line used by the CLI, the benchmarks
and the browser tests (localhost only, headless, no usage statistics)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from subjectdb.config import PROJECT_DIR, Paths

APP = PROJECT_DIR / "dashboards" / "app.py"

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium: the browser of the browser tests and the page-ready benchmark."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Headless flags: no sandbox (root in CI), and no background calls to Google's hosts, which a
closed network refuses."""


def streamlit_command(port: int, *extra: str) -> list[str]:
    """``streamlit run dashboards/app.py`` on 127.0.0.1:``port``, plus ``extra`` options."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        *extra,
    ]  # fmt: skip


def streamlit_env(paths: Paths) -> dict[str, str]:
    """The environment of a served dashboard: this process's, with the data folder set."""
    return {**os.environ, "SUBJECTDB_DATA": str(paths.root)}
