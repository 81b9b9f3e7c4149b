"""Builds under attack and under routine repetition: a killed build leaves no key material and
takes its dbt with it; builds are serialised; nothing new is a no-op; the key can be rotated;
clean removes scratch, never the served warehouse or landing data.

The attack: a build is killed (SIGKILL of its process group) while dbt hashes identifiers,
then every file under the data folder and the project's target/ and logs/ is scanned for the
key and the HMAC pads, as text and as bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import copy_data
from typer.testing import CliRunner

from subjectdb.cli import app
from subjectdb.config import HMAC_ENV, PROJECT_DIR, Paths, hmac_key
from subjectdb.ingest.load import load_paths
from subjectdb.warehouse import rotate, scratch
from subjectdb.warehouse.build import (
    BUILD_INFO_JSON,
    NEW_KEY_FILE,
    BuildLocked,
    build,
    current_fingerprints,
    key_fingerprint,
    settle_key_file,
    stored_build_info,
    up_to_date,
)
from subjectdb.warehouse.keyed_hash import hmac_pads
from subjectdb.warehouse.scratch import BUILDING, LOCK_FILE, SCRUBBED_MARK

runner = CliRunner()
HASHED = "OK created sql incremental model staging.stg_"
"""A line of dbt's log once a hashing staging model has run (so the pads were in use)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie counts as gone
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _dbt_log_has(paths: Paths, text: str) -> bool:
    return any(text in p.read_text(errors="replace") for p in paths.build_dir.glob("dbt-*/logs/*"))


def _lock_info(paths: Paths) -> dict:
    raw = (paths.build_dir / LOCK_FILE).read_text()
    return json.loads(raw) if raw.strip() else {}


