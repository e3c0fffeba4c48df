"""CPU per request with tracing off and on (OTLP/HTTP to a local receiver).

    python -m bench.tracing_bench            # ~1.5 minutes
    python -m bench.tracing_bench --rounds 3 --requests 800

Starts a fast fake upstream, an OTLP receiver (in this process: its CPU is not counted)
and two gateways on the shipped config.yaml: one without any OTEL_* variable, one with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at the receiver. Rounds alternate between them
(off, on, off, on, ...) so drift on a shared machine hits both; each round's CPU includes
a few seconds after the load so the batch exporter's work is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._load import Server, cpu_seconds, free_port
from bench._load import _load as load
from bench._servers import env as _env
from bench._servers import ours


def _server(tmp: Path, upstream: str, name: str, env: dict[str, str]) -> tuple[Server, str]:
    (tmp / name).mkdir(exist_ok=True)
    target = ours(tmp / name, upstream)
    server, key = target.server, target.key
    server.name = name
    server.env = {**server.env, **env}
    server.log = tmp / f"{name}.log"
    return server, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.harness.otlp_receiver import OtlpReceiver

    with tempfile.TemporaryDirectory(prefix="gw-trace-bench-") as d, OtlpReceiver() as otlp:
        tmp = Path(d)
        up_port = free_port()
        upstream = Server(
            "upstream",
            [sys.executable, "-m", "bench._upstream", str(up_port)],
            _env({"PYTHONPATH": str(Path(__file__).resolve().parents[1])}),
            up_port,
        ).start()
        up_url = f"http://127.0.0.1:{up_port}/v1"
        servers = {
            "off": _server(tmp, up_url, "off", {}),
            "on": _server(tmp, up_url, "on", {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url}),
        }
        cpu_ms: dict[str, list[float]] = {"off": [], "on": []}
        try:
            for server, _ in servers.values():
                server.start()
            for _ in range(args.rounds):
                for name, (server, key) in servers.items():
                    assert server.proc is not None
                    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
                    pid = server.proc.pid
                    cpu0 = cpu_seconds(pid)
                    res = asyncio.run(load(url, key, "bench", args.concurrency, 120, args.requests, pid))
                    time.sleep(6.0)  # the batch exporter's schedule delay is 5 s
                    per = 1000 * (cpu_seconds(pid) - cpu0) / max(1, res.requests + 20)
                    cpu_ms[name].append(per)
                    print(f"{name:<4} {res.requests:>5} req  {res.errors} errors  {per:6.2f} ms CPU/request")
        finally:
            for server, _ in servers.values():
                server.stop()
            upstream.stop()
        off, on = statistics.median(cpu_ms["off"]), statistics.median(cpu_ms["on"])
        print(f"median CPU ms/request: off {off:.2f}, on {on:.2f}, on-off {on - off:+.2f} ({on / off:.2f}x)")
        print(f"spans received: {len(otlp.snapshot())} in {otlp.posts} export requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
