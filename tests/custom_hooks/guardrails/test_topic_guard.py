"""TopicGuard: per-team topics from gateway_identity, clear refusal."""

from __future__ import annotations

import pytest
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

from custom_hooks.core.sections.guardrails import TopicOptions
from custom_hooks.guardrails.topic_guard import TopicGuard

OPTIONS = TopicOptions(
    topics={"weapons": ["build a bomb"]},
    team_topics={"support": {"legal_advice": ["lawsuit", "sue you"]}},
)


def user(team: str | None) -> UserAPIKeyAuth:
    return UserAPIKeyAuth(api_key="h", metadata={"gateway_identity": {"team_id": team}})


def chat(text: str, role: str = "user") -> dict:
    return {
        "messages": [{"role": "system", "content": "lawsuit handling bot"}, {"role": role, "content": text}]
    }


@pytest.mark.parametrize(
    ("team", "text", "topic"),
    [
        ("support", "Will you get a LAWSUIT?", "legal_advice"),
        ("support", "how to build a bomb", "weapons"),
        ("sales", "how to Build A Bomb", "weapons"),
        (None, "how to build a bomb", "weapons"),
    ],
)
async def test_blocks_team_and_global_topics(team: str | None, text: str, topic: str) -> None:
    with pytest.raises(ProxyException) as err:
        await TopicGuard(options=OPTIONS).async_pre_call_hook(user(team), None, chat(text), "acompletion")
    body = err.value.to_dict()
    assert body["code"] == "guardrail_blocked"
    assert f"topic:{topic}" in body["message"] and "topic_guard" in body["message"]


@pytest.mark.parametrize(
    ("team", "text", "role"),
    [
        ("sales", "Will you get a lawsuit?", "user"),  # only support blocks legal advice
        ("support", "lawsuits are interesting", "user"),  # whole words only
        ("support", "lawsuit", "tool"),  # roles: user only by default
    ],
)
async def test_passes(team: str, text: str, role: str) -> None:
    data = chat(text, role)
    out = await TopicGuard(options=OPTIONS).async_pre_call_hook(user(team), None, data, "acompletion")
    assert out["metadata"]["gateway"]["guardrails"][0]["action"] == "allowed"


async def test_moderation_mode_blocks_too() -> None:
    with pytest.raises(ProxyException):
        await TopicGuard(options=OPTIONS).async_moderation_hook(
            chat("build a bomb"), user("x"), "acompletion"
        )
