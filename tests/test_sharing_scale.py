"""The sharing API at scale: in-memory registers, workers, shared rate limits, group commit.

- the in-memory registers (:mod:`subjectdb.sharing.registers`) answer every staged identifier
  exactly as an independent SQL query over the staged register rows does, on several dates;
- they follow an atomic swap in the background (never inside a request);
- ``subjectdb api --workers 2`` (two real processes on one port): every request is audited
  exactly once, by the worker that answered it, and one client has one rate limit across
  both workers;
- the audit leaf's group commit writes concurrent records whole, once each.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
from conftest import copy_data

from subjectdb import audit as leaf
from subjectdb.config import Paths
from subjectdb.sharing import AuditLog, KeyStore, SharingPaths
from subjectdb.sharing.registers import RegisterCache, load_registers

DATES = (dt.date(2023, 12, 31), dt.date(2024, 12, 31), dt.date(2025, 6, 30))

_PERSONS_AT = """
with staged as (
    select person_key, updated_at, status_code, residence_region_code,
        row_number() over (
            partition by person_key, updated_at order by _batch_id desc, _source_row desc
        ) as copy
    from staging.stg_population__persons
    where person_key is not null
),
kept as (select * from staged where copy = 1),
chosen as (
    -- the latest row at the moment; before a person's first row, the first row
    select person_key,
        coalesce(max(updated_at) filter (where updated_at <= ?::timestamp), min(updated_at))
            as at
    from kept
    group by person_key
)
select kept.person_key,
    kept.status_code = 'resident' as resident,
    case when kept.status_code = 'resident' then kept.residence_region_code end as county
from chosen
inner join kept on kept.person_key = chosen.person_key and kept.updated_at = chosen.at
"""

_ENTERPRISES_AT = """
with staged as (
    select enterprise_key, updated_at, status_code, established_date, closed_date, region_code,
        industry_section,
        row_number() over (
            partition by enterprise_key, updated_at order by _batch_id desc, _source_row desc
        ) as copy
    from staging.stg_enterprise__enterprises
),
kept as (select * from staged where copy = 1),
chosen as (
    select enterprise_key,
        coalesce(max(updated_at) filter (where updated_at <= ?::timestamp), min(updated_at))
            as at
    from kept
    group by enterprise_key
)
select kept.enterprise_key,
    coalesce(kept.status_code = 'active', false)
        and (kept.closed_date is null or kept.closed_date > ?::date)
        and (kept.established_date is null or kept.established_date <= ?::date) as active,
    kept.region_code as region,
    kept.industry_section
