"""A cached stream replays exactly what the first stream sent (issue 11, item 7).

Before: the replay lost a piece of text and repeated its tail (``…ships on
15663x10)15663x10)``) and replayed tool-call arguments were invalid JSON. The guardrails'
stream maskers moved held-back text between chunks in place, and LiteLLM assembles the
cache entry from the chunks it yielded. Each layout below is streamed on one instance and
replayed from the shared Redis cache on the other.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.harness.fake_upstream import FakeUpstream, layout
from tests.harness.gateway import GatewayProcess
from tests.reliability.conftest import Pair, new_key

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "track",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
            },
        },
    }
]


def _call(index: int, args: str, *, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if name is not None:
        call.update(id=f"call_{index}_{name}", type="function")
        call["function"]["name"] = name
    return call


LAYOUTS: dict[str, list[dict[str, Any]]] = {
    # An OpenAI-compatible upstream whose last chunk carries text, finish reason and usage.
    "text_and_usage_in_last_chunk": [
        {"delta": {"role": "assistant", "content": ""}},
        {"delta": {"content": "Your order"}},
        {"delta": {"content": " ships on"}},
        {"delta": {"content": " 15663x10)"}, "finish_reason": "stop", "usage": True},
    ],
    # OpenAI's own shape: leading-space tokens, a finish chunk, a usage-only chunk.
    "tokens_then_usage_chunk": [
        {"delta": {"role": "assistant"}},
        *({"delta": {"content": t}} for t in ["It", " ships", " on", " 15663", "x10", ").", " Thanks", "!"]),
        {"delta": {}, "finish_reason": "stop"},
        {"choices": False, "usage": True},
    ],
    # Tool-call arguments split mid-token over chunks; the last one carries finish and usage.
    "tool_call_deltas": [
        {"delta": {"role": "assistant", "content": None, "tool_calls": [_call(0, "", name="track")]}},
        {"delta": {"tool_calls": [_call(0, '{"q": "ship')]}},
        {"delta": {"tool_calls": [_call(0, 'ping 15663x10)", ')]}},
        {"delta": {"tool_calls": [_call(0, '"n": 3}')]}, "finish_reason": "tool_calls", "usage": True},
    ],
    # Text, then two tool calls interleaved.
    "text_then_two_tool_calls": [
        {"delta": {"role": "assistant", "content": "Checking both"}},
        {"delta": {"content": " orders 15663x10)"}},
        {"delta": {"tool_calls": [_call(0, '{"q": "A-1', name="track"), _call(1, '{"q": ', name="track")]}},
        {"delta": {"tool_calls": [_call(1, '"B-2", "n": 2}'), _call(0, '", "n": 1}')]}},
        {"delta": {}, "finish_reason": "tool_calls", "usage": True},
    ],
}


def _stream(
    gw: GatewayProcess, key: str, model: str, prompt: str, tools: bool = True
) -> tuple[str, dict[int, str], str]:
    """(content, tool-call arguments by index, x-gateway-cache) of one streamed request."""
    content, args = "", {}
    extra: dict[str, Any] = {"tools": TOOLS} if tools else {}
    with gw.client(key).chat.completions.with_streaming_response.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True, **extra
    ) as resp:
        cache = resp.headers.get("x-gateway-cache", "")
        for chunk in resp.parse():
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            content += delta.content or ""
            for call in delta.tool_calls or []:
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    return content, args, cache


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_cached_stream_replays_the_same_text_and_tool_calls(
    pair: Pair, fake_upstream: FakeUpstream, name: str
) -> None:
    a, b = pair
    key = new_key(a, f"cache-{name}")["key"]
    reply = layout(LAYOUTS[name])
    prompt = f"where is my order? ({name} {uuid.uuid4().hex[:8]})"
    fake_upstream.script(reply, model="gpt-4o-mini")

    first = _stream(a, key, "gpt-4o-mini", prompt)
    replay = _stream(b, key, "gpt-4o-mini", prompt)

    expected_args = {i: c["function"]["arguments"] for i, c in enumerate(reply.tool_calls)}
    assert (first[0], first[1], first[2]) == (reply.content, expected_args, "miss")
    assert (replay[0], replay[1], replay[2]) == (reply.content, expected_args, "hit")
    assert all(isinstance(json.loads(v), dict) for v in replay[1].values())
    assert len(fake_upstream.requests_for("gpt-4o-mini")) == 1


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_call"])
def test_a_cached_demo_model_stream_replays_the_same_answer(pair: Pair, tools: bool) -> None:
    a, b = pair
    key = new_key(a, "cache-demo")["key"]
    prompt = f"when does order {uuid.uuid4().hex[:6]} ship? on 15663x10)"
    if tools:
        prompt += ' [[tool:track {"q": "order ships on 15663x10)", "n": 2}]]'
    first = _stream(a, key, "demo", prompt, tools=tools)
    replay = _stream(b, key, "demo", prompt, tools=tools)
    assert first[2] == "miss" and replay[2] == "hit"
    assert "15663x10)" in (first[0] + "".join(first[1].values()))
    assert bool(first[1]) == tools  # with tools the demo model calls one
    assert (replay[0], replay[1]) == (first[0], first[1])
    assert all(isinstance(json.loads(v), dict) for v in replay[1].values())
