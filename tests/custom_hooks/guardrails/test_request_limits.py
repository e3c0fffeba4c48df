"""RequestLimits: messages and input tokens per request, per tier."""

from __future__ import annotations

import pytest
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

from custom_hooks.core.sections.guardrails import LimitsOptions, TierLimit
from custom_hooks.guardrails.request_limits import RequestLimits

OPTIONS = LimitsOptions(
    default=TierLimit(max_input_tokens=1000, max_messages=10),
    tiers={"free": TierLimit(max_input_tokens=50, max_messages=3)},
)


def user(tier: str | None) -> UserAPIKeyAuth:
    return UserAPIKeyAuth(api_key="h", metadata={"gateway_identity": {"tier": tier}})


def chat(n: int, words: int = 3) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello " * words}] * n}


@pytest.mark.parametrize(
    ("tier", "data", "entity"),
    [
        ("free", chat(4), "max_messages"),
        ("free", chat(1, words=200), "max_input_tokens"),
        (None, chat(11), "max_messages"),
        ("pro", chat(1, words=2000), "max_input_tokens"),  # unknown tier: default limits
    ],
)
async def test_rejects_over_limit(tier: str | None, data: dict, entity: str) -> None:
    with pytest.raises(ProxyException) as err:
        await RequestLimits(options=OPTIONS).async_pre_call_hook(user(tier), None, data, "acompletion")
    body = err.value.to_dict()
    assert body["code"] == "guardrail_blocked" and entity in body["message"]
    assert data["metadata"]["gateway"]["guardrails"][-1]["entity"] == entity


@pytest.mark.parametrize(
    ("tier", "data"), [("free", chat(3)), (None, chat(10, words=20)), ("free", chat(1, 40))]
)
async def test_allows_within_limit(tier: str | None, data: dict) -> None:
    out = await RequestLimits(options=OPTIONS).async_pre_call_hook(user(tier), None, data, "acompletion")
    assert out["metadata"]["gateway"]["guardrails"][0]["action"] == "allowed"


def test_tier_overrides_field_by_field() -> None:
    opts = LimitsOptions(
        default=TierLimit(max_input_tokens=100, max_messages=5), tiers={"x": TierLimit(max_messages=9)}
    )
    assert opts.for_tier("x") == TierLimit(max_input_tokens=100, max_messages=9)


@pytest.mark.parametrize(
    ("call_type", "data", "entity"),
    [
        ("aresponses", {"input": [{"role": "user", "content": "hi"}] * 4}, "max_messages"),
        ("aresponses", {"instructions": "hello " * 200, "input": "hi"}, "max_input_tokens"),
        (
            "anthropic_messages",
            {
                "system": [{"type": "text", "text": "hello " * 200}],
                "messages": [{"role": "user", "content": "hi"}],
            },
            "max_input_tokens",
        ),
        (
            "acompletion",
            {
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "f", "description": "hello " * 200}}],
            },
            "max_input_tokens",
        ),
    ],
)
async def test_other_surfaces_count_every_slot(call_type: str, data: dict, entity: str) -> None:
    with pytest.raises(ProxyException) as err:
        await RequestLimits(options=OPTIONS).async_pre_call_hook(user("free"), None, data, call_type)
    assert entity in err.value.to_dict()["message"]


async def test_responses_input_over_the_byte_bound_but_under_the_token_limit_passes() -> None:
    data = {"model": "gpt-4o-mini", "input": "hello " * 20}  # 120 bytes, about 20 tokens; free allows 50
    out = await RequestLimits(options=OPTIONS).async_pre_call_hook(user("free"), None, data, "aresponses")
    assert out["metadata"]["gateway"]["guardrails"][-1]["action"] == "allowed"
