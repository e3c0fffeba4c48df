"""Gateway overhead per agent run: CPU beyond its inner call's own cost, and wall time.

    python -m bench.agent_overhead            # ~1 minute
    python -m bench.agent_overhead --quick

Starts the fast fake upstream and our gateway as ``bench.gateway_bench`` does (shipped
config plus the ``bench`` model and the ``bench-agent`` agent, one LLM node calling
``bench`` through the gateway), then alternates rounds of direct calls to ``bench`` and
agent runs, one request at a time. An agent run is the outer request (auth, hooks, run
token, graph, thread) plus one inner call that re-enters the proxy at the top, so
CPU per run - CPU per direct call is what the agent layer costs beyond the call it makes.
``make bench`` reports the same figures in its table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench._measure import Budget, agent_rounds, settle
from bench._servers import ours, upstream
from bench.gateway_bench import _virtual_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    budget = Budget.for_run(args.quick)
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as d:
        up = upstream().start()
        try:
            target = ours(Path(d), f"http://127.0.0.1:{up.port}/v1")
            server = target.server.start(timeout=240)
            try:
                assert server.proc is not None
                key, _ = _virtual_key(server.port, target.key)
                settle(server.proc.pid)
                url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
                r = asyncio.run(
                    agent_rounds(url, key, server.proc.pid, budget.agent_rounds, budget.agent_per_round)
                )
            finally:
                server.stop()
        finally:
            up.stop()
    print(f"{'':28}{'p50 ms':>10}{'CPU ms':>10}")
    print(f"{'direct call (bench)':28}{r['direct_p50_ms']:>10.1f}{r['direct_cpu_ms']:>10.1f}")
    print(f"{'agent run (1 inner call)':28}{r['agent_p50_ms']:>10.1f}{r['agent_cpu_ms']:>10.1f}")
    print(
        f"agent run beyond its inner call: +{r['overhead_cpu_ms']:.1f} ms CPU (target <= 8 ms), "
        f"+{r['agent_p50_ms'] - r['direct_p50_ms']:.1f} ms wall (p50); beyond the inner call and "
        f"the outer request's own pass: {r['overhead_beyond_outer_pass_cpu_ms']:+.1f} ms CPU; "
        f"{r['runs']} runs, {r['errors']} errors"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
