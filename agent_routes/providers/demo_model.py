"""The offline demo model: a deterministic, in-process stand-in for a chat model.

It is **not a real LLM**. It exists so the quickstart, the agents and the tests work
with no network and no provider keys. Served as LiteLLM custom provider ``demo``
(``model: demo/echo`` in ``config.yaml``), it answers, streams, and calls tools:

- no tools offered: it answers ``"[demo model] You said: <your last message>"``;
- tools offered and the last message is the user's: it calls one tool, the one named by
  a ``[[tool:NAME {json args}]]`` directive in the message if present, else the first
  tool, filling required string arguments from the user's text;
- the last message is a tool result: it answers from that result;
- ``response_format`` asks for JSON (``json_schema`` or ``json_object``; Responses
  ``text.format`` arrives as the same): it answers with deterministic JSON valid against
  the schema (strings carry the user's text), so SDK ``parse()`` helpers work offline.

It also embeds (``model: demo/embed``): deterministic unit vectors, the same text always
giving the same vector, for offline tests of embedding clients; they carry no meaning.

Usage is counted with LiteLLM's token counter, so cost and budgets behave as with a
real model priced in ``model_info``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.types.utils import EmbeddingResponse, GenericStreamingChunk, ModelResponse, Usage

from agent_routes.runtime.structured import example_for, requested_format

__all__ = ["DEMO_EMBED_DIM", "DemoModel", "DemoReply", "demo_embedding", "demo_model", "plan_reply"]

_DIRECTIVE = re.compile(r"\[\[tool:(?P<name>[A-Za-z0-9_\-]+)(?:\s+(?P<args>\{.*?\}))?\]\]", re.S)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PREFIX = "[demo model]"


@dataclass(frozen=True)
class DemoReply:
    """What the demo model decided to say: text, or one tool call."""

    text: str = ""
    tool_name: str | None = None
    tool_args: str = "{}"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _tool_name(tool: dict[str, Any]) -> str:
    return str((tool.get("function") or {}).get("name") or tool.get("name") or "")


def _fill_args(tool: dict[str, Any], user_text: str) -> dict[str, Any]:
    params = (tool.get("function") or {}).get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required: Sequence[str] = params.get("required") or list(props)
    args: dict[str, Any] = {}
    email = _EMAIL.search(user_text)
    for name in required:
        kind = (props.get(name) or {}).get("type", "string")
        if kind == "string":
            if email is not None and name in {"to", "email", "recipient"}:
                args[name] = email.group(0)
            else:
                args[name] = user_text[:200]
        elif kind in {"integer", "number"}:
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        else:
            args[name] = {}
    return args


def _json_reply(response_format: Any, text: str) -> DemoReply | None:
    fmt = requested_format(response_format)
    if fmt is None:
        return None
    if fmt.schema is None:
        return DemoReply(text=json.dumps({"answer": text}, ensure_ascii=False))
    return DemoReply(text=json.dumps(example_for(fmt.schema, text[:80]), ensure_ascii=False))


def _forced_tool(tools: Sequence[dict[str, Any]] | None, tool_choice: Any) -> dict[str, Any] | None:
    if not tools or not isinstance(tool_choice, dict):
        return None
    name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    return next((t for t in tools if _tool_name(t) == name), None)


def plan_reply(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None,
    response_format: Any = None,
    tool_choice: Any = None,
) -> DemoReply:
    """Decide the demo model's reply; pure, so it is easy to test.

    ``tool_choice`` ``"none"`` answers in text; a named tool (``{"type": "function",
    "function": {"name": ...}}``) is called with arguments valid against its schema.
    """
    if tool_choice == "none":
        tools = None
    forced = _forced_tool(tools, tool_choice)
    last = messages[-1] if messages else {"role": "user", "content": ""}
    if last.get("role") == "tool":
        tool_text = f"{_PREFIX} From the tool result: {_text_of(last.get('content'))[:400]}"
        return _json_reply(response_format, tool_text) or DemoReply(text=tool_text)
    user_text = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    ).strip()
    if forced is not None:
        params = (forced.get("function") or {}).get("parameters") or forced.get("parameters") or {}
        clean = _DIRECTIVE.sub("", user_text).strip()[:80]
        return DemoReply(tool_name=_tool_name(forced), tool_args=json.dumps(example_for(params, clean)))
    if tools:
        by_name = {_tool_name(t): t for t in tools}
        directive = _DIRECTIVE.search(user_text)
        if directive is not None and directive.group("name") in by_name:
            args = directive.group("args") or json.dumps(_fill_args(by_name[directive.group("name")], ""))
            return DemoReply(tool_name=directive.group("name"), tool_args=args)
        first = tools[0]
        clean = _DIRECTIVE.sub("", user_text).strip()
        return DemoReply(tool_name=_tool_name(first), tool_args=json.dumps(_fill_args(first, clean)))
    return _json_reply(response_format, user_text) or DemoReply(text=f"{_PREFIX} You said: {user_text[:400]}")


def _usage(messages: Sequence[dict[str, Any]], reply: DemoReply) -> tuple[int, int]:
    prompt = litellm.token_counter(model="gpt-4o-mini", messages=list(messages))
    out_text = reply.text or f"{reply.tool_name}{reply.tool_args}"
    completion = max(1, litellm.token_counter(model="gpt-4o-mini", text=out_text))
    return prompt, completion


class DemoModel(CustomLLM):
    """LiteLLM custom provider serving :func:`plan_reply` (non-streaming and streaming)."""

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        messages: list[dict[str, Any]] = kwargs.get("messages") or []
        optional: dict[str, Any] = kwargs.get("optional_params") or {}
        reply = plan_reply(
            messages, optional.get("tools"), optional.get("response_format"), optional.get("tool_choice")
        )
        prompt, completion = _usage(messages, reply)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        finish = "stop"
        if reply.tool_name is not None:
            finish = "tool_calls"
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.tool_args},
                }
            ]
        return ModelResponse(
            model=kwargs.get("model") or "echo",
            created=int(time.time()),
            choices=[{"index": 0, "message": message, "finish_reason": finish}],
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        )

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        messages: list[dict[str, Any]] = kwargs.get("messages") or []
        optional: dict[str, Any] = kwargs.get("optional_params") or {}
        reply = plan_reply(
            messages, optional.get("tools"), optional.get("response_format"), optional.get("tool_choice")
        )
        prompt, completion = _usage(messages, reply)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if reply.tool_name is not None:
            yield {
                "text": "",
                "tool_use": {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.tool_args},
                    "index": 0,
                },
                "is_finished": True,
                "finish_reason": "tool_calls",
                "usage": usage,  # type: ignore[typeddict-item]
                "index": 0,
            }
            return
        words = reply.text.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield {
                "text": word if i == 0 else " " + word,
                "tool_use": None,
                "is_finished": last,
                "finish_reason": "stop" if last else "",
                "usage": usage if last else None,  # type: ignore[typeddict-item]
                "index": 0,
            }

    async def aembedding(  # type: ignore[override]
        self, model: str, input: list, model_response: EmbeddingResponse, *args: Any, **kwargs: Any
    ) -> EmbeddingResponse:
        """Deterministic unit vectors (``DEMO_EMBED_DIM`` floats per text), not semantic."""
        return self.embedding(model, input, model_response)

    def embedding(  # type: ignore[override]
        self, model: str, input: list, model_response: EmbeddingResponse, *args: Any, **kwargs: Any
    ) -> EmbeddingResponse:
        texts = [input] if isinstance(input, str) else list(input)
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": demo_embedding(str(t))}
            for i, t in enumerate(texts)
        ]
        model_response.model = model
        prompt = sum(max(1, litellm.token_counter(model="gpt-4o-mini", text=str(t))) for t in texts)
        model_response.usage = Usage(prompt_tokens=prompt, completion_tokens=0, total_tokens=prompt)
        return model_response


DEMO_EMBED_DIM = 64


def demo_embedding(text: str, dim: int = DEMO_EMBED_DIM) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector; not semantic)."""
    raw = b""
    counter = 0
    while len(raw) < dim * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [int.from_bytes(raw[i * 4 : i * 4 + 4], "big") / 2**31 - 1.0 for i in range(dim)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


demo_model = DemoModel()
