"""Every chat field and message slot with a value of the wrong type: never a 5xx.

A careless client (or a fuzzer) sends ``[]`` where an object goes, a number where a string
goes. Each must get a 4xx in OpenAI's error format (or be served, when the value is
harmless), never LiteLLM's 500 from deep inside a provider mapping. Found this way:
``response_format: []`` and a user content part ``{"type": "x"}``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

WRONG: list[Any] = [[], {}, "x", 5, -1, None, True, [1], {"type": "x"}, [{"type": "x"}]]
FIELDS = [
    "tool_choice",
    "tools",
    "functions",
    "function_call",
    "stop",
    "stream_options",
    "logit_bias",
    "seed",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "web_search_options",
    "parallel_tool_calls",
    "service_tier",
    "logprobs",
    "top_logprobs",
    "n",
    "user",
    "max_completion_tokens",
    "response_format",
]
BASE = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}


def _no_5xx(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert set(r.json()) == {"error"}, r.text[:300]


@pytest.mark.parametrize("field", FIELDS)
def test_chat_fields_of_the_wrong_type(raw: httpx.Client, field: str) -> None:
    for value in WRONG:
        for stream in (False, True):
            body = {**BASE, field: value, **({"stream": True} if stream else {})}
            _no_5xx(raw.post("/v1/chat/completions", json=body))


@pytest.mark.parametrize(
    "message",
    [
        *({"role": "user", "content": v} for v in WRONG),
        *({"role": "assistant", "content": None, "tool_calls": v} for v in WRONG),
        *({"role": "tool", "content": "x", "tool_call_id": v} for v in WRONG),
        *({"role": "user", "content": "x", "name": v} for v in WRONG),
    ],
)
def test_message_slots_of_the_wrong_type(raw: httpx.Client, message: dict[str, Any]) -> None:
    _no_5xx(raw.post("/v1/chat/completions", json={"model": "demo", "messages": [message]}))


@pytest.mark.parametrize(
    ("path", "field", "base"),
    [
        ("/v1/responses", "text", {"model": "demo", "input": "hi"}),
        ("/v1/responses", "tools", {"model": "demo", "input": "hi"}),
        ("/v1/responses", "reasoning", {"model": "demo", "input": "hi"}),
        ("/v1/embeddings", "input", {"model": "demo"}),
        (
            "/v1/messages",
            "tools",
            {"model": "demo", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        ),
    ],
)
def test_other_surfaces_fields_of_the_wrong_type(
    raw: httpx.Client, path: str, field: str, base: dict[str, Any]
) -> None:
    for value in WRONG:
        _no_5xx(raw.post(path, json={**base, field: value}))
