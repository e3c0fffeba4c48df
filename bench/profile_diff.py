"""Where the difference goes: CPU per request by subsystem, two servers sampled in one run.

    python -m bench.profile_diff                       # vanilla vs ours, plain calls, c=8
    python -m bench.profile_diff --mode streams --chunks 200
    python -m bench.profile_diff --mode agents         # ours: direct call vs agent run

Each side is started as ``bench.gateway_bench`` starts it (fake upstream, priced ``bench``
model; ours with a governed virtual key and the response cache off), warmed up, then driven
while ``py-spy record --nonblocking`` samples it (idle frames off). The CPU the side used per
request (``/proc``, the whole load window) is split by the share of samples each subsystem
has, so a row reads "ms of CPU per request spent here". Every sample goes to one subsystem:
ours if the innermost of our frames on the stack does work (is not one of the pass-through
wrappers in :data:`WRAPPERS`, or is the innermost frame), else LiteLLM's machinery by the
innermost frame that names one (:data:`LITELLM_SUBSYSTEMS`). Treat single rows as +-0.3 ms:
the sides run one after the other on a shared machine, and py-spy's shares of a few
thousand samples are +-1 %.

``--mode agents`` samples ours twice: direct calls to ``bench``, then runs of ``bench-agent``
(one LLM node calling ``bench`` back through the gateway). The difference is what an agent
run costs beyond one direct call, by subsystem; the inner call's own pass lands in the same
LiteLLM rows as a direct call's.

Writes the table to ``bench/results/profile-diff-<mode>.txt``.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._load import LoadResult, run_load, run_streams
from bench._measure import settle
from bench._servers import AGENT_MODEL, MODEL, REPO, ours, vanilla
from bench._servers import upstream as _upstream
from bench.gateway_bench import _virtual_key
from bench.profile_gateway import record

# Our frames that only pass a call through (the server's entry, ASGI wrappers, the stream
# re-yield in front of the maskers), each as substrings its frame has: where one of these is
# the innermost of our frames, the sample belongs to what it called, unless it is the
# innermost frame of all (its own time).
WRAPPERS: tuple[tuple[str, ...], ...] = (
    ("custom_hooks/cli.py",),
    ("custom_hooks/server/cli.py",),
    ("FrontDoor.__call__",),
    ("FrontDoor._http",),
    ("RequestIdMiddleware.__call__",),
    ("send_with_id",),
    ("MetricsEndpointMiddleware.__call__",),
    ("_scrubbing.<locals>.scrubbed",),
    ("send_and_release",),
    ("replay",),
    ("GuardedHttpToolsProtocol.data_received",),
    ("_chain (", "guardrails/masking.py"),
)
HOOK_TIMING = "hook_timing.py"  # times our hooks: transparent when naming whose hook it is

Subsystems = tuple[tuple[str, tuple[str, ...]], ...]  # (name, path or frame markers)

# Our subsystems, by the path of the outermost of our frames that does work.
OUR_SUBSYSTEMS: Subsystems = (
    ("ours: agent runtime (graph, chat model client)", ("agent_routes/",)),
    ("ours: metrics, request log, ledger, tracing", ("custom_hooks/observability/", "custom_hooks/ledger/")),
    ("ours: auth", ("custom_hooks/auth/",)),
    (
        "ours: front door, server, store",
        ("custom_hooks/edge/", "custom_hooks/server/", "custom_hooks/store/"),
    ),
    ("ours: routing, budgets, guardrails", ("custom_hooks/",)),
)

# LiteLLM's and the server's. py-spy names most files by a short path ("litellm/router.py")
# and some by their bare name ("streaming_handler.py"); the markers are written for both.
# Anywhere on the stack (checked first, in this order) ...
LITELLM_ANYWHERE: Subsystems = (
    ("LiteLLM: guardrail dispatch", ("custom_guardrail.py", "guardrail")),
    ("LiteLLM: rate limiter", ("parallel_request_limiter",)),
    ("redis client", ("redis/",)),
)
# ... then by the innermost frame that names one (a frame is tried against each in order).
LITELLM_SUBSYSTEMS: Subsystems = (
    (  # LiteLLM's wrappers per guardrail that overrides the stream hook (its own frames only)
        "LiteLLM: guarded stream path",
        ("_UpstreamStreamBoundary", "_wrap_streaming_iterator_with_enrichment"),
    ),
    (
        "LiteLLM: stream wrapper, chunk building",
        ("streaming_handler.py", "streaming_chunk_builder_utils.py", "stream_chunk_builder"),
    ),
    (
        "LiteLLM: logging object, callbacks, cost",
        (
            "litellm_logging.py",
            "custom_logger.py",
            "callback_controls.py",
            "cost_calculat",
            "logging_worker.py",
            "logging_utils.py",
            "redact_messages.py",
            "_service_logger.py",
            "tool_call_cost_tracking.py",
        ),
    ),
    (
        "LiteLLM: auth",
        ("user_api_key_auth", "auth_checks.py", "auth_utils.py", "route_checks.py", "user_api_key_cache.py"),
    ),
    (
        "LiteLLM: router",
        ("router.py", "simple_shuffle.py", "router_utils", "track_deployment_metrics.py", "fallback_"),
    ),
    (
        "HTTP server, ASGI middleware",
        (
            *("uvicorn/", "starlette/", "fastapi/", "middleware", "h11/", "httptools", "anyio/"),
            *("_lazy_features.py", "lens/internal.py"),
        ),
    ),
    ("LiteLLM: proxy request processing", ("litellm/proxy/", "proxy_server.py", "http_parsing_utils.py")),
    (
        "LiteLLM: completion, provider, response",
        (
            *("litellm/", "openai.py", "transformation.py", "convert_dict_to_response.py", "openai/"),
            *("response_metadata.py", "get_llm_provider_logic.py", "core_helpers.py", "token_counter.py"),
            *("get_litellm_params.py", "get_api_base.py"),
        ),
    ),
    ("HTTP client (to the upstream)", ("aiohttp/", "httpx/", "httpcore/", "httpx2/", "aiohttp_transport.py")),
    ("worker threads (executor, sqlite)", ("concurrent/futures/", "aiosqlite/", "threading.py", "queue.py")),
)
OTHER = "other (event loop, collector, ...)"
# Innermost frames that are the event loop itself (polling, scheduling callbacks), not work a
# callback does: under the server's frames on the stack, yet no one's request code.
EVENT_LOOP_FRAMES = ("Runner.run (", "BaseEventLoop.run_forever (", "BaseEventLoop._run_once (")
EVENT_LOOP_FRAMES += ("EpollSelector.select (", "select (selectors.py", "Handle._run (")

# Innermost frames of worker threads parked in their loop (the executor's queue, aiosqlite's
# queue, SQLite's fsync): py-spy counts them active, yet they spend no CPU the others don't.
WAITING_FRAMES = ("_worker (", "_connection_worker_thread (")
WAITING = "waiting worker threads"


def _is_ours(frame: str) -> bool:
    return "custom_hooks/" in frame or "agent_routes/" in frame


def _is_wrapper(frame: str) -> bool:
    return any(all(part in frame for part in parts) for parts in WRAPPERS)


def subsystem(frames: Sequence[str]) -> str:
    """Who a sample's CPU belongs to; ``frames`` outermost first, as py-spy folds them."""
    if frames and frames[-1].startswith(WAITING_FRAMES):
        return WAITING
    if frames and frames[-1].startswith(EVENT_LOOP_FRAMES):
        return OTHER
    ours_at = [i for i, f in enumerate(frames) if _is_ours(f)]
    if ours_at and (not _is_wrapper(frames[ours_at[-1]]) or ours_at[-1] == len(frames) - 1):
        # ours: named by the outermost of our frames doing work (the hook timer is transparent)
        working = [i for i in ours_at if not _is_wrapper(frames[i]) and HOOK_TIMING not in frames[i]]
        frame = frames[working[0] if working else ours_at[-1]]
        return next(name for name, marks in OUR_SUBSYSTEMS if any(m in frame for m in marks))
    theirs = [f for f in frames if not _is_ours(f)]
    for name, marks in LITELLM_ANYWHERE:
        if any(m in f for f in theirs for m in marks):
            return name
    for frame in reversed(theirs):
        for name, marks in LITELLM_SUBSYSTEMS:
            if any(m in frame for m in marks):
                return name
    return OTHER


