"""The servers' raw figures, phase by phase: load at c=1 and c=32, streams of 10 and 200
chunks, agent runs, the mix, RSS. The servers take turns (see ``turns``).

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench._load import LoadResult, Server, call_once, cpu_seconds, rss_mb, run_load, run_streams, tree_pids
from bench._mix import AGENT, PLAIN, STREAM, plan, run_mix
from bench._servers import AGENT_MODEL, MODEL

__all__ = ["LONG_STREAM", "PHASES", "Budget", "Subject", "agent_rounds", "measure", "settle", "turns"]

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
            return cls(4, 400, 1000, 20, 6, 3, 10, 10, 800)
        return cls(10, 1000, 3000, 60, 15, 3, 15, 20, 2000)


def settle(pid: int, idle_share: float = 0.1, max_s: float = 60) -> float:
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
                    errors[kind] += not await call_once(s, url, headers, body)
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


@dataclass(frozen=True)
class Subject:
    """A started server under test. ``extra_cpu()`` (seconds) is read around the mix, for
    backing services whose CPU is reported beside the server's."""

    server: Server
    key: str
    agents: bool = False
    extra_cpu: Callable[[], float] | None = None

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1/chat/completions"


def _c1(s: Subject, b: Budget) -> dict[str, Any]:
    return _load(run_load(s.url, s.key, MODEL, 1, b.seconds, b.c1_max, s.pid))


def _c32(s: Subject, b: Budget) -> dict[str, Any]:
    return _load(run_load(s.url, s.key, MODEL, 32, b.seconds, b.c32_max, s.pid))


def _stream10(s: Subject, b: Budget) -> dict[str, Any]:
    return _streams(run_streams(s.url, s.key, MODEL, b.streams, s.pid, 10), 10)


def _stream_long(s: Subject, b: Budget) -> dict[str, Any]:
    return _streams(run_streams(s.url, s.key, MODEL, b.long_streams, s.pid, LONG_STREAM), LONG_STREAM)


def _agent(s: Subject, b: Budget) -> dict[str, Any]:
    return asyncio.run(agent_rounds(s.url, s.key, s.pid, b.agent_rounds, b.agent_per_round))


def _mix_phase(s: Subject, b: Budget) -> dict[str, Any]:
    models = {PLAIN: MODEL, STREAM: MODEL} | ({AGENT: AGENT_MODEL} if s.agents else {})
    svc0 = s.extra_cpu() if s.extra_cpu else 0.0
    m = run_mix(s.url, s.key, models, plan(), 32, b.mix_seconds, b.mix_max, s.pid)
    svc = (s.extra_cpu() - svc0) if s.extra_cpu else 0.0
    return {
        "requests": m.requests,
        "errors": m.errors,
        "seconds": round(m.seconds, 3),
        "by_kind": m.by_kind,
        "rps": m.requests / m.seconds if m.seconds else float("nan"),
        "cpu_ms_per_request": m.cpu_ms_per_request,
        "services_cpu_ms_per_request": 1000 * svc / m.requests if m.requests else float("nan"),
    }


Phase = Callable[[Subject, Budget], dict[str, Any]]
PHASES: dict[str, Phase] = {
    "c1": _c1,
    "c32": _c32,
    "stream10": _stream10,
    "stream_long": _stream_long,
    "agent": _agent,
}


def turns(names: list[str], phases: list[str], with_agents: set[str]) -> list[tuple[str, str]]:
    """(phase, server) in the order they run: phase by phase, the servers' order reversed
    every other phase (A B, B A, ...); the agent phase only for servers that have agents."""
    out = []
    for i, phase in enumerate(phases):
        for name in names if i % 2 == 0 else names[::-1]:
            if phase != "agent" or name in with_agents:
                out.append((phase, name))
    return out


def measure(
    subjects: dict[str, Subject],
    budget: Budget,
    *,
    mix: bool,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, dict[str, Any]]:
    """Every phase against every (started, idle) server, phase by phase.

    The servers take turns within each phase, in alternating order (A B, B A, ...), so a
    machine that gets busier or quieter during the run shifts both sides alike instead
    of whichever went last.
    """
    out: dict[str, dict[str, Any]] = {
        name: {"startup_s": s.server.startup_s, "settle_s": settle(s.pid)} for name, s in subjects.items()
    }
    pids = {name: tree_pids(s.pid) for name, s in subjects.items()}
    phases = dict(PHASES) | ({"mix": _mix_phase} if mix else {})
    with_agents = {name for name, s in subjects.items() if s.agents}
    for phase, name in turns(list(subjects), list(phases), with_agents):
        log(f"{name}: {phase}")
        out[name][phase] = phases[phase](subjects[name], budget)
    for name, s in subjects.items():
        fig = out[name]
        slope = (fig["stream_long"]["cpu_ms_per_stream"] - fig["stream10"]["cpu_ms_per_stream"]) / (
            LONG_STREAM - 10
        )
        fig["cpu_us_per_chunk"] = 1000 * slope
        fig["rss_mb"] = rss_mb(s.pid)
        now = tree_pids(s.pid)
        # A worker that died or was replaced mid-run takes its CPU with it: say so.
        fig["processes"] = {
            "at_start": len(pids[name]),
            "at_end": len(now),
            "replaced": len(pids[name] - now),
        }
    return out