from chosen
inner join kept on kept.enterprise_key = chosen.enterprise_key and kept.updated_at = chosen.at
"""


def test_registers_answer_as_an_independent_query(built: Paths) -> None:
    """Every staged resident ID and credit code (and unknown ones), on three dates."""
    registers = load_registers(built.warehouse)
    unknown = [bytes([i]) * 32 for i in range(1, 4)]
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        for on in DATES:
            moment = dt.datetime.combine(on, dt.time(23, 59, 59))
            people = con.execute(_PERSONS_AT, [moment]).fetchall()
            firms = con.execute(_ENTERPRISES_AT, [moment, on, on]).fetchall()
            assert len(people) > 1000 and len(firms) > 100
            asked = [bytes.fromhex(p[0]) for p in people] + unknown
            got = registers.answer("resident_id", asked, on, detail=True)
            expected = [
                {"index": i, "registered": True, "resident": bool(p[1]), "county": p[2]}
                for i, p in enumerate(people)
            ]
            expected += [
                {"index": len(people) + i, "registered": False, "resident": False, "county": None}
                for i in range(len(unknown))
            ]
            assert got == expected, on
            assert sum(a["resident"] for a in got) > len(people) // 2  # not trivially false
            asked = [bytes.fromhex(f[0]) for f in firms] + unknown
            got = registers.answer("credit_code", asked, on, detail=True)
            expected = [
                {
                    "index": i,
                    "registered": True,
                    "active": bool(f[1]),
                    "region": f[2],
                    "industry_section": f[3],
                }
                for i, f in enumerate(firms)
            ]
            expected += [
                {
                    "index": len(firms) + i,
                    "registered": False,
                    "active": False,
                    "region": None,
                    "industry_section": None,
                }
                for i in range(len(unknown))
            ]
            assert got == expected, on
    plain = registers.answer("resident_id", asked[:3], DATES[-1], detail=False)
    assert all(set(a) == {"index", "registered", "resident"} for a in plain)


def test_registers_follow_the_swap_in_the_background(built: Paths, tmp_path: Path) -> None:
    """A new served file is noticed by a refresh (the API's watcher thread), loaded while the
    old registers keep answering, then replaces them; an unchanged file is not reloaded."""
    served = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse, served)
    cache = RegisterCache(served)
    assert cache.get() is None and cache.refresh() and cache.loads == 1
    first = cache.get()
    assert first is not None and not cache.refresh() and cache.get() is first
    fresh = tmp_path / "new.duckdb"
    shutil.copy(built.warehouse, fresh)
    os.replace(fresh, served)  # what a passing build does last
    assert cache.refresh() and cache.loads == 2
    second = cache.get()
    assert second is not None and second is not first and second.file_id != first.file_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_audit_every_request_once_and_share_one_rate_limit(
    published_sample: Paths, tmp_path: Path
) -> None:
    paths = copy_data(published_sample, tmp_path / "data")
    key = KeyStore(SharingPaths(paths).keys).create("浙江省民政厅", label="workers test")[0]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "subjectdb.cli", "api", "--port", str(port), "--workers", "2"]
    cmd += ["--rate", "0.01", "--burst", "4", "--data-dir", str(paths.root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sent = 0
    clients: dict[int, httpx.Client] = {}
    try:
        # one kept-alive connection on each worker (a new connection goes to either)
        deadline = time.monotonic() + 120
        while len(clients) < 2:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, f"saw workers {sorted(clients)}"
            http = httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1), timeout=30)
            try:
                worker = int(http.get("/health").json()["worker"])
                sent += 1
            except httpx.HTTPError:
                http.close()
                time.sleep(0.2)
                continue
            if worker in clients:
                http.close()
            else:
                clients[worker] = http
        a, b = clients.values()
        statuses = []
        for i in range(12):  # alternately on the two workers, with the same key
            r = (a if i % 2 == 0 else b).get(
                f"/v1/resources/probe-{i}/dictionary", headers={"X-API-Key": key}
            )
            sent += 1
            statuses.append(r.status_code)
        unauthenticated = a.get("/v1/catalogue")
        sent += 1
    finally:
        for http in clients.values():
            http.close()
        proc.terminate()
        proc.wait(timeout=30)
    # one bucket of 4 across both workers: 4 answered (unknown resource), the rest refused
    assert statuses.count(404) == 4 and statuses.count(429) == 8, statuses
    assert statuses[:4] == [404] * 4
    assert unauthenticated.status_code == 401
    records = list(AuditLog(SharingPaths(paths).audit).records())
    assert len(records) == sent  # every request, /health probes included, exactly once
    probes = [r for r in records if r["path"].startswith("/v1/resources/probe-")]
    assert sorted(r["path"] for r in probes) == sorted(
        f"/v1/resources/probe-{i}/dictionary" for i in range(12)
    )
    assert {r["pid"] for r in probes} == set(clients)  # answered and audited by both workers
    assert all(r["source"] == "api" for r in records)


def test_group_commit_writes_every_record_once(tmp_path: Path) -> None:
    """Concurrent writers through one group-commit writer: every record whole and once, in
    fewer fsync groups than records; a plain append between them keeps the file well formed."""
    log = tmp_path / "audit" / "log.jsonl"
    writer = leaf.group_commit(log)
    assert leaf.group_commit(log) is writer

    def burst(t: int) -> None:
        futures = [writer.submit({"thread": t, "n": n, "text": "审计" * 50}) for n in range(50)]
        for f in futures:
            assert f.result(30)["thread"] == t

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    leaf.append(log, {"thread": -1, "n": 0})
    for t in threads:
        t.join()
    got = [(r["thread"], r["n"]) for r in leaf.records(log)]
    assert sorted(got) == sorted([(t, n) for t in range(8) for n in range(50)] + [(-1, 0)])
    assert writer.groups < 400
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_batch_check_characters_agree_with_the_scalar_rule() -> None:
    """The NumPy check of a batch (GB 11643, GB 32100) says what the scalar rule says, on
    valid identifiers (python-stdnum's check characters), near misses and noise."""
    import random

    from stdnum.cn import ric, uscc

    from subjectdb.sharing import verify as ver

    rng = random.Random(13)
    noise = "0123456789X" + ver._USCC_ALPHABET + "IOSVZ"
    cases = ["330102202402290012", "330102202302290012", "330102000001010011", "33010219001301001X"]
    for _ in range(3000):
        born = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(46000))
        body = f"330102{born:%Y%m%d}{rng.randrange(1000):03d}"
        cases += [body + ric.calc_check_digit(body + "0"), body + rng.choice("0123456789X")]
        code = "9133" + "".join(rng.choice("0123456789") for _ in range(4))
        code += "".join(rng.choice(ver._USCC_ALPHABET) for _ in range(9))
        cases += [code + uscc.calc_check_digit(code), code + rng.choice(ver._USCC_ALPHABET)]
        size = rng.choice((17, 18, 18, 19))
        cases.append("".join(rng.choice(noise) for _ in range(size)))
    cases += ["３３０１０２２０２４０２２９００１２", "33010220240229001x"]
    for kind, scalar in (("resident_id", ver._ric_ok), ("credit_code", ver._uscc_ok)):
        expected = [scalar(ver.normalise_identifier(c)) for c in cases]
        assert ver.well_formed(kind, cases) == expected, kind
        assert 2500 < sum(expected) < len(cases) // 2, kind  # both outcomes well represented