def shares(folded: str) -> tuple[dict[str, float], int, int]:
    """Each subsystem's share of a py-spy raw (folded) recording's working samples, their
    count, and the count of :data:`WAITING` samples left out of the shares."""
    counts: collections.Counter[str] = collections.Counter()
    for line in folded.splitlines():
        stack, _, n = line.rpartition(" ")
        if n.isdigit() and stack:
            counts[subsystem(stack.split(";"))] += int(n)
    waiting = counts.pop(WAITING, 0)
    total = sum(counts.values())
    return ({k: v / total for k, v in counts.items()} if total else {}), total, waiting


@dataclass(frozen=True)
class Side:
    label: str
    cpu_ms: float  # per request (or stream, or agent run)
    shares: dict[str, float]
    samples: int
    waiting: int = 0  # samples of parked worker threads, not in ``shares``

    def ms(self, name: str) -> float:
        return self.cpu_ms * self.shares.get(name, 0.0)


def _sample(
    target: str, model: str, label: str, args: argparse.Namespace, tmp: Path, upstream_url: str
) -> Side:
    t = (ours if target == "ours" else vanilla)(tmp, upstream_url)
    server = t.server.start(timeout=240)
    try:
        assert server.proc is not None
        pid = server.proc.pid
        key = _virtual_key(server.port, t.key)[0] if target == "ours" else t.key
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
        run_load(url, key, MODEL, 4, 5, 200, pid)  # warm-up
        if model == AGENT_MODEL:
            run_load(url, key, model, 2, 5, 30, pid)
        settle(pid)
        results: list[LoadResult] = []
        until = time.monotonic() + args.seconds + 4

        def drive() -> None:
            if args.mode == "streams":
                while time.monotonic() < until:
                    results.append(run_streams(url, key, model, 4, pid, args.chunks))
            else:
                results.append(run_load(url, key, model, args.concurrency, args.seconds + 4, 100_000, pid))

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(2)
        out = tmp / "profile.folded"
        record(pid, args.seconds, out, args.rate)
        driver.join()
    finally:
        server.stop()
    requests = sum(r.requests for r in results)
    cpu_ms = 1000 * sum(r.cpu_s for r in results) / requests if requests else float("nan")
    folded = out.read_text()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        (args.keep / f"{args.mode}-{label.replace(' ', '-')}.folded").write_text(folded)
    found, samples, waiting = shares(folded)
    return Side(label, cpu_ms, found, samples, waiting)


