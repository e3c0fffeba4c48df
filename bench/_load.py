"""Process management and a small closed-loop load generator for the benchmarks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

__all__ = [
    "LoadResult",
    "Server",
    "call_once",
    "cpu_seconds",
    "free_port",
    "rss_mb",
    "run_load",
    "run_streams",
    "stream_body",
    "tree_pids",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[psutil.Process]:
    """A server process and all its descendants (uvicorn workers, their helpers)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_pids(pid: int) -> set[int]:
    """The pids of a process and its descendants, to notice a worker that was replaced."""
    return {proc.pid for proc in _tree(pid)}


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and every descendant (workers), in seconds."""
    total = 0.0
    for proc in _tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process and every descendant, in MB."""
    total = 0
    for proc in _tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / (1024 * 1024)


@dataclass
class Server:
    """A server subprocess we can time from spawn to ready."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str = "/health/liveliness"
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0

    def start(self, timeout: float = 120) -> Server:
        out = self.log.open("wb") if self.log else subprocess.DEVNULL
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        import urllib.request

        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1) as r:
                    if r.status == 200:
                        self.startup_s = time.monotonic() - t0
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float
    ttft_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float, values: list[float] | None = None) -> float:
        data = sorted(values if values is not None else self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q * len(data)))]

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def call_once(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, object]
) -> bool:
    """One request, read whole; False for an error status or a broken response (a server
    that cut a response short counts as an error, it does not end the run)."""
    try:
        async with session.post(url, json=body, headers=headers) as resp:
            await resp.read()
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def _load(
    url: str, key: str, model: str, concurrency: int, seconds: float, max_requests: int, pid: int
) -> LoadResult:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": model, "messages": [{"role": "user", "content": "benchmark ping"}], "max_tokens": 16}
    latencies: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:
        for _ in range(min(20, max_requests)):  # warm-up, not measured
            await call_once(session, url, headers, body)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        deadline = t0 + seconds
        issued = 0

        async def worker() -> None:
            nonlocal issued, errors
            while time.monotonic() < deadline and issued < max_requests:
                issued += 1
                start = time.perf_counter()
                ok = await call_once(session, url, headers, body)
                latencies.append(1000 * (time.perf_counter() - start))
                errors += 0 if ok else 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu, [])


def run_load(
    url: str, key: str, model: str, concurrency: int, seconds: float, max_requests: int, pid: int
) -> LoadResult:
    return asyncio.run(_load(url, key, model, concurrency, seconds, max_requests, pid))


def stream_body(model: str, chunks: int) -> dict[str, object]:
    """A streamed request the bench upstream answers with ``chunks`` content chunks."""
    text = f"benchmark stream chunks={chunks}"
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}


async def _streams(url: str, key: str, model: str, count: int, pid: int, chunks: int) -> LoadResult:
    headers = {"Authorization": f"Bearer {key}"}
    body = stream_body(model, chunks)
    latencies: list[float] = []
    ttft: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for _ in range(5):
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for _ in range(count):
            start = time.perf_counter()
            first: float | None = None
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    if resp.status != 200:
                        errors += 1
                    async for line in resp.content:
                        if (
                            first is None
                            and line.startswith(b"data:")
                            and b'"content":"tok' in line.replace(b" ", b"")
                        ):
                            first = time.perf_counter()
            except aiohttp.ClientError:  # cut short: an error, not the end of the run
                errors += 1
            latencies.append(1000 * (time.perf_counter() - start))
            if first is not None:
                ttft.append(1000 * (first - start))
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu, ttft)


def run_streams(url: str, key: str, model: str, count: int, pid: int, chunks: int = 10) -> LoadResult:
    """``count`` streams one after the other, each of ``chunks`` content chunks."""
    return asyncio.run(_streams(url, key, model, count, pid, chunks))
