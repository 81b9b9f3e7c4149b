"""A Spark standalone cluster on this machine: one master and two workers, each its own process.

``python -m subjectdb.warehouse.spark_cluster`` starts them from the pyspark distribution
(``bin/spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``, the classes
``sbin/start-master.sh`` and ``sbin/start-worker.sh`` run), waits until both workers have
registered, prints the master URL to give the build, and stops the three processes on Ctrl-C
or SIGTERM::

    python -m subjectdb.warehouse.spark_cluster --workers 2 --cores 1 --memory 1g
    SUBJECTDB_SPARK_MASTER=spark://127.0.0.1:7077 subjectdb build --engine spark

A build submits to the master like to any standalone cluster (client deploy mode: the driver
runs in the build's process). The same URL form, ``spark://host:7077``, points a build at a
real standalone cluster; docs/spark.md has the settings for YARN, Kubernetes and a Thrift
server. :class:`LocalCluster` is also a context manager (the parity test uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 180.0


def spark_home() -> Path:
    """The pyspark distribution (its ``bin/spark-class`` and jars)."""
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A standalone master and ``workers`` workers on localhost (separate JVM processes)."""

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    port: int = 0
    web_port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        home = spark_home()
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(home),
            SPARK_LOCAL_IP=HOST,
            SPARK_LOG_DIR=str(self.work_dir / "logs"),
            PYSPARK_PYTHON=sys.executable,
        )
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.work_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (kept by Popen)
        proc = subprocess.Popen(
            [str(home / "bin" / "spark-class"), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        log.close()
        self.processes.append(proc)
        return proc

    def registered_workers(self) -> int:
        url = f"http://{HOST}:{self.web_port}/json/"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                state = json.load(response)
        except (OSError, ValueError):
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def start(self, timeout: float = START_TIMEOUT) -> LocalCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.web_port = self.web_port or free_port()
        master = "org.apache.spark.deploy.master.Master"
        self._spawn(
            "master", master, "--host", HOST, "--port", str(self.port),
            "--webui-port", str(self.web_port),
        )  # fmt: skip
        for i in range(self.workers):
            self._spawn(
                f"worker-{i + 1}",
                "org.apache.spark.deploy.worker.Worker",
                "--host", HOST, "--cores", str(self.cores), "--memory", self.memory,
                "--webui-port", str(free_port()),
                "--work-dir", str(self.work_dir / f"worker-{i + 1}"),
                self.master_url,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.registered_workers() < self.workers:
            dead = [p.args for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                why = f"a process ended: {dead}" if dead else f"not ready after {timeout:.0f}s"
                raise RuntimeError(
                    f"Spark standalone cluster did not start ({why}); logs: {self.work_dir}/logs"
                )
            time.sleep(1.0)
        return self

    def stop(self) -> None:
        for proc in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self.processes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_cluster(work_dir: Path, workers: int = 2, cores: int = 1) -> Iterator[LocalCluster]:
    with LocalCluster(work_dir, workers=workers, cores=cores) as cluster:
        yield cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m subjectdb.warehouse.spark_cluster",
        description="A Spark standalone master and workers on localhost (until Ctrl-C).",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="1g", help="memory per worker")
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--webui-port", type=int, default=8080)
    parser.add_argument("--work-dir", type=Path, default=Path("data/spark/cluster"))
    args = parser.parse_args(argv)
    cluster = LocalCluster(
        args.work_dir.resolve(), args.workers, args.cores, args.memory, args.port, args.webui_port
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    cluster.start()
    print(f"Spark master {cluster.master_url} with {args.workers} workers (Ctrl-C stops them)")
    print(f"  SUBJECTDB_SPARK_MASTER={cluster.master_url} subjectdb build --engine spark")
    try:
        while all(p.poll() is None for p in cluster.processes):
            time.sleep(1.0)
        print("a cluster process ended; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
