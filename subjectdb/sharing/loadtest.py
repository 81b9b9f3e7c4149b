"""Load benchmark of the sharing API (not a timed test): concurrent clients on localhost.

``python -m subjectdb.sharing.loadtest --data-dir DATA [--clients 20] [--seconds 60]`` starts
``subjectdb api`` on a free port in its own process, creates one key per client (departments
granted everything the mix uses), and runs the clients in threads for the given time, each
looping over a mix of catalogue reads, filtered aggregate reads and batch verifications of
10,000 resident IDs. It prints (and with ``--out`` writes as JSON) requests per second and the
p50/p95/p99 latency of each kind, the errors, and whether every request was audited (the audit
log grew by exactly the number of requests sent).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from subjectdb.config import Paths, get_paths
from subjectdb.sharing.audit import AuditLog
from subjectdb.sharing.keys import KeyStore
from subjectdb.sharing.paths import SharingPaths

MIX = (("catalogue", 0.3), ("aggregate", 0.6), ("verify_10k", 0.1))
WORKERS = 2  # one per core of the benchmark machine
RATE = 1000  # per-client limit during the load: it measures the service, not the limiter
AGGREGATE = "demand_region_age_theme"
DEPARTMENT = "浙江省公安局"  # granted resident-ID verification by the project's catalogue


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sample_ids(paths: Paths, n: int = 10_000) -> list[str]:
    """Resident IDs from the landed population register (repeated up to ``n``)."""
    import duckdb

    glob = str(paths.landing / "persons" / "*" / "*.parquet").replace("'", "''")
    with duckdb.connect() as con:
        rows = con.execute(
            f"select distinct person_id from read_parquet('{glob}') where person_id is not null "
            f"limit {n}"
        ).fetchall()
    ids = [r[0] for r in rows] or ["110101199003070015"]
    return (ids * (n // len(ids) + 1))[:n]


def _filters(paths: Paths) -> list[dict[str, str]]:
    """Filter combinations of the aggregate from the latest release (county x year)."""
    import pandas as pd

    from subjectdb.release import latest_release

    folder = latest_release(paths)
    if folder is None:
        raise RuntimeError(f"no open-data release under {paths.releases}: run `subjectdb publish`")
    table = pd.read_parquet(folder / "data" / f"{AGGREGATE}.parquet")
    counties = table.loc[table.region_level == "county", ["region_code", "year"]]
    pairs = counties.drop_duplicates().itertuples(index=False)
    return [{"region_code": str(r.region_code), "year": str(r.year)} for r in pairs]


def _wait_up(url: str, proc: subprocess.Popen, workers: int, timeout: float = 600) -> None:
    """Until ``workers`` distinct workers have answered ``/health`` (each answers only once its
    registers and release tables are in memory)."""
    import httpx

    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}")
        try:
            r = httpx.get(f"{url}/health", timeout=2)
            if r.status_code == 200:
                seen.add(int(r.json().get("worker", 0)))
                if len(seen) >= workers:
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API did not start {workers} worker(s) (saw {len(seen)})")


def run(
    paths: Paths, clients: int = 20, seconds: float = 60, seed: int = 1, workers: int = WORKERS
) -> dict[str, Any]:
    """Run the load against a fresh ``subjectdb api --workers N`` process; returns the figures
    (with the machine's load average before and after: the figures mean little without it)."""
    import httpx

    store = KeyStore(SharingPaths(paths).keys)
    keys = [store.create(DEPARTMENT, label=f"loadtest client {i}")[0] for i in range(clients)]
    ids, filters = _sample_ids(paths), _filters(paths)
    audit = AuditLog(SharingPaths(paths).audit)
    audited_before = sum(1 for r in audit.records() if r.get("path") != "/health")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SUBJECTDB_DATA": str(paths.root)}
    cmd = [sys.executable, "-m", "subjectdb.cli", "api", "--port", str(port)]
    cmd += ["--workers", str(workers), "--rate", str(RATE), "--burst", str(RATE)]
    load_before = [round(x, 2) for x in os.getloadavg()]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    try:
        _wait_up(url, proc, workers)
        stop = time.monotonic() + seconds

        def client(i: int) -> None:
            rng = random.Random(seed + i)
            kinds, weights = zip(*MIX, strict=True)
            with httpx.Client(base_url=url, headers={"X-API-Key": keys[i]}, timeout=60) as http:
                while time.monotonic() < stop:
                    kind = rng.choices(kinds, weights)[0]
                    started = time.perf_counter()
                    if kind == "catalogue":
                        r = http.get("/v1/catalogue")
                    elif kind == "aggregate":
                        r = http.get(f"/v1/resources/{AGGREGATE}", params=rng.choice(filters))
                    else:
                        r = http.post("/v1/verify/resident-id", json={"ids": ids})
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies[kind].append(elapsed)
                        if r.status_code != 200:
                            errors[f"{kind} {r.status_code}"] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    sent = sum(len(v) for v in latencies.values())
    new = [r for r in audit.records() if r.get("path") != "/health"][audited_before:]
    by_worker: dict[str, int] = defaultdict(int)
    for r in new:
        by_worker[str(r.get("pid"))] += 1
    audited = len(new)
    return {
        "clients": clients,
        "workers": workers,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "audited_by_worker": dict(by_worker),
        "seconds": round(wall, 1),
        "requests": sent,
        "requests_per_second": round(sent / wall, 1),
        "errors": dict(errors),
        "every_request_audited": audited == sent,
        "audited": audited,
        "kinds": {
            kind: {
                "requests": len(v),
                "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1),
                "p95_ms": round(float(np.percentile(v, 95)) * 1000, 1),
                "p99_ms": round(float(np.percentile(v, 99)) * 1000, 1),
            }
            for kind, v in sorted(latencies.items())
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(
        get_paths(args.data_dir), clients=args.clients, seconds=args.seconds, workers=args.workers
    )
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
