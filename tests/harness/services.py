"""Private Redis and PostgreSQL servers for tests, on free loopback ports.

Each test session starts its own, so tests can stop and restart them (readiness,
fail-open/closed) without touching anything else on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.gateway import free_port

__all__ = ["PostgresServer", "RedisServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class RedisServer:
    """``redis-server`` without persistence; ``stop()``/``start()`` keep the port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not installed")
        self._proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (a stalled or partitioned Redis)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)


class PostgresServer:
    """A throwaway PostgreSQL cluster (run as the ``postgres`` user when we are root)."""

    user = "gateway"
    password = "gateway-test-pw"
    database = "gateway"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.datadir = workdir / "pgdata"
        self.sockdir = workdir / "sock"
        bindir = find_pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not installed")
        self.bindir = bindir

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        """SQLAlchemy asyncpg URL."""
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def psycopg_url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        with (self.datadir / "postgresql.conf").open("a") as fh:
            fh.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
        self.start()
        psql = str(self.bindir / "psql")
        base = [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        self._run(*base, "-c", f"CREATE ROLE {self.user} LOGIN SUPERUSER PASSWORD '{self.password}'")
        self._run(*base, "-c", f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its SQLAlchemy URL."""
        psql = str(self.bindir / "psql")
        self._run(
            psql,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-c",
            f"CREATE DATABASE {name} OWNER {self.user}",
        )
        return self.url_for(name)

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.workdir / "pg.log"),
            "-o",
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1",
            "start",
        )
        return self

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False
        )
