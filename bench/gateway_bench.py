"""Ours vs vanilla LiteLLM: throughput, latency, CPU per request, RSS, start-up, streaming.

    python -m bench.gateway_bench            # ~2 minutes
    python -m bench.gateway_bench --quick    # ~40 seconds

Starts a fast fake upstream, a vanilla LiteLLM proxy (same version, master key only, the
same model entry, priced) and our gateway (shipped config.yaml, every hook on, called
with a governed virtual key when the admin API is there), one after the other, drives each
with the same closed-loop load on loopback, and prints a table with ours/vanilla ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench._load import LoadResult, Server, free_port, rss_mb, run_load, run_streams

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRICE = {"input_cost_per_token": 0.00000015, "output_cost_per_token": 0.0000006, "mode": "chat"}
BASE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_LOG": "ERROR",
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "LITELLM_"))}
    return {**keep, **BASE_ENV, **extra}


def _bench_model(upstream: str) -> dict[str, Any]:
    return {
        "model_name": "bench",
        "litellm_params": {"model": "openai/bench", "api_base": upstream, "api_key": "sk-bench"},
        "model_info": {"id": "bench", **PRICE},
    }


def vanilla(tmp: Path, upstream: str) -> tuple[Server, str]:
    cfg = {"model_list": [_bench_model(upstream)], "general_settings": {"master_key": "sk-vanilla-bench"}}
    path = tmp / "vanilla.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    cmd = [str(BIN / "litellm"), "--config", str(path), "--port", str(port), "--host", "127.0.0.1"]
    return Server("vanilla", cmd, _env({}), port, log=tmp / "vanilla.log"), "sk-vanilla-bench"


def ours(tmp: Path, upstream: str) -> tuple[Server, str]:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["model_list"].append(_bench_model(upstream))
    # Identical prompts would be served from the response cache: measure the full path.
    cfg["gateway"]["routing"]["cache"]["enabled"] = False
    path = tmp / "ours.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    env = _env(
        {
            "GATEWAY_CONFIG": str(path),
            "GATEWAY_PORT": str(port),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_DATA_DIR": str(tmp / "ours-data"),
            "GATEWAY_MASTER_KEY": "sk-admin-bench",
            "PYTHONPATH": str(REPO),
        }
    )
    cmd = [sys.executable, "-m", "custom_hooks.cli", "serve"]
    return Server("ours", cmd, env, port, log=tmp / "ours.log"), "sk-admin-bench"


def _virtual_key(port: int, admin: str) -> tuple[str, str]:
    """A governed key (budget, ledger) when the admin API exists; else the admin key."""
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/gateway/keys",
            headers={"Authorization": f"Bearer {admin}"},
            json={"key_alias": f"bench-{int(time.time())}", "max_budget": 1000, "budget_duration": "30d"},
            timeout=10,
        )
        if r.status_code in (200, 201) and r.json().get("key"):
            return r.json()["key"], "virtual key (governed)"
    except httpx.HTTPError:
        pass
    return admin, "admin key"


def measure(server: Server, key: str, quick: bool) -> dict[str, Any]:
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    assert server.proc is not None
    pid = server.proc.pid
    secs = 4 if quick else 10
    out: dict[str, Any] = {"startup_s": server.startup_s}
    out["c1"] = run_load(url, key, "bench", 1, secs, 400 if quick else 1000, pid)
    out["c32"] = run_load(url, key, "bench", 32, secs, 1000 if quick else 3000, pid)
    out["stream"] = run_streams(url, key, "bench", 20 if quick else 60, pid)
    out["rss_mb"] = rss_mb(pid)
    return out


def _row(name: str, label: str, r: LoadResult) -> str:
    return (
        f"{name:<8} {label:<7} {r.rps:>8.1f} {r.p50:>8.1f} {r.pct(0.99):>8.1f} "
        f"{r.cpu_ms_per_request:>9.1f} {r.errors:>6}"
    )


def report(results: dict[str, dict[str, Any]], key_kind: str) -> str:
    lines = [
        f"ours called with: {key_kind}",
        f"{'target':<8} {'load':<7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/r':>9} {'errors':>6}",
    ]
    for name, res in results.items():
        for label in ("c1", "c32", "stream"):
            lines.append(_row(name, label, res[label]))
    v, o = results["vanilla"], results["ours"]
    lines.append("")
    lines.append(f"{'':<24}{'vanilla':>10}{'ours':>10}{'ours/vanilla':>14}")

    def ratio(label: str, a: float, b: float, fmt: str = "{:.1f}") -> None:
        lines.append(
            f"{label:<24}{fmt.format(a):>10}{fmt.format(b):>10}{(b / a if a else float('nan')):>14.2f}"
        )

    ratio("req/s c=1", v["c1"].rps, o["c1"].rps)
    ratio("req/s c=32", v["c32"].rps, o["c32"].rps)
    ratio("p50 ms c=1", v["c1"].p50, o["c1"].p50)
    ratio("p99 ms c=32", v["c32"].pct(0.99), o["c32"].pct(0.99))
    ratio("CPU ms/request c=32", v["c32"].cpu_ms_per_request, o["c32"].cpu_ms_per_request)
    ratio("CPU ms/stream", v["stream"].cpu_ms_per_request, o["stream"].cpu_ms_per_request)
    ratio("TTFT p50 ms", v["stream"].pct(0.5, v["stream"].ttft_ms), o["stream"].pct(0.5, o["stream"].ttft_ms))
    ratio("RSS MB", v["rss_mb"], o["rss_mb"], "{:.0f}")
    ratio("start-up s", v["startup_s"], o["startup_s"])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as d:
        tmp = Path(d)
        up_port = free_port()
        upstream = Server(
            "upstream",
            [sys.executable, "-m", "bench._upstream", str(up_port)],
            _env({"PYTHONPATH": str(REPO)}),
            up_port,
        ).start()
        up_url = f"http://127.0.0.1:{up_port}/v1"
        results: dict[str, dict[str, Any]] = {}
        key_kind = "admin key"
        try:
            for name, make in (("vanilla", vanilla), ("ours", ours)):
                server, key = make(tmp, up_url)
                server.start()
                try:
                    if name == "ours":
                        key, key_kind = _virtual_key(server.port, key)
                    results[name] = measure(server, key, args.quick)
                finally:
                    server.stop()
        finally:
            upstream.stop()
    text = report(results, key_kind)
    print(text)
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "gateway_bench.txt").write_text(text + "\n")
    summary = {
        n: {
            k: (v.__dict__ | {"latencies_ms": None, "ttft_ms": None}) if isinstance(v, LoadResult) else v
            for k, v in r.items()
        }
        for n, r in results.items()
    }
    (out_dir / "gateway_bench.json").write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
