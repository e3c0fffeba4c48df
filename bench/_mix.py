"""A closed-loop mixed load: plain calls, streams and agent runs in a fixed, spread order.

The order is a deterministic cycle (see ``plan``), so two servers get the same mix; the
kinds a server lacks (vanilla has no agents) are dropped from its cycle, not replaced.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench._load import call_once, cpu_seconds, stream_body

__all__ = ["MixResult", "plan", "run_mix"]

PLAIN, STREAM, AGENT = "plain", "stream", "agent"


def plan(plain: int = 40, stream: int = 9, agent: int = 1) -> list[str]:
    """A cycle of ``plain + stream + agent`` slots with each kind spread evenly.

    The defaults are 80 % plain, 18 % streamed, 2 % agent runs. Slot i goes to the kind
    whose running share lags its target most, so no kind comes in bursts.
    """
    want = {PLAIN: plain, STREAM: stream, AGENT: agent}
    total = sum(want.values())
    done = dict.fromkeys(want, 0)
    out: list[str] = []
    for i in range(1, total + 1):
        kind = max(want, key=lambda k: (want[k] * i / total - done[k], want[k]))
        done[kind] += 1
        out.append(kind)
    return out


@dataclass
class MixResult:
    requests: int
    errors: int
    seconds: float
    cpu_s: float
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else float("nan")


async def _mix(
    url: str,
    key: str,
    models: dict[str, str],
    cycle: list[str],
    concurrency: int,
    seconds: float,
    max_requests: int,
    pid: int,
) -> MixResult:
    headers = {"Authorization": f"Bearer {key}"}
    bodies: dict[str, dict[str, object]] = {
        PLAIN: {
            "model": models[PLAIN],
            "messages": [{"role": "user", "content": "benchmark ping"}],
            "max_tokens": 16,
        },
        STREAM: stream_body(models[STREAM], 10),
    }
    if AGENT in models:
        bodies[AGENT] = {"model": models[AGENT], "messages": [{"role": "user", "content": "benchmark agent"}]}
    kinds = [k for k in cycle if k in bodies]
    by_kind = dict.fromkeys(bodies, 0)
    errors = 0
    issued = 0
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for kind in bodies:  # warm-up, not measured
            for _ in range(3):
                await call_once(session, url, headers, bodies[kind])
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        deadline = t0 + seconds

        async def worker() -> None:
            nonlocal issued, errors
            while time.monotonic() < deadline and issued < max_requests:
                kind = kinds[issued % len(kinds)]
                issued += 1
                ok = await call_once(session, url, headers, bodies[kind])
                by_kind[kind] += 1
                errors += 0 if ok else 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    return MixResult(sum(by_kind.values()), errors, elapsed, cpu, by_kind)


def run_mix(
    url: str,
    key: str,
    models: dict[str, str],
    cycle: list[str],
    concurrency: int,
    seconds: float,
    max_requests: int,
    pid: int,
) -> MixResult:
    """Closed-loop load over ``cycle``; kinds missing from ``models`` are skipped."""
    return asyncio.run(_mix(url, key, models, cycle, concurrency, seconds, max_requests, pid))