def table(base: Side, other: Side, per_chunk: int = 0) -> str:
    unit = "ms per stream" if per_chunk else "ms per request"  # an agent run is one request
    names = sorted(set(base.shares) | set(other.shares), key=lambda n: -(other.ms(n) - base.ms(n)))
    lines = [
        f"CPU {unit}: {base.label} {base.cpu_ms:.2f} ({base.samples} samples), "
        f"{other.label} {other.cpu_ms:.2f} ({other.samples} samples), "
        f"difference {other.cpu_ms - base.cpu_ms:+.2f}",
        f"(left out: samples of parked worker threads, {base.waiting} and {other.waiting})",
        "",
        f"{'subsystem':50}{base.label:>10}{other.label:>10}{'diff':>9}",
    ]
    for n in names:
        lines.append(f"{n:50}{base.ms(n):10.2f}{other.ms(n):10.2f}{other.ms(n) - base.ms(n):+9.2f}")
    if per_chunk:
        b, o = 1000 * base.cpu_ms / per_chunk, 1000 * other.cpu_ms / per_chunk
        lines += [
            "",
            f"per chunk (stream / {per_chunk}): {base.label} {b:.0f} us, {other.label} {o:.0f} us",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("requests", "streams", "agents"), default="requests")
    parser.add_argument("--seconds", type=int, default=25, help="py-spy recording per side")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=200, help="content chunks per stream (--mode streams)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--keep", type=Path, help="also write each side's folded stacks to this directory")
    args = parser.parse_args(argv)
    if args.mode == "agents":
        pairs = [("ours", MODEL, "direct"), ("ours", AGENT_MODEL, "agent run")]
    else:
        pairs = [("vanilla", MODEL, "vanilla"), ("ours", MODEL, "ours")]
    sides: list[Side] = []
    with tempfile.TemporaryDirectory(prefix="gw-diff-") as d:
        up = _upstream().start()
        try:
            for i, (target, model, label) in enumerate(pairs):
                tmp = Path(d) / str(i)
                tmp.mkdir()
                sides.append(_sample(target, model, label, args, tmp, f"http://127.0.0.1:{up.port}/v1"))
        finally:
            up.stop()
    text = table(sides[0], sides[1], args.chunks if args.mode == "streams" else 0)
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"profile-diff-{args.mode}.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