def _lock_free(paths: Paths) -> bool:
    fd = os.open(paths.build_dir / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _start_build(paths: Paths, key: str, log: Path) -> subprocess.Popen[bytes]:
    """``subjectdb build`` in its own session (process group), hashing with ``key``."""
    env = {**os.environ, HMAC_ENV: key, "SUBJECTDB_DATA": str(paths.root)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "subjectdb.cli", "build", "--data-dir", str(paths.root)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _needles(key: str) -> dict[str, bytes]:
    ipad, opad = hmac_pads(key)
    found = {"key": key.encode(), "key hex": key.encode().hex().encode()}
    for name, pad in (("ipad", ipad), ("opad", opad)):
        found[f"{name} hex"] = pad.encode()
        found[f"{name} HEX"] = pad.upper().encode()
        found[f"{name} raw"] = bytes.fromhex(pad)
    return found


def _scan(roots: list[Path], needles: dict[str, bytes]) -> list[str]:
    hits = []
    for root in roots:
        if not root.exists():
            continue
        for path in [root] if root.is_file() else root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            hits += [f"{path}: {name}" for name, n in needles.items() if n in data]
    return hits


@pytest.fixture(scope="module")
def killed(loaded: Paths, tmp_path_factory: pytest.TempPathFactory):
    """A build killed (SIGKILL of its process group) after dbt hashed the staging models;
    a concurrent build was tried while it ran."""
    paths = copy_data(loaded, tmp_path_factory.mktemp("killed") / "data")
    key = "kill-" + secrets.token_urlsafe(24)
    log = paths.root.parent / "build.out"
    proc = _start_build(paths, key, log)
    try:
        _wait(lambda: _dbt_log_has(paths, HASHED), 900, "dbt to hash the staging models")
        assert proc.poll() is None, log.read_text()
        info = _lock_info(paths)
        concurrent = runner.invoke(app, ["build", "--data-dir", str(paths.root)])
        with pytest.raises(BuildLocked) as refused:
            build(paths)
        work = sorted(paths.build_dir.glob("dbt-*"))
        modes = {w.name: w.stat().st_mode & 0o777 for w in work}
        had_scratch = (paths.build_dir / BUILDING).exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    dbt_pid = int(info["dbt_pid"])
    deadline = time.monotonic() + 30
    while _alive(dbt_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    dbt_survived = _alive(dbt_pid)
    if dbt_survived:  # leave no orphan behind, even when failing
        os.kill(dbt_pid, signal.SIGKILL)
    return dict(
        paths=paths,
        key=key,
        info=info,
        concurrent=concurrent,
        refused=str(refused.value),
        modes=modes,
        had_scratch=had_scratch,
        dbt_survived=dbt_survived,
    )


def test_a_killed_build_takes_its_dbt_with_it(killed) -> None:
    assert killed["info"]["pid"] != killed["info"]["dbt_pid"]
    assert not killed["dbt_survived"], "dbt outlived its killed build"
    _wait(lambda: _lock_free(killed["paths"]), 30, "the lock to be released")


def test_a_second_build_is_refused_while_one_runs(killed) -> None:
    pid = killed["info"]["pid"]
    assert killed["concurrent"].exit_code == 1
    out = " ".join(killed["concurrent"].output.split())
    assert "another build is running in this data folder" in out
    assert f"pid {pid}" in out and killed["info"]["build_id"] in out
    assert f"pid {pid}" in killed["refused"]


def test_the_dbt_folder_is_private(killed) -> None:
    assert killed["modes"] and set(killed["modes"].values()) == {0o700}


def test_no_key_material_on_disk_after_a_killed_build(killed) -> None:
    """Every file under the data folder, the project's target/ and logs/: no key, no pad."""
    paths = killed["paths"]
    assert not (paths.secrets / "hmac.key").exists()  # the key came from the environment
    compiled = list(paths.build_dir.glob("dbt-*/target/compiled"))
    assert compiled, "the killed run left compiled SQL: the scan below must cover it"
    roots = [paths.root, PROJECT_DIR / "target", PROJECT_DIR / "logs"]
    assert not _scan(roots, _needles(killed["key"]))
    # the scan finds the needles where they are
    probe = paths.root.parent / "probe.bin"
    probe.write_bytes(b"x" + _needles(killed["key"])["ipad raw"] + b"y")
    assert _scan([probe], _needles(killed["key"])) == [f"{probe}: ipad raw"]


def test_the_next_build_after_a_kill_succeeds(killed) -> None:
    paths = killed["paths"]
    _wait(lambda: _lock_free(paths), 30, "the lock to be released")
    result = build(paths)
    assert result.ok, result.summary()
    summary = str(result.summary())
    if killed["had_scratch"]:
        assert f"removed {BUILDING} left by an interrupted build (not replayed)" in summary
    assert "scrubbed dbt-" in summary  # the killed run's folder, swept
    assert not list(paths.build_dir.glob("dbt-*/target/compiled"))
    assert all((t / SCRUBBED_MARK).exists() for t in paths.build_dir.glob("dbt-*/target"))


def test_sigterm_ends_dbt_and_cleans_up(loaded: Paths, tmp_path: Path) -> None:
    paths = copy_data(loaded, tmp_path / "data")
    log = tmp_path / "build.out"
    proc = _start_build(paths, "term-" + secrets.token_urlsafe(12), log)
    try:
        _wait(lambda: _dbt_log_has(paths, " START "), 900, "dbt to start")
        dbt_pid = int(_lock_info(paths)["dbt_pid"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not _alive(dbt_pid)
    assert "build interrupted by SIGTERM: dbt stopped, served warehouse unchanged" in " ".join(
        log.read_text().split()
    )
    assert _lock_free(paths)
    assert not (paths.build_dir / BUILDING).exists()
    assert not Path(f"{paths.build_dir / BUILDING}.wal").exists()
    (target,) = paths.build_dir.glob("dbt-*/target")
    assert (target / SCRUBBED_MARK).exists() and not (target / "compiled").exists()
    (build_log,) = (paths.build_dir / "logs").glob("*.log")
    assert "interrupted" in build_log.read_text()


def test_load_twice_build_twice(built: Paths, raw_sample, tmp_path: Path) -> None:
    """The same delivery loaded again, then built again: "up to date", exit 0, nothing
    copied, run or written; a changed input makes the build run again."""
    paths = copy_data(built, tmp_path / "data")
    reports = load_paths([raw_sample.out], paths)
    assert reports and not any(r.rejected for r in reports)
    served = paths.warehouse.stat()
    info = (paths.root / BUILD_INFO_JSON).read_text()
    before = sorted(p.relative_to(paths.root) for p in paths.build_dir.rglob("*"))
    outcome = runner.invoke(app, ["build", "--data-dir", str(paths.root)])
    assert outcome.exit_code == 0, outcome.output
    assert "up to date" in outcome.output
    assert paths.warehouse.stat().st_ino == served.st_ino
    assert paths.warehouse.stat().st_mtime_ns == served.st_mtime_ns
    assert (paths.root / BUILD_INFO_JSON).read_text() == info
    assert not list(paths.build_dir.glob("warehouse.*.duckdb"))
    after = sorted(p.relative_to(paths.root) for p in paths.build_dir.rglob("*"))
    assert after == before  # no copy, no dbt folder, no log
    # what the up-to-date check compares: each input, changed alone, makes a build run
    current = current_fingerprints(paths)
    assert up_to_date(paths, current) == stored_build_info(paths.warehouse)["build_id"]
    batch = next((paths.landing / "cases").rglob("*.parquet"))
    os.utime(batch, ns=(batch.stat().st_atime_ns, batch.stat().st_mtime_ns + 1))
    assert up_to_date(paths, current_fingerprints(paths)) is None
    for name in ("key_fingerprint", "seeds_fingerprint", "project_fingerprint"):
        assert up_to_date(paths, {**current, name: "other"}) is None, name


def test_build_logs_carry_no_colour_codes(built: Paths) -> None:
    logs = list((built.build_dir / "logs").glob("*.log")) + list(
        built.build_dir.glob("dbt-*/logs/dbt.log")
    )
    assert len(logs) >= 2
    for log in logs:
        text = log.read_text()
        assert "\x1b[" not in text, log
    (summary,) = (built.build_dir / "logs").glob("*.log")
    assert "-- dbt output --" in summary.read_text()


def test_failed_builds_keep_at_most_the_policy(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    paths = Paths(tmp_path / "data").ensure()
    ids = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"]
    for i in ids:
        (paths.build_dir / f"warehouse.{i}.duckdb").write_bytes(b"x")
        (paths.build_dir / f"dbt-{i}" / "logs").mkdir(parents=True)
    scratch.prune(paths, scratch.keep_failed())
    assert [p.name for p in scratch.failed_copies(paths)] == [f"warehouse.{ids[-1]}.duckdb"]
    assert len(list(paths.build_dir.glob("dbt-*"))) == 3  # logs of failed builds stay
    scratch.prune(paths, 0)
    assert not scratch.failed_copies(paths)
    monkeypatch.setenv(scratch.KEEP_FAILED_ENV, "2")
    assert scratch.keep_failed() == 2 and scratch.keep_failed(0) == 0
    monkeypatch.setenv(scratch.KEEP_FAILED_ENV, "many")
    with pytest.raises(scratch.BuildError, match="whole number"):
        scratch.keep_failed()


def test_clean_removes_scratch_never_served_or_landing(built: Paths, tmp_path: Path) -> None:
    paths = copy_data(built, tmp_path / "data")
    keep = {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in [paths.warehouse, *paths.landing.rglob("*.parquet"), *paths.secrets.rglob("*")]
        if p.is_file()
    }
    build_dir = paths.build_dir
    junk = [
        build_dir / "warehouse.20260101T000000Z-aaaaaa.duckdb",
        build_dir / "warehouse.20260102T000000Z-bbbbbb.duckdb",
        build_dir / BUILDING,
        build_dir / "dbt-20260101T000000Z-aaaaaa" / "target" / "manifest.json",
        build_dir / "dbt_tmp" / "duckdb_temp_block-1.block",
        build_dir / "duckdb_tmp" / "duckdb_temp_storage-1.tmp",
        paths.root / f".warehouse.build.json.{'0' * 32}.tmp",
    ]
    for path in junk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"scratch")
    busy = build_dir / "duckdb_tmp" / "duckdb_temp_storage-2.tmp"
    busy.write_bytes(b"in use")
    with scratch.build_lock(paths, purpose="build"):
        refused = runner.invoke(app, ["clean", "--data-dir", str(paths.root)])
    assert refused.exit_code == 1 and "another build is running" in refused.output
    assert all(p.exists() for p in junk)
    with busy.open("rb"):
        outcome = runner.invoke(app, ["clean", "--data-dir", str(paths.root)])
    assert outcome.exit_code == 0, outcome.output
    assert not [p for p in junk if p.exists()]
    assert busy.exists() and "open by a process" in outcome.output
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in keep} == keep
    assert list((build_dir / "logs").glob("*.log"))  # logs stay unless --logs
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_service_cases").fetchone()[0] > 0  # type: ignore[index]


@pytest.mark.parametrize("command", ["build", "clean", "rotate-key"])
def test_commands_refuse_a_missing_data_folder(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "typo"
    outcome = runner.invoke(app, [command, "--data-dir", str(missing)])
    assert outcome.exit_code == 1
    assert f"no data folder at {missing}" in " ".join(outcome.output.split())
    assert not missing.exists()


def test_rotate_key_needs_a_warehouse(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data").ensure()
    outcome = runner.invoke(app, ["rotate-key", "--data-dir", str(paths.root)])
    assert outcome.exit_code == 1 and "no warehouse at" in outcome.output


def _hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_rotate_key_rekeys_the_warehouse(
    built: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = copy_data(built, tmp_path / "data")
    old_key, new_key = hmac_key(paths), "rotated-" + secrets.token_urlsafe(16)
    landed = (
        f"read_parquet('{paths.landing}/{{}}/*/*.parquet', hive_partitioning = false, "
        "union_by_name = true)"
    )
    snapshot_sql = "select enterprise_key, updated_at, dbt_scd_id from snapshots.snap_enterprises"
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        before = con.execute(snapshot_sql).fetchall()
        history = con.execute("select count(*) from main.build_info").fetchone()[0]  # type: ignore[index]
    (paths.build_dir / "warehouse.20260101T000000Z-aaaaaa.duckdb").write_bytes(b"old")
    # the new key must be given when the current one comes from the environment
    outcome = runner.invoke(app, ["rotate-key", "--data-dir", str(paths.root)])
    assert outcome.exit_code == 1 and "SUBJECTDB_HMAC_NEW_KEY" in outcome.output
    monkeypatch.setenv(rotate.NEW_KEY_ENV, old_key)
    with pytest.raises(rotate.RotateError, match="equals the current one"):
        rotate.rotate_key(paths)

    monkeypatch.setenv(rotate.NEW_KEY_ENV, new_key)
    rotation = rotate.rotate_key(paths)
    assert rotation.ok, rotation.summary()
    assert rotation.result.full_refresh
    assert rotation.snapshot_rows == len(before) > 0
    assert stored_build_info(paths.warehouse)["key_fingerprint"] == key_fingerprint(paths, new_key)
    assert not scratch.failed_copies(paths)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        ids = con.execute(
            f"""
            select distinct upper(trim(l.applicant_id)), f.applicant_key
            from {landed.format("cases")} as l
            join marts.fct_service_cases as f
                on f.case_id = trim(l.case_id) and f._batch_id = l._batch_id
                and f.updated_at = l.updated_at
            using sample 100 rows (reservoir, 3)
            """
        ).fetchall()
        codes = [
            r[0]
            for r in con.execute(
                f"select distinct upper(trim(credit_code)) from {landed.format('enterprises')} "
                "where credit_code is not null"
            ).fetchall()
        ]
        after = con.execute(snapshot_sql).fetchall()
        assert con.execute("select count(*) from main.build_info").fetchone()[0] == history + 1  # type: ignore[index]
    assert len(ids) > 20
    assert all(k == _hmac(new_key, i) for i, k in ids)
    # the snapshot history, re-keyed: the same versions under the new pseudonyms, with the
    # scd ids dbt computes from them
    old_to_new = {_hmac(old_key, c): _hmac(new_key, c) for c in codes}
    assert sorted((k, t) for k, t, _ in after) == sorted((old_to_new[k], t) for k, t, _ in before)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        wrong_scd = con.execute(
            "select count(*) from snapshots.snap_enterprises "
            "where dbt_scd_id <> md5(enterprise_key || '|' || cast(updated_at as varchar))"
        ).fetchone()[0]  # type: ignore[index]
    assert wrong_scd == 0
    assert {scd for *_, scd in after}.isdisjoint(scd for *_, scd in before)
    # a build with the old key is refused, not mixed in; with the new key it is up to date
    refused = build(paths)
    assert not refused.ok and refused.failed_steps[0].name == "key"
    assert "rotate-key" in refused.summary()
    monkeypatch.setenv(HMAC_ENV, new_key)
    again = build(paths)
    assert again.ok and again.up_to_date, again.summary()


def test_an_interrupted_local_key_rotation_is_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the key in data/secrets, a rotation's new key replaces the old one only once a
    warehouse built with it is served."""
    monkeypatch.delenv(HMAC_ENV, raising=False)
    paths = Paths(tmp_path / "data").ensure()
    old = hmac_key(paths)  # draws the local key file
    pending = paths.secrets / NEW_KEY_FILE
    for served_key, expect in (("other", old), ("new-key", "new-key")):
        with duckdb.connect(str(paths.warehouse)) as con:
            con.execute(
                "create or replace table main.build_info "
                "(built_at timestamp, key_fingerprint varchar)"
            )
            con.execute(
                "insert into main.build_info values (now(), ?)",
                [key_fingerprint(paths, served_key)],
            )
        pending.write_text("new-key")
        settle_key_file(paths)
        assert not pending.exists()
        assert hmac_key(paths) == expect
