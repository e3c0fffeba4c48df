"""A scriptable fake OpenAI-compatible upstream: a real HTTP server on 127.0.0.1.

Tests queue replies and then assert on what actually left the gateway::

    fake_upstream.script(text("hi", prompt_tokens=7, completion_tokens=2), model="gpt-4o-mini")
    fake_upstream.script(error(500, "boom"), tool_call("search", {"q": "x"}))
    ...
    assert fake_upstream.requests[-1].model == "gpt-4o-mini"

Unscripted calls get a default reply echoing the last user message with deterministic
usage. Any reply streams (SSE, with a final usage chunk) when the request asks for it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness import fake_responses

__all__ = [
    "FakeUpstream",
    "RecordedRequest",
    "Reply",
    "default_usage",
    "delay",
    "error",
    "layout",
    "malformed",
    "stream",
    "text",
    "tool_call",
]


@dataclass
class Reply:
    """One scripted upstream answer."""

    kind: str = "text"  # text | tool | error | malformed | layout
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    message: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    delay_s: float = 0.0
    chunks: list[str] | None = None
    layout: list[dict[str, Any]] | None = None


def text(content: str, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Reply:
    return Reply(
        kind="text", content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


def tool_call(
    name: str,
    arguments: dict[str, Any],
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> Reply:
    call = {
        "id": f"call_{uuid.uuid4().hex[:10]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return Reply(
        kind="tool", tool_calls=[call], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


def stream(
    chunks: list[str], prompt_tokens: int | None = None, completion_tokens: int | None = None
) -> Reply:
    """A text reply streamed in exactly these chunks (when the request streams)."""
    return Reply(
        kind="text",
        content="".join(chunks),
        chunks=list(chunks),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def layout(chunks: list[dict[str, Any]]) -> Reply:
    """A stream sent exactly as these chunks: each ``{"delta": {...}, "finish_reason": ...,
    "usage": True, "choices": False}`` (all keys optional; ``usage: True`` puts the reply's
    usage on that very chunk, e.g. the last text chunk; ``choices: False`` sends the chunk
    with no choices). No separate usage chunk is added. A non-streaming
    request gets the deltas assembled into one message (content and tool calls)."""
    content = "".join(str((c.get("delta") or {}).get("content") or "") for c in chunks)
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for d in (c.get("delta") or {}).get("tool_calls") or []:
            call = calls.setdefault(
                int(d.get("index", 0)), {"type": "function", "function": {"arguments": ""}}
            )
            if d.get("id"):
                call["id"] = d["id"]
            fn = d.get("function") or {}
            if fn.get("name"):
                call["function"]["name"] = fn["name"]
            call["function"]["arguments"] += fn.get("arguments") or ""
    return Reply(
        kind="layout", content=content, tool_calls=[calls[i] for i in sorted(calls)], layout=list(chunks)
    )


def error(status: int, message: str = "scripted upstream error") -> Reply:
    return Reply(kind="error", status=status, message=message)


def delay(seconds: float, reply: Reply | None = None) -> Reply:
    base = reply or Reply(kind="default")
    base.delay_s = seconds
    return base


def malformed() -> Reply:
    return Reply(kind="malformed")


@dataclass
class RecordedRequest:
    """What the gateway sent upstream."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]
    received_at: float
    usage: dict[str, int] | None = None

    @property
    def model(self) -> str | None:
        value = self.json.get("model")
        return str(value) if value is not None else None

    @property
    def api_key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ").strip()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.json.get("messages") or [])

    def text(self) -> str:
        """All message text, for asserting what left the gateway."""
        return json.dumps(self.json.get("messages") or self.json.get("input") or "", ensure_ascii=False)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def default_usage(messages: list[dict[str, Any]], completion: str) -> tuple[int, int]:
    """Deterministic token counts the fake reports when a script doesn't set them."""
    words = sum(len(json.dumps(m.get("content", ""), ensure_ascii=False).split()) for m in messages)
    return words + 4 * len(messages), max(1, len(completion.split()))


