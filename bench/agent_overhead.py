"""Gateway overhead per agent run: wall time beyond the upstream's, and CPU.

    .venv/bin/python -m bench.agent_overhead          # ~30 s

One gateway (the shipped config pointed at a fast fake upstream, bench._upstream) serves
``gpt-4o-mini`` and an agent ``bench-agent`` whose one LLM node calls ``gpt-4o-mini``
through the gateway. The upstream answers in well under a millisecond, so wall time is
the gateway's. Compared in the same run:

- a direct call to ``gpt-4o-mini`` (one pass through the proxy);
- an agent run (the outer request + its run token, graph, thread, and one inner call that
  re-enters the proxy at the top): its CPU minus the direct call's is what the agent layer
  adds on top of the inner call it makes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

from bench._load import Server, cpu_seconds, free_port
from tests.harness.gateway import GatewayProcess, make_test_config

N = 60
AGENT = {
    "graph": "tests.agent_routes.tiny_graphs.echo",
    "model": "gpt-4o-mini",
    "memory": False,
    "description": "benchmark",
}


async def _measure(
    url: str, key: str, model: str, pid: int, n: int, steps: bool | None = None
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "benchmark ping"}]}
    lat: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        for _ in range(5):  # warm-up
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
        cpu0 = cpu_seconds(pid)
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.post(url, json=body, headers=headers) as r:
                await r.read()
                assert r.status == 200
            lat.append(1000 * (time.perf_counter() - t0))
        cpu = cpu_seconds(pid) - cpu0
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p90_ms": lat[int(0.9 * len(lat))], "cpu_ms": 1000 * cpu / n}


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    up_port = free_port()
    upstream = Server(
        "upstream", [sys.executable, "-m", "bench._upstream", str(up_port)], dict(os.environ), up_port
    )
    upstream.start()
    base = make_test_config(f"http://127.0.0.1:{up_port}/v1", None, tmp / "base.yaml")
    cfg = yaml.safe_load(base.read_text())
    cfg["model_list"].append(
        {
            "model_name": "bench-agent",
            "litellm_params": {"model": "agent/bench-agent"},
            "model_info": {"id": "bench-agent", "input_cost_per_token": 0, "output_cost_per_token": 0},
        }
    )
    cfg.setdefault("gateway", {}).setdefault("agents", {}).setdefault("registry", {})["bench-agent"] = AGENT
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    gw = GatewayProcess(cfg_path, tmp / "data").start()
    try:
        url = f"{gw.base_url}/chat/completions"
        direct = asyncio.run(_measure(url, gw.admin_key, "gpt-4o-mini", gw.pid, N))
        agent = asyncio.run(_measure(url, gw.admin_key, "bench-agent", gw.pid, N))
    finally:
        gw.stop()
        upstream.stop()
    print(f"{'':28}{'p50 ms':>10}{'p90 ms':>10}{'CPU ms':>10}")
    for name, r in (("direct call (gpt-4o-mini)", direct), ("agent run (1 inner call)", agent)):
        print(f"{name:28}{r['p50_ms']:>10.1f}{r['p90_ms']:>10.1f}{r['cpu_ms']:>10.1f}")
    print(
        f"agent layer on top of its inner call: +{agent['p50_ms'] - direct['p50_ms']:.1f} ms wall (p50), "
        f"+{agent['cpu_ms'] - direct['cpu_ms']:.1f} ms CPU per run; "
        f"whole run vs upstream time (<1 ms): {agent['p50_ms']:.1f} ms wall, {agent['cpu_ms']:.1f} ms CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
