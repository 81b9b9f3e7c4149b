"""Staging: the keyed hash (HMAC in SQL), quarantine filtering, code mappings, ID derivations."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from subjectdb.config import PROJECT_DIR, Paths, hmac_key
from subjectdb.warehouse.build import BUILDING
from subjectdb.warehouse.dbt_runner import (
    dbt_env,
    dbt_invocation,
    ensure_quarantine_placeholder,
)
from subjectdb.warehouse.keyed_hash import IPAD_ENV, OPAD_ENV, hmac_pads


def _landing(paths: Paths, extract: str) -> str:
    return (
        f"read_parquet('{paths.landing}/{extract}/*/*.parquet', "
        "hive_partitioning = false, union_by_name = true)"
    )


def _quarantine(paths: Paths) -> str:
    return (
        f"read_parquet('{paths.suite_quarantine}/*/*/*.parquet', "
        "hive_partitioning = false, union_by_name = true)"
    )


@pytest.mark.parametrize(
    "key",
    [
        "test-key-not-secret",
        "k" * 64,  # exactly one block
        "a much longer secret key than the sixty-four byte block of sha-256, hashed first",
        "密钥-with-utf8",
    ],
)
def test_hmac_pads_reproduce_rfc2104(key: str) -> None:
    ipad, opad = hmac_pads(key)
    assert len(ipad) == len(opad) == 128
    for message in (b"11010519491231002X", b"", "中文".encode()):
        inner = hashlib.sha256(bytes.fromhex(ipad) + message).digest()
        outer = hashlib.sha256(bytes.fromhex(opad) + inner).hexdigest()
        assert outer == hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def test_hmac_functions_run_once_per_query_not_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB folds the argument-less pad functions to constants: the Python behind them runs
    once per query, whatever the row count, so the hash stays native and vectorised."""
    from subjectdb.warehouse import keyed_hash

    key = "fold-test-key"
    ipad, opad = hmac_pads(key)
    monkeypatch.setenv(IPAD_ENV, ipad)
    monkeypatch.setenv(OPAD_ENV, opad)
    calls: list[str] = []
    real = keyed_hash.pad_from_env
    monkeypatch.setattr(keyed_hash, "pad_from_env", lambda name: calls.append(name) or real(name))
    with duckdb.connect(config={"threads": 2}) as con:
        keyed_hash.register_hmac_functions(con)
        rows = con.execute(
            "select cast(i as varchar) as v, sha256(subjectdb_hmac_opad() || unhex(sha256("
            "subjectdb_hmac_ipad() || encode(cast(i as varchar))))) as h from range(300000) r(i) "
            "order by i"
        ).fetchall()
    assert len(rows) == 300_000
    assert sorted(calls) == [IPAD_ENV, OPAD_ENV]
    for v, h in rows[::50_000]:
        assert h == hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest()


def test_hmac_pads_reject_empty_key() -> None:
    with pytest.raises(ValueError, match="empty"):
        hmac_pads("")


def _dbt(
    args: list[str], paths: Paths, work_dir: Path, **env_overrides: str
) -> subprocess.CompletedProcess[str]:
    """dbt as the build runs it (same profile, so the warm parse cache applies), stdout apart."""
    cmd, env, cwd = dbt_invocation(args, paths, paths.build_dir / BUILDING, work_dir)
    env.update(env_overrides)
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


def test_keyed_hash_macro_equals_python_hmac(tmp_path: Path) -> None:
    """The dbt macro, run by DuckDB, equals hmac.new(key, id, sha256) for the build's key."""
    paths = Paths(tmp_path / "data").ensure()
    ensure_quarantine_placeholder(paths)
    ids = ["11010519491231002X", "91330102MA27XL1234", "中文标识"]
    selects = " union all ".join(
        f"select {i} as n, {{{{ keyed_hash(\"'{v}'\") }}}} as h" for i, v in enumerate(ids)
    )
    sql = f"{selects} union all select 99 as n, {{{{ keyed_hash('cast(null as varchar)') }}}} as h"
    proc = _dbt(
        ["show", "--quiet", "--inline", sql, "--output", "json", "--limit", "10"], paths, tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["n"]: r["h"] for r in json.loads(proc.stdout[proc.stdout.index("{") :])["show"]}
    key = hmac_key(paths).encode()
    for i, value in enumerate(ids):
        assert rows[i] == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    assert rows[99] is None


