"""The command line as a steward meets it: commands that read a data folder refuse one that
does not exist (and create nothing), and a served dashboard ends with its command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from subjectdb.config import Paths


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("subjectdb")), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize("command", ["quarantine", "validate", "publish", "build", "serve", "api"])
def test_a_missing_data_folder_is_an_error(command: str, tmp_path: Path) -> None:
    typo = tmp_path / "no-such-folder"
    proc = _run(command, "--data-dir", str(typo))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no data folder" in proc.stdout + proc.stderr
    assert not typo.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_serve_ends_streamlit_on_sigterm(built: Paths) -> None:
    port = _free_port()
    exe = str(Path(sys.executable).with_name("subjectdb"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--data-dir", str(built.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not _answers(port):
            assert proc.poll() is None, "subjectdb serve ended before the dashboard answered"
            assert time.monotonic() < deadline, "the dashboard did not answer within 120 s"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while _answers(port):  # Streamlit (its own process group) must be gone too
            assert time.monotonic() < deadline, "Streamlit kept serving after its command ended"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
