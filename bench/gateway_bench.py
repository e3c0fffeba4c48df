"""Ours vs vanilla LiteLLM in one run: CPU, latency, throughput, streaming, agents, RSS.

    python -m bench.gateway_bench            # one worker each, ~4 minutes
    python -m bench.gateway_bench --quick    # the same, shorter, ~2 minutes
    python -m bench.gateway_bench --full     # two workers each, ours on Redis + PostgreSQL, + a mix
    python -m bench.gateway_bench --rounds 3 # three runs, each figure the median of the three

Starts a fast fake upstream (``bench._upstream``), then vanilla LiteLLM and this gateway
one after the other (see ``bench._servers`` for both configs), drives each with the same
closed-loop load on loopback and prints the table with ours/vanilla ratios and issue 13's
targets. CPU counts every process of a server (workers are its children). The raw
figures go to ``bench/results/<mode>.json`` (``single`` or ``full``);
``python -m bench.readme_table`` turns them into the README's table.

On a shared 2-core machine one run's ratios move by 10-15 % from run to run. With
``--rounds N`` the whole run (fresh servers, every phase) is repeated N times and each raw
figure of each server is the median of its N values; every round's figures are kept in
the file under ``round_figures``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

from bench import readme_table
from bench._figures import rows
from bench._measure import Budget, Subject, measure
from bench._servers import MODEL, Backends, Target, ours, upstream, vanilla, vanilla_config

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _virtual_key(port: int, admin: str) -> tuple[str, str]:
    """A governed key (budget, ledger) when the admin API exists; else the admin key."""
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/gateway/keys",
            headers={"Authorization": f"Bearer {admin}"},
            json={"key_alias": f"bench-{int(time.time())}", "max_budget": 1000, "budget_duration": "30d"},
            timeout=30,
        )
        if r.status_code in (200, 201) and r.json().get("key"):
            return r.json()["key"], "virtual key (governed)"
    except httpx.HTTPError:
        pass
    return admin, "admin key"


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return {"commit": git("rev-parse", "--short=10", "HEAD") or "unknown", "dirty": bool(dirty)}


def _same_tree(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """The run's commit as it started; dirty if it was, or if the tree changed meanwhile."""
    return {**start, "dirty": bool(start["dirty"] or end["dirty"] or start["commit"] != end["commit"])}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _start(name: str, target: Target, agents: bool, extra_cpu: Callable[[], float] | None) -> Subject:
    _log(f"{name}: starting")
    try:
        target.server.start(timeout=240)
    except RuntimeError:
        log = target.server.log
        if log is not None and log.exists():  # the run's temporary folder goes with us
            print("".join(log.read_text(errors="replace").splitlines(True)[-40:]), file=sys.stderr)
        raise
    key = target.key
    if name == "ours":
        key, kind = _virtual_key(target.server.port, target.key)
        if kind != "virtual key (governed)":
            raise RuntimeError("ours: could not create a governed virtual key; see its log")
    _log(f"{name}: ready in {target.server.startup_s:.1f} s")
    return Subject(target.server, key, agents, extra_cpu)


def median_of(trees: list[Any]) -> Any:
    """The per-leaf median of same-shaped figure trees (dicts of numbers); a leaf that is
    not a number in every tree (a string, a missing phase) is taken from the first."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: median_of([t[k] for t in trees if isinstance(t, dict) and k in t]) for k in first}
    if all(_number(t) for t in trees):
        return statistics.median(trees)
    return first


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def run(quick: bool, full: bool, rounds: int = 1) -> dict[str, Any]:
    """Both servers measured ``rounds`` times; the result file's content (medians)."""
    # The code the servers ran is the tree at the start; a change during the run (a server
    # of a later round would import it) makes the result "uncommitted" too.
    started_at = _git()
    each = []
    for i in range(rounds):
        if rounds > 1:
            _log(f"round {i + 1} of {rounds}")
        each.append(_servers_once(quick, full))
    servers, setup = median_of([servers for servers, _ in each]), each[0][1]
    result: dict[str, Any] = {
        "mode": "full" if full else "single",
        "quick": quick,
        "rounds": rounds,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "litellm": version("litellm"),
            "platform": platform.platform(),
        },
        "git": _same_tree(started_at, _git()),
        "setup": setup,
        "servers": servers,
    }
    if rounds > 1:
        result["round_figures"] = [servers for servers, _ in each]
    table = rows(result)
    result["ratios"] = {row.label: row.ratio_value for row in table if row.ratio_value is not None}
    result["table"] = [row.__dict__ for row in table]
    return result


def _servers_once(quick: bool, full: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run: fresh servers, every phase; (figures per server, the set-up measured)."""
    budget = Budget.for_run(quick)
    workers = 2 if full else 1
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as d, contextlib.ExitStack() as stack:
        tmp = Path(d)
        up = upstream().start()
        stack.callback(up.stop)
        up_url = f"http://127.0.0.1:{up.port}/v1"
        backends, extra_cpu = Backends(), None
        if full:
            from bench._services import services

            _log("starting Redis and PostgreSQL")
            svc = stack.enter_context(services())
            backends, extra_cpu = svc.backends, svc.cpu_seconds
        v = vanilla(tmp, up_url, workers)
        o = ours(tmp, up_url, workers, backends)
        # Started one after the other (start-up is timed alone), then both stay up and take
        # turns phase by phase; the one not measured is idle.
        stack.callback(v.server.stop)
        stack.callback(o.server.stop)
        subjects = {"vanilla": _start("vanilla", v, False, None), "ours": _start("ours", o, True, extra_cpu)}
        servers = measure(subjects, budget, mix=full, log=_log)
        servers["vanilla"]["key"] = "master key"
        servers["ours"]["key"] = "virtual key (governed)"
    setup = {
        "workers": workers,
        "model": MODEL,
        "ours_state": "Redis + PostgreSQL (store and agent threads)" if full else "SQLite + in-process",
        "vanilla_config": vanilla_config("<fake upstream>/v1"),
        "vanilla_command": [Path(a).name if a.startswith("/") else a for a in v.server.cmd],
        "vanilla_env": {k: v.server.env[k] for k in sorted(v.server.env) if k.startswith("LITELLM_")},
    }
    return servers, setup


def _finite(value: Any) -> Any:
    """NaN/inf (a phase with no samples) as null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter phases (~2 minutes)")
    parser.add_argument("--full", action="store_true", help="two workers, Redis + PostgreSQL, and the mix")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the run; each figure is the median")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    result = run(args.quick, args.full, args.rounds)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{result['mode']}.json"
    path.write_text(json.dumps(_finite(result), indent=1, allow_nan=False) + "\n")
    print(readme_table.section(result["mode"], result), end="")
    print(f"\nraw figures: {path.relative_to(REPO)}; README table: python -m bench.readme_table")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
