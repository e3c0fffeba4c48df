"""CPU per streamed chunk, ours vs vanilla LiteLLM: 10-chunk vs 200-chunk streams.

    python -m bench.stream_chunk_cost [--streams 20]

Starts its own fake upstream whose stream length is the upstream model name's suffix
(``openai/chunks-200`` streams 200 content chunks), vanilla LiteLLM and our gateway (as
``bench.gateway_bench`` does), and for each measures the server's CPU over ``--streams``
streams of 10 and of 200 chunks. The per-chunk cost is the difference divided by 190:
fixed per-request work cancels out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench._load import Server, free_port, run_streams
from bench.gateway_bench import PRICE, REPO, _env, _virtual_key

BIN = Path(sys.executable).parent


def _models(upstream: str) -> list[dict[str, Any]]:
    return [
        {
            "model_name": f"chunks-{n}",
            "litellm_params": {"model": f"openai/chunks-{n}", "api_base": upstream, "api_key": "sk-bench"},
            "model_info": {"id": f"chunks-{n}", **PRICE},
        }
        for n in (10, 200)
    ]


def upstream_main(port: int) -> None:
    from aiohttp import web

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-chunks",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "chunks",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        n = int(str(body.get("model", "chunks-10")).rsplit("-", 1)[-1])
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": f"tok{i} "}) for i in range(n)]
        out.append(chunk({}, "stop"))
        usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
        tail = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "chunks",
            "choices": [],
            "usage": usage,
        }
        out.append(b"data: " + json.dumps(tail).encode() + b"\n\ndata: [DONE]\n\n")
        for piece in out:
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health/liveliness", health)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _servers(tmp: Path, upstream: str) -> list[tuple[Server, str]]:
    vcfg = {"model_list": _models(upstream), "general_settings": {"master_key": "sk-vanilla-bench"}}
    (tmp / "vanilla.yaml").write_text(yaml.safe_dump(vcfg))
    vport = free_port()
    vanilla = Server(
        "vanilla",
        [
            str(BIN / "litellm"),
            "--config",
            str(tmp / "vanilla.yaml"),
            "--port",
            str(vport),
            "--host",
            "127.0.0.1",
        ],
        _env({}),
        vport,
        log=tmp / "vanilla.log",
    )
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["model_list"].extend(_models(upstream))
    cfg["gateway"]["routing"]["cache"]["enabled"] = False
    (tmp / "ours.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    env = {
        "GATEWAY_CONFIG": str(tmp / "ours.yaml"),
        "GATEWAY_PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_DATA_DIR": str(tmp / "ours-data"),
        "GATEWAY_MASTER_KEY": "sk-admin-bench",
        "PYTHONPATH": str(REPO),
    }
    ours = Server(
        "ours", [sys.executable, "-m", "custom_hooks.cli", "serve"], _env(env), port, log=tmp / "ours.log"
    )
    return [(vanilla, "sk-vanilla-bench"), (ours, "sk-admin-bench")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        upstream_main(args.upstream)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="gw-chunks-") as d:
        tmp = Path(d)
        up_port = free_port()
        upstream = Server(
            "upstream",
            [sys.executable, "-m", "bench.stream_chunk_cost", "--upstream", str(up_port)],
            _env({"PYTHONPATH": str(REPO)}),
            up_port,
        ).start()
        try:
            for server, key in _servers(tmp, f"http://127.0.0.1:{up_port}/v1"):
                server.start()
                try:
                    if server.name == "ours":
                        key, _ = _virtual_key(server.port, key)
                    assert server.proc is not None
                    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
                    short = run_streams(url, key, "chunks-10", args.streams, server.proc.pid)
                    long = run_streams(url, key, "chunks-200", args.streams, server.proc.pid)
                    per_chunk_us = 1000 * (long.cpu_ms_per_request - short.cpu_ms_per_request) / 190
                    rows.append(
                        (server.name, short.cpu_ms_per_request, long.cpu_ms_per_request, per_chunk_us)
                    )
                finally:
                    server.stop()
        finally:
            upstream.stop()
    print(f"{'target':<8} {'CPU ms/10-chunk':>16} {'CPU ms/200-chunk':>17} {'us/chunk':>9}")
    for name, a, b, c in rows:
        print(f"{name:<8} {a:>16.1f} {b:>17.1f} {c:>9.0f}")
    if len(rows) == 2:
        print(f"ours/vanilla us/chunk: {rows[1][3] / rows[0][3]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
