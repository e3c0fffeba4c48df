"""SecretsGuard hooks: block or mask in requests, mask in answers (streamed too)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.types.utils import Delta, ModelResponse, ModelResponseStream, StreamingChoices

from custom_hooks.core.sections.guardrails import SecretsOptions
from custom_hooks.guardrails.secrets_guard import SecretsGuard

USER = UserAPIKeyAuth(api_key="hash")
AWS = "AKIAIOSFODNN7EXAMPLE"
KEY = "sk-proj-aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"


async def test_blocks_by_default_without_echoing_the_secret() -> None:
    guard = SecretsGuard(options=SecretsOptions())
    data = {"messages": [{"role": "tool", "content": f"config: aws={AWS}"}]}
    with pytest.raises(ProxyException) as err:
        await guard.async_pre_call_hook(USER, None, data, "acompletion")
    body = err.value.to_dict()
    assert body["code"] == "guardrail_blocked" and "aws_access_key" in body["message"]
    assert AWS not in str(body) and AWS not in str(data["metadata"])


async def test_mask_action_and_per_entity_override() -> None:
    guard = SecretsGuard(options=SecretsOptions(action="mask", entities={"jwt": "allow"}))
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop"
    data = {"messages": [{"role": "user", "content": f"use {KEY} and {jwt}"}]}
    out = await guard.async_pre_call_hook(USER, None, data, "acompletion")
    assert out["messages"][0]["content"] == f"use [REDACTED_OPENAI_KEY] and {jwt}"
    (decision,) = out["metadata"]["gateway"]["guardrails"]
    assert (decision["entity"], decision["action"]) == ("openai_key", "masked")


async def test_answer_secrets_are_masked() -> None:
    guard = SecretsGuard(options=SecretsOptions())
    response = ModelResponse(choices=[{"message": {"role": "assistant", "content": f"Your key is {KEY}."}}])
    data: dict = {}
    out = await guard.async_post_call_success_hook(data, USER, response)
    assert out.choices[0].message.content == "Your key is [REDACTED_OPENAI_KEY]."
    assert data["metadata"]["gateway"]["guardrails"][0]["phase"] == "output"


async def _upstream(text: str, size: int) -> AsyncIterator[ModelResponseStream]:
    for i in range(0, len(text), size):
        yield ModelResponseStream(
            choices=[StreamingChoices(index=0, delta=Delta(content=text[i : i + size]))]
        )
    yield ModelResponseStream(
        choices=[StreamingChoices(index=0, delta=Delta(content=None), finish_reason="stop")]
    )


@pytest.mark.parametrize("size", [1, 2, 5, 13])
async def test_streamed_secret_split_over_chunks_never_leaks(size: int) -> None:
    guard = SecretsGuard(options=SecretsOptions(), holdback=64)
    answer = f"Here: {KEY} and {AWS}. Keep them safe, they are secrets of your account."
    data: dict = {}
    sent = []
    async for chunk in guard.async_post_call_streaming_iterator_hook(USER, _upstream(answer, size), data):
        sent.append(chunk.choices[0].delta.content or "")
    joined = "".join(sent)
    assert joined == answer.replace(KEY, "[REDACTED_OPENAI_KEY]").replace(AWS, "[REDACTED_AWS_ACCESS_KEY]")
    assert not any(KEY[:12] in s or AWS[:10] in s for s in sent)
    entries = data["metadata"]["gateway"]["guardrails"]
    assert {(e["entity"], e["count"]) for e in entries} == {("openai_key", 1), ("aws_access_key", 1)}
