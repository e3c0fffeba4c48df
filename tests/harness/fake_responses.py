"""The fake upstream's OpenAI Responses API (``POST /v1/responses``), plain and streamed.

LiteLLM speaks the Responses API natively to OpenAI deployments, so a gateway test of
``/v1/responses`` needs an upstream that answers in that format. Scripted replies are
the same :class:`~tests.harness.fake_upstream.Reply` objects as for chat completions;
an unscripted call echoes the last user text of ``input``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["last_input_text", "respond"]


def last_input_text(body: dict[str, Any]) -> str:
    """The last user text of a Responses ``input`` (string or item list)."""
    value = body.get("input")
    if isinstance(value, str):
        return value
    for item in reversed(value if isinstance(value, list) else []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _response(rid: str, model: Any, output: list[dict[str, Any]], usage: dict[str, int], status: str) -> dict:
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def respond(
    h: BaseHTTPRequestHandler, body: dict[str, Any], reply: Any, chunker: Callable[[Any, str], Iterator[str]]
) -> dict:
    """Answer ``body`` with ``reply`` (text only); returns the usage it reported."""
    content = reply.content if reply.kind != "default" else f"upstream says: {last_input_text(body)}"
    words = len(json.dumps(body.get("input") or "").split())
    usage = {"input_tokens": words, "output_tokens": max(1, len(content.split()))}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    rid = f"resp_{uuid.uuid4().hex[:16]}"
    model = body.get("model")
    if not body.get("stream"):
        data = json.dumps(_response(rid, model, [_message(content)], usage, "completed")).encode()
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        return usage
    h.send_response(200)
    h.send_header("content-type", "text/event-stream")
    h.send_header("connection", "close")
    h.end_headers()
    h.close_connection = True
    seq = iter(range(1_000_000))

    def send(event: dict[str, Any]) -> None:
        event["sequence_number"] = next(seq)
        h.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        h.wfile.flush()

    msg = _message("")
    item_id = msg["id"]
    send({"type": "response.created", "response": _response(rid, model, [], usage, "in_progress")})
    send({"type": "response.output_item.added", "output_index": 0, "item": {**msg, "content": []}})
    part = {"type": "output_text", "text": "", "annotations": []}
    send(
        {
            "type": "response.content_part.added",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": part,
        }
    )
    for piece in chunker(reply, content):
        send(
            {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
        )
    send(
        {
            "type": "response.output_text.done",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "text": content,
        }
    )
    done_part = {**part, "text": content}
    send(
        {
            "type": "response.content_part.done",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": done_part,
        }
    )
    final = _message(content)
    final["id"] = item_id
    send({"type": "response.output_item.done", "output_index": 0, "item": final})
    send({"type": "response.completed", "response": _response(rid, model, [final], usage, "completed")})
    return usage