class FakeUpstream:
    """A real HTTP server speaking enough of the OpenAI API for the gateway's tests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._slow: dict[str, float] = {}
        self.requests: list[RecordedRequest] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": []})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                record = RecordedRequest(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    json=body,
                    received_at=time.time(),
                )
                with upstream._lock:
                    upstream.requests.append(record)
                reply = upstream._next(record.model)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if self.path.rstrip("/").endswith("/embeddings"):
                    self._embeddings(body, record)
                    return
                if self.path.rstrip("/").endswith("/responses"):
                    record.usage = fake_responses.respond(self, body, reply, upstream._chunks)
                    return
                upstream._respond(self, body, reply, record)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _embeddings(self, body: dict[str, Any], record: RecordedRequest) -> None:
                inputs = body.get("input")
                items = inputs if isinstance(inputs, list) else [inputs]
                tokens = sum(len(str(i).split()) for i in items)
                record.usage = {"prompt_tokens": tokens, "completion_tokens": 0}
                self._json(
                    200,
                    {
                        "object": "list",
                        "model": body.get("model"),
                        "data": [
                            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                            for i, _ in enumerate(items)
                        ],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-upstream", daemon=True)
        self._thread.start()

    # --- scripting -------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply, model: str | None = None) -> None:
        """Queue replies for the next calls (to ``model`` only, or to any model)."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(replies)

    def slow_down(self, model: str, seconds: float) -> None:
        """Unscripted replies to ``model`` wait ``seconds`` first (until :meth:`reset`)."""
        with self._lock:
            self._slow[model] = seconds

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._slow.clear()
            self.requests.clear()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._scripts.values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, model: str | None) -> Reply:
        with self._lock:
            for key in (model, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
            return Reply(kind="default", delay_s=self._slow.get(model or "", 0.0))

    # --- responding ------------------------------------------------------------
    def _respond(
        self, h: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply, rec: RecordedRequest
    ) -> None:
        if reply.kind == "error":
            payload = {"error": {"message": reply.message, "type": "server_error", "code": str(reply.status)}}
            h._json(reply.status, payload)  # type: ignore[attr-defined]
            return
        if reply.kind == "malformed":
            data = b'{"id": "x", "choices": [ this is not json'
            h.send_response(200)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        messages = list(body.get("messages") or [])
        content = reply.content
        if reply.kind == "default":
            content = f"upstream {body.get('model')} says: {_last_user_text(messages)}"
        prompt, completion = default_usage(messages, content or json.dumps(reply.tool_calls))
        usage = {
            "prompt_tokens": reply.prompt_tokens if reply.prompt_tokens is not None else prompt,
            "completion_tokens": reply.completion_tokens
            if reply.completion_tokens is not None
            else completion,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        rec.usage = usage
        model = body.get("model")
        cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        if body.get("stream"):
            self._stream(h, cid, model, reply, content, usage)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content if reply.kind != "tool" else None}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        payload = {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": usage,
        }
        h._json(200, payload)  # type: ignore[attr-defined]

    @staticmethod
    def _chunks(reply: Reply, content: str) -> Iterator[str]:
        if reply.chunks is not None:
            yield from reply.chunks
            return
        words = content.split(" ")
        for i in range(0, len(words), 2):
            piece = " ".join(words[i : i + 2])
            yield piece if i == 0 else " " + piece

    def _stream(
        self,
        h: BaseHTTPRequestHandler,
        cid: str,
        model: Any,
        reply: Reply,
        content: str,
        usage: dict[str, int],
    ) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        h.end_headers()
        h.close_connection = True

        def send(
            delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None
        ) -> None:
            chunk = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if extra:
                chunk.update(extra)
            h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            h.wfile.flush()

        if reply.layout is not None:
            for spec in reply.layout:
                extra: dict[str, Any] = {"usage": usage} if spec.get("usage") else {}
                if spec.get("choices") is False:  # e.g. OpenAI's usage-only last chunk
                    extra["choices"] = []
                send(dict(spec.get("delta") or {}), spec.get("finish_reason"), extra)
            h.wfile.write(b"data: [DONE]\n\n")
            h.wfile.flush()
            return
        send({"role": "assistant", "content": ""})
        if reply.kind == "tool":
            for i, call in enumerate(reply.tool_calls):
                send({"tool_calls": [{"index": i, **call}]})
            send({}, "tool_calls")
        else:
            for piece in self._chunks(reply, content):
                send({"content": piece})
            send({}, "stop")
        final = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": usage,
        }
        h.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()
