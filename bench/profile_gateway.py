"""Sample ours or vanilla LiteLLM with py-spy under the bench load; print top frames by own time.

    python -m bench.profile_gateway ours   --mode requests --seconds 20
    python -m bench.profile_gateway vanilla --mode streams --seconds 20
    python -m bench.profile_gateway ours   --mode agents --seconds 20   # runs of bench-agent
    python -m bench.profile_gateway ours   --mode streams --chunks 200  # per-chunk costs

Starts the same servers as ``bench.gateway_bench`` (fake upstream, priced ``bench`` model,
ours with a governed virtual key and the response cache off), warms up, then records with
``py-spy record --nonblocking`` (idle frames off) while driving the load. Writes a speedscope
profile and the folded stacks to ``bench/results/profile-<target>-<mode>.*`` and prints the
frames with the largest share of samples in which they are the innermost frame (own time),
plus the largest cumulative shares of files under ``custom_hooks/`` and ``agent_routes/``.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._load import run_load, run_streams
from bench._servers import AGENT_MODEL, MODEL, REPO, ours, vanilla
from bench._servers import upstream as _upstream
from bench.gateway_bench import _virtual_key

PY_SPY = Path(sys.executable).parent / "py-spy"


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "func (path/to/file.py:123)"; drop the line number
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "wt-perf/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def record(pid: int, seconds: int, out: Path, rate: int, fmt: str = "raw") -> None:
    """``py-spy record`` of a running server and its workers, idle frames off, into ``out``."""
    cmd = [str(PY_SPY), "record", "--pid", str(pid), "--nonblocking", "--rate", str(rate)]
    cmd += ["--duration", str(seconds), "--format", fmt, "--output", str(out), "--subprocesses"]
    subprocess.run(cmd, check=True, capture_output=True)


def summarize(folded: Path, top: int = 30) -> str:
    own: collections.Counter[str] = collections.Counter()
    ours_cum: collections.Counter[str] = collections.Counter()
    files_cum: collections.Counter[str] = collections.Counter()
    files_own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        files_own[frames[-1].rsplit(" (", 1)[-1].rstrip(")")] += n
        for f in set(frames):
            if "custom_hooks/" in f or "agent_routes/" in f:
                ours_cum[f] += n
        for path in {f.rsplit(" (", 1)[-1].rstrip(")") for f in frames}:
            files_cum[path] += n
    lines = [f"samples: {total}", "", "own time (innermost frame):"]
    for frame, n in own.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {frame}")
    lines += ["", "own time by file:"]
    for path, n in files_own.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {path}")
    lines += ["", "our code, cumulative (frame anywhere on the stack):"]
    for frame, n in ours_cum.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {frame}")
    lines += ["", "files, cumulative (file anywhere on the stack):"]
    for path, n in files_cum.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {path}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", choices=("ours", "vanilla"))
    parser.add_argument("--mode", choices=("requests", "streams", "agents"), default="requests")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=10, help="content chunks per stream (--mode streams)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = parser.parse_args()
    if args.mode == "agents" and args.target == "vanilla":
        parser.error("vanilla serves no agent")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    suffix = f"-{args.chunks}" if args.mode == "streams" and args.chunks != 10 else ""
    stem = out_dir / f"profile-{args.target}-{args.mode}{suffix}"
    with tempfile.TemporaryDirectory(prefix="gw-prof-") as d:
        tmp = Path(d)
        upstream = _upstream().start()
        try:
            target = (ours if args.target == "ours" else vanilla)(tmp, f"http://127.0.0.1:{upstream.port}/v1")
            server, key = target.server, target.key
            server.start()
            try:
                if args.target == "ours":
                    key, _ = _virtual_key(server.port, key)
                assert server.proc is not None
                pid = server.proc.pid
                url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
                run_load(url, key, MODEL, 4, 3, 100, pid)  # warm-up
                if args.mode == "agents":
                    run_load(url, key, AGENT_MODEL, 2, 3, 30, pid)
                results: list[object] = []

                def drive() -> None:
                    if args.mode in ("requests", "agents"):
                        model = AGENT_MODEL if args.mode == "agents" else MODEL
                        results.append(
                            run_load(url, key, model, args.concurrency, args.seconds, 100_000, pid)
                        )
                    else:
                        deadline = time.monotonic() + args.seconds
                        while time.monotonic() < deadline:
                            results.append(run_streams(url, key, MODEL, 4, pid, args.chunks))

                driver = threading.Thread(target=drive)
                driver.start()
                for fmt, suffix in (("raw", ".folded"), ("speedscope", ".speedscope.json")):
                    # two short recordings, same load: folded stacks for the summary, speedscope to browse
                    record(pid, max(1, int(args.seconds / 2) - 1), Path(str(stem) + suffix), args.rate, fmt)
                driver.join()
            finally:
                server.stop()
        finally:
            upstream.stop()
    text = summarize(Path(str(stem) + ".folded"))
    Path(str(stem) + ".txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
