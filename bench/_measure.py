"""One server's raw figures: load at c=1 and c=32, streams, agent runs, the mix, RSS.

Everything returned is plain JSON (numbers, counts): ``bench.gateway_bench`` writes it
to ``bench/results/`` and ``bench._figures`` turns two servers' figures into table rows.

How the derived figures are computed (CPU = user+system of the server's whole process
tree, sampled before and after a measured phase; warm-up requests are not measured):

- CPU per chunk: streams of 10 and of ``LONG_STREAM`` content chunks, one after the
  other; (CPU per long stream - CPU per 10-chunk stream) / (LONG_STREAM - 10). The fixed
  per-request cost cancels out; what is left is the marginal cost of one more chunk.
- Agent overhead: direct calls to MODEL and runs of AGENT_MODEL (one LLM node, so one
  inner call to MODEL through the gateway), alternated in rounds, one at a time;
  CPU per run - CPU per direct call = what a run costs beyond its inner call.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench._load import LoadResult, Server, cpu_seconds, rss_mb, run_load, run_streams
from bench._mix import AGENT, PLAIN, STREAM, plan, run_mix
from bench._servers import AGENT_MODEL, MODEL

__all__ = ["LONG_STREAM", "Budget", "agent_rounds", "measure", "settle"]

LONG_STREAM = 200


@dataclass(frozen=True)
class Budget:
    """How long and how much each phase may run (every phase is bounded in both)."""

    seconds: float
    c1_max: int
    c32_max: int
    streams: int
    long_streams: int
    agent_rounds: int
    agent_per_round: int
    mix_seconds: float
    mix_max: int

    @classmethod
    def for_run(cls, quick: bool) -> Budget:
        if quick:
            return cls(4, 400, 1000, 20, 6, 2, 8, 8, 600)
        return cls(10, 1000, 3000, 60, 15, 3, 15, 20, 2000)


def settle(pid: int, idle_share: float = 0.1, max_s: float = 30) -> float:
    """Wait until the server tree uses under ``idle_share`` of a core over 1 s (start-up
    work of late workers, background tasks); returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_s:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < idle_share:
            break
    return time.monotonic() - t0


def _load(r: LoadResult) -> dict[str, float]:
    return {
        "requests": r.requests,
        "errors": r.errors,
        "seconds": round(r.seconds, 3),
        "rps": r.rps,
        "p50_ms": r.p50,
        "p99_ms": r.pct(0.99),
        "cpu_ms_per_request": r.cpu_ms_per_request,
    }


def _streams(r: LoadResult, chunks: int) -> dict[str, float]:
    return {
        "chunks": chunks,
        "streams": r.requests,
        "errors": r.errors,
        "p50_ms": r.p50,
        "ttft_p50_ms": r.pct(0.5, r.ttft_ms),
        "cpu_ms_per_stream": r.cpu_ms_per_request,
    }


async def agent_rounds(url: str, key: str, pid: int, rounds: int, per_round: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    bodies = {
        "direct": {"model": MODEL, "messages": [{"role": "user", "content": "benchmark ping"}]},
        "agent": {"model": AGENT_MODEL, "messages": [{"role": "user", "content": "benchmark ping"}]},
    }
    cpu = dict.fromkeys(bodies, 0.0)
    wall: dict[str, list[float]] = {k: [] for k in bodies}
    errors = dict.fromkeys(bodies, 0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        for body in bodies.values():  # warm-up: the graph is compiled on first use
            for _ in range(3):
                async with s.post(url, json=body, headers=headers) as r:
                    await r.read()
        for _ in range(rounds):
            for kind, body in bodies.items():
                cpu0 = cpu_seconds(pid)
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    async with s.post(url, json=body, headers=headers) as r:
                        await r.read()
                        errors[kind] += r.status != 200
                    wall[kind].append(1000 * (time.perf_counter() - t0))
                cpu[kind] += cpu_seconds(pid) - cpu0
    n = rounds * per_round
    direct, agent = 1000 * cpu["direct"] / n, 1000 * cpu["agent"] / n
    return {
        "runs": n,
        "errors": errors["direct"] + errors["agent"],
        "direct_cpu_ms": direct,
        "agent_cpu_ms": agent,
        "direct_p50_ms": statistics.median(wall["direct"]),
        "agent_p50_ms": statistics.median(wall["agent"]),
        "inner_calls_per_run": 1,
        # Beyond its one inner call: the outer request's pass, run token, graph, client.
        "overhead_cpu_ms": agent - direct,
        # Beyond the inner call and the outer pass too (one direct call's worth each).
        "overhead_beyond_outer_pass_cpu_ms": agent - 2 * direct,
    }


def measure(
    server: Server,
    key: str,
    budget: Budget,
    *,
    agents: bool,
    mix: bool,
    extra_cpu: Any = None,
) -> dict[str, Any]:
    """Every phase against one started server. ``extra_cpu()`` (seconds) is read around
    the mix too, for backing services whose CPU is reported beside the server's."""
    assert server.proc is not None
    pid = server.proc.pid
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    out: dict[str, Any] = {"startup_s": server.startup_s, "settle_s": settle(pid)}
    out["c1"] = _load(run_load(url, key, MODEL, 1, budget.seconds, budget.c1_max, pid))
    out["c32"] = _load(run_load(url, key, MODEL, 32, budget.seconds, budget.c32_max, pid))
    out["stream10"] = _streams(run_streams(url, key, MODEL, budget.streams, pid, 10), 10)
    long = run_streams(url, key, MODEL, budget.long_streams, pid, LONG_STREAM)
    out["stream_long"] = _streams(long, LONG_STREAM)
    slope = (out["stream_long"]["cpu_ms_per_stream"] - out["stream10"]["cpu_ms_per_stream"]) / (
        LONG_STREAM - 10
    )
    out["cpu_us_per_chunk"] = 1000 * slope
    if agents:
        out["agent"] = asyncio.run(agent_rounds(url, key, pid, budget.agent_rounds, budget.agent_per_round))
    if mix:
        models = {PLAIN: MODEL, STREAM: MODEL} | ({AGENT: AGENT_MODEL} if agents else {})
        svc0 = extra_cpu() if extra_cpu else 0.0
        m = run_mix(url, key, models, plan(), 32, budget.mix_seconds, budget.mix_max, pid)
        svc = (extra_cpu() - svc0) if extra_cpu else 0.0
        out["mix"] = {
            "requests": m.requests,
            "errors": m.errors,
            "seconds": round(m.seconds, 3),
            "by_kind": m.by_kind,
            "rps": m.requests / m.seconds if m.seconds else float("nan"),
            "cpu_ms_per_request": m.cpu_ms_per_request,
            "services_cpu_ms_per_request": 1000 * svc / m.requests if m.requests else float("nan"),
        }
    out["rss_mb"] = rss_mb(pid)
    return out
