"""Private Redis and PostgreSQL for ``--full`` runs, on free loopback ports.

Redis is started here; PostgreSQL reuses the test harness's throwaway cluster (it knows
how to run initdb as the postgres user when we are root). Both are stopped on exit, and
their CPU can be read apart from the gateway's.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench._load import cpu_seconds, free_port
from bench._servers import Backends

__all__ = ["Services", "services"]


@dataclass
class Services:
    backends: Backends
    pids: list[int]

    def cpu_seconds(self) -> float:
        """CPU of Redis and every PostgreSQL process (postmaster and its backends)."""
        return sum(cpu_seconds(pid) for pid in self.pids)


def _redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("--full needs redis-server (apt-get install redis-server)")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, *args, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@contextmanager
def services() -> Iterator[Services]:
    """Redis and PostgreSQL (databases for the store and agent threads), then cleanup."""
    from tests.harness.services import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        raise RuntimeError("--full needs PostgreSQL (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-svc-"))
    workdir.chmod(0o755)
    redis, redis_url = _redis(workdir)
    pg: PostgresServer | None = None
    try:
        pg = PostgresServer(workdir / "pg").init()
        backends = Backends(
            redis_url=redis_url,
            store_url=pg.create_database("bench_store"),
            checkpoint_url=pg.create_database("bench_threads"),
        )
        postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
        yield Services(backends, [redis.pid, postmaster])
    finally:
        if pg is not None:
            pg.stop()
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
