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


def _demo_options() -> list[str]:
    """`subjectdb demo`'s sample options for the suite's sample (tests/conftest.py SAMPLE)."""
    from conftest import SAMPLE

    first, last = SAMPLE["years"]
    assert SAMPLE["province"] == "330000" and SAMPLE["fmt"] == "csv"  # demo's own defaults
    return [
        *("--persons", str(SAMPLE["persons"]), "--enterprises", str(SAMPLE["enterprises"])),
        *("--cases", str(SAMPLE["cases"]), "--years", f"{first}-{last}"),
        *("--batches", str(SAMPLE["batches"]), "--defect-rate", str(SAMPLE["defect_rate"])),
        *("--seed", str(SAMPLE["seed"])),
    ]


def test_demo_twice(published_sample: Paths, tmp_path: Path) -> None:
    """`make demo` again and again on one data folder: the same sample is generated, nothing
    new is loaded, build and publish are "up to date", validation passes, and the second demo
    serves the dashboard — the warehouse and the release of the first demo, untouched."""
    from subjectdb.release import list_releases

    paths = Paths(tmp_path / "data")
    subprocess.run(["cp", "-a", str(published_sample.root), str(paths.root)], check=True)
    served = paths.warehouse.stat()
    (release,) = list_releases(paths)
    args = ["demo", "--data-dir", str(paths.root), *_demo_options()]

    first = _run(*args, "--no-serve")
    output = " ".join((first.stdout + first.stderr).split())
    assert first.returncode == 0, output
    assert output.count("(same content): skipped") == 9  # 3 batches × 3 extracts
    assert "up to date: nothing new, nothing run" in output
    assert f"up to date: release {release['folder'].name} already publishes this build" in output

    port = _free_port()
    exe = str(Path(sys.executable).with_name("subjectdb"))
    log = tmp_path / "second-demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [exe, *args, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300
        while not _answers(port):
            assert proc.poll() is None, f"the second demo ended early:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the second demo's dashboard did not answer"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    second = " ".join(log.read_text().split())
    assert second.count("(same content): skipped") == 9 and "up to date: nothing new" in second

    assert paths.warehouse.stat().st_ino == served.st_ino  # never swapped
    assert paths.warehouse.stat().st_mtime_ns == served.st_mtime_ns
    assert [r["folder"].name for r in list_releases(paths)] == [release["folder"].name]
    assert not list(paths.build_dir.glob("warehouse.*.duckdb"))  # no copy kept
