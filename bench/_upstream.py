"""A fast fake OpenAI upstream for benchmarks (aiohttp, its own process).

    python -m bench._upstream PORT

Answers chat completions in well under a millisecond, so what a benchmark measures is the
gateway, not the upstream. A streamed answer is a role chunk, N content chunks
(``tok0 `` ... ``tok{N-1} ``), a finish chunk and a usage chunk; N is 10 unless the last
message's text holds ``chunks=N`` (1..5000). The chunks of each N are encoded once and
each is written as its own SSE event, so a 200-chunk stream costs the upstream little.
"""

from __future__ import annotations

import json
import re
import sys
import time
from functools import lru_cache

from aiohttp import web

DEFAULT_CHUNKS = 10
MAX_CHUNKS = 5000
_CHUNKS_RE = re.compile(r"chunks=(\d{1,5})")

_ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "model": "bench",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok, benchmark reply"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}
_BODY = json.dumps(_ANSWER).encode()


def _chunk(delta: dict[str, object], finish: str | None, created: int) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": created,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


@lru_cache(maxsize=16)
def stream_events(n: int) -> tuple[bytes, ...]:
    """The SSE events of an ``n``-chunk answer, one bytes object per event."""
    created = int(time.time())
    events = [_chunk({"role": "assistant", "content": ""}, None, created)]
    events.extend(_chunk({"content": f"tok{i} "}, None, created) for i in range(n))
    events.append(_chunk({}, "stop", created))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": created,
        "model": "bench",
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n},
    }
    events.append(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
    return tuple(events)


def chunks_wanted(body: dict[str, object]) -> int:
    """N from ``chunks=N`` in the last message's text, else the default; clamped to 1..MAX."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        match = _CHUNKS_RE.search(content) if isinstance(content, str) else None
        if match:
            return max(1, min(MAX_CHUNKS, int(match.group(1))))
    return DEFAULT_CHUNKS


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if not body.get("stream"):
        return web.Response(body=_BODY, content_type="application/json")
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    for event in stream_events(chunks_wanted(body)):
        await resp.write(event)
    await resp.write_eof()
    return resp


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_get("/health/liveliness", health)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
