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


def run_streamlit(cmd: list[str], env: dict[str, str], cwd: Path = PROJECT_DIR) -> int:
    """Run Streamlit in its own process group until it ends; SIGTERM, SIGINT or SIGHUP sent to
    this process end the whole group (Streamlit and anything it started, SIGKILL after 10 s)
    and return ``128 + signal``."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    stopped: list[tuple[int, float]] = []

    def _stop(signum: int, _frame: object) -> None:  # only signals: never waits here
        stopped.append((signum, time.monotonic()))
        _signal_group(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopped and time.monotonic() - stopped[0][1] > 10:
                    _signal_group(proc.pid, signal.SIGKILL)
    finally:
        _signal_group(proc.pid, signal.SIGTERM)  # whatever Streamlit started, if it lingers
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + stopped[0][0] if stopped else code


def _signal_group(pgid: int, sig: int) -> None:
    import contextlib

    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has ended
        os.killpg(pgid, sig)
