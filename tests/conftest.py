"""Shared fixtures: one small generated sample, loaded and built once per test session.

Tests assert real behaviour on data made by the generator. Fixtures that change data copy it
first; the session-wide ones are read-only for tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from subjectdb.config import PROJECT_DIR, Paths

SAMPLE = dict(
    province="330000",
    persons=4_000,
    enterprises=600,
    cases=12_000,
    years=(2024, 2025),
    batches=3,
    fmt="csv",
    defect_rate=0.02,
    seed=7,
)


@pytest.fixture(scope="session", autouse=True)
def _hmac_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ.setdefault("SUBJECTDB_HMAC_KEY", "test-key-not-secret")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest leaves a page script as ``sys.modules['__main__']``; a later test
    that starts worker processes with ``spawn`` would re-run that script in every child.
    Put the real main module back after each test."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def raw_sample(tmp_path_factory: pytest.TempPathFactory):
    """A generated raw sample (GenerateResult) under a session temp folder."""
    from subjectdb.synth import generate

    out = tmp_path_factory.mktemp("sample") / "raw"
    return generate(out=out, **SAMPLE)


@pytest.fixture(scope="session")
def loaded(raw_sample, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A data folder with the sample loaded into the landing zone (and load quarantine)."""
    from subjectdb.ingest import load_paths

    paths = Paths(tmp_path_factory.mktemp("loaded") / "data").ensure()
    load_paths([raw_sample.out], paths)
    return paths


@pytest.fixture(scope="session")
def built(loaded: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A data folder with the sample loaded and built: raw suites, dbt build, gates, swap."""
    from subjectdb.warehouse.build import build

    paths = Paths(tmp_path_factory.mktemp("built") / "data")
    shutil.copytree(loaded.root, paths.root)
    result = build(paths)
    assert result.ok, result.summary()
    return paths


@pytest.fixture(scope="session")
def _published(built: Paths, tmp_path_factory: pytest.TempPathFactory):
    """The built sample published once as release 1.0.0, and the warehouse relations that
    publish read (traced: tests/test_exposures.py checks the open-data exposures against them)."""
    from tracing import traced_reads

    from subjectdb.release import publish

    paths = Paths(tmp_path_factory.mktemp("published") / "data")
    shutil.copytree(built.root, paths.root)
    with traced_reads() as seen:
        release = publish(paths, version="1.0.0")
    assert release.is_dir()
    return paths, frozenset(seen)


@pytest.fixture(scope="session")
def published_sample(_published) -> Paths:
    """The built sample published once as release 1.0.0 (read-only for tests: copy it to
    change it): what the first ``subjectdb demo`` leaves, the Data Docs aside. Publishing the
    sample costs a minute (the disclosure audit), so every test that needs a release of the
    generated sample reads this one."""
    return _published[0]


@pytest.fixture(scope="session")
def published_sample_reads(_published) -> frozenset[tuple[str, str]]:
    """(schema, relation) of every statement the publish of :func:`published_sample` ran."""
    return _published[1]


@pytest.fixture(scope="session")
def planted(raw_sample, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """The sample with the planted register mismatches of tests/test_cross_verification.py,
    loaded and built through the whole pipeline (once: the cross-verification tests and the
    sharing pages read it; the dashboard's audit log is the only thing written into it)."""
    from test_cross_verification import plant

    from subjectdb.ingest import load_paths
    from subjectdb.warehouse.build import build

    root = tmp_path_factory.mktemp("planted")
    raw = root / "raw"
    shutil.copytree(raw_sample.out, raw)
    plant(raw)
    paths = Paths(root / "data").ensure()
    load_paths([raw], paths)
    result = build(paths)
    assert result.ok, result.summary()
    return paths


def copy_data(src: Paths, dst: Path) -> Paths:
    """A private, writable copy of a session data folder."""
    shutil.copytree(src.root, dst)
    return Paths(dst)


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's real dbt manifest, from one ``dbt parse`` of the working tree."""
    target = tmp_path_factory.mktemp("dbt_parse")
    env = {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "parse",
            "--target-path",
            str(target / "target"),
            "--log-path",
            str(target / "logs"),
            "--profiles-dir",
            str(PROJECT_DIR),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return target / "target" / "manifest.json"