def test_keyed_hash_compiles_to_functions_not_key_material(tmp_path: Path) -> None:
    """The compiled SQL calls the connection's functions; no pad appears in it."""
    paths = Paths(tmp_path / "data").ensure()
    proc = _dbt(
        ["compile", "--quiet", "--inline", "select {{ keyed_hash(\"'x'\") }}"], paths, tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ipad, opad = hmac_pads(hmac_key(paths))
    assert "subjectdb_hmac_ipad()" in proc.stdout and "subjectdb_hmac_opad()" in proc.stdout
    assert ipad not in proc.stdout.lower() and opad not in proc.stdout.lower()


@pytest.mark.parametrize("missing", [IPAD_ENV, OPAD_ENV])
def test_keyed_hash_fails_loudly_without_key(tmp_path: Path, missing: str) -> None:
    """Without the pads in dbt's environment the query fails, naming the variable only."""
    paths = Paths(tmp_path / "data").ensure()
    ensure_quarantine_placeholder(paths)
    proc = _dbt(
        ["show", "--inline", "select {{ keyed_hash(\"'x'\") }} as h"],
        paths,
        tmp_path,
        **{missing: "abc"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"${missing} must hold a 64-byte HMAC pad" in out
    assert "got 3 characters" in out


def test_staging_drops_exactly_the_quarantined_rows(built: Paths) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        for extract, model in (
            ("cases", "stg_approval__cases"),
            ("persons", "stg_population__persons"),
            ("enterprises", "stg_enterprise__enterprises"),
        ):
            landed, kept, quarantined_kept = con.execute(
                f"""
                with q as (select distinct _source_file, _source_row from {_quarantine(built)}),
                landed as (select _source_file, _source_row from {_landing(built, extract)})
                select
                    (select count(*) from landed
                        anti join q using (_source_file, _source_row)),
                    (select count(*) from staging.{model}),
                    (select count(*) from staging.{model}
                        semi join q using (_source_file, _source_row))
                """
            ).fetchone()  # type: ignore[misc]
            assert kept == landed > 0, extract
            assert quarantined_kept == 0, extract


def test_staging_maps_codes_and_derives_from_the_id(built: Paths) -> None:
    """Retired region codes become successors; birth date and sex come from the resident ID."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        retired = {
            r[0]
            for r in con.execute(
                "select cast(retired_code as varchar) from reference.ref_region_code_changes"
            ).fetchall()
        }
        used = {
            r[0]
            for r in con.execute(
                "select residence_region_code from staging.stg_approval__cases union "
                "select residence_region_code from staging.stg_population__persons union "
                "select region_code from staging.stg_enterprise__enterprises"
            ).fetchall()
        }
        assert not used & retired
        rows = con.execute(
            f"""
            select l.applicant_id, s.applicant_birth_date, s.applicant_sex
            from {_landing(built, "cases")} as l
            join staging.stg_approval__cases as s using (_source_file, _source_row)
            where s.applicant_type = 'person'
            using sample 300 rows (reservoir, 7)
            """
        ).fetchall()
    assert rows
    for raw_id, birth, sex in rows:
        raw_id = raw_id.strip().upper()
        assert birth == dt.datetime.strptime(raw_id[6:14], "%Y%m%d").date()
        assert sex == ("male" if int(raw_id[16]) % 2 else "female")


def test_hmac_env_is_not_passed_to_dbt(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "data")
    os.environ.setdefault("SUBJECTDB_HMAC_KEY", "test-key-not-secret")
    env = dbt_env(paths, tmp_path / "x.duckdb")
    assert "SUBJECTDB_HMAC_KEY" not in env
    assert env[IPAD_ENV] == hmac_pads(hmac_key(paths))[0]


def test_dbt_unit_tests_pass(built: Paths, tmp_path: Path) -> None:
    """Every ``unit_tests:`` entry of the project passes (builds skip them: they test logic)."""
    paths = Paths(tmp_path / "data")
    shutil.copytree(built.root, paths.root)
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.warehouse, paths.build_dir / BUILDING)
    proc = _dbt(["test", "--select", "test_type:unit"], paths, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    summary = re.search(r"PASS=(\d+) WARN=\d+ ERROR=(\d+) SKIP=\d+ .*TOTAL=(\d+)", out)
    assert summary, out[-2000:]
    passed, errors, total = map(int, summary.groups())
    declared = sum(
        len((yaml.safe_load(f.read_text()) or {}).get("unit_tests") or [])
        for f in (PROJECT_DIR / "models").rglob("*.yml")
    )
    assert declared >= 10
    # dbt counts the project's on-run-start hooks (macros/spark/sources.sql) among the nodes
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    hooks = len(project.get("on-run-start") or [])
    assert errors == 0 and passed == total == declared + hooks, (summary.group(0), declared)
