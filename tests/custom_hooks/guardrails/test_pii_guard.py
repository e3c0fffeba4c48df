"""PiiGuard hooks: masking in every message part, blocking, reversible restore (plain and streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.types.utils import Delta, ModelResponse, ModelResponseStream, StreamingChoices

from custom_hooks.core.sections.guardrails import PiiOptions
from custom_hooks.guardrails.base import VAULT, VAULT_KEY
from custom_hooks.guardrails.pii_guard import PiiGuard

# Built explicitly: the shipped config (agent model names, guardrail options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")

USER = UserAPIKeyAuth(api_key="hash", metadata={"gateway_identity": {"team_id": "t1", "tier": "pro"}})
EMAIL = "jane.doe@example.com"


def request() -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "litellm_call_id": "call-1",
        "messages": [
            {"role": "system", "content": "Support bot. Escalations go to 10.1.2.3."},
            {
                "role": "user",
                "content": [{"type": "text", "text": f"I am {EMAIL}, card 4111 1111 1111 1111"}],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "1",
                        "type": "function",
                        "function": {"name": "crm", "arguments": f'{{"email": "{EMAIL}"}}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "1", "content": f"Customer {EMAIL}, phone +1 415 555 2671"},
        ],
    }


async def test_masks_every_part_consistently_and_records_without_content() -> None:
    guard = PiiGuard(options=PiiOptions(reversible=False))
    data = request()
    out = await guard.async_pre_call_hook(USER, None, data, "acompletion")
    msgs = out["messages"]
    assert msgs[0]["content"] == "Support bot. Escalations go to [IP_1]."
    assert msgs[1]["content"][0]["text"] == "I am [EMAIL_1], card [CARD_1]"
    assert msgs[2]["tool_calls"][0]["function"]["arguments"] == '{"email": "[EMAIL_1]"}'
    assert msgs[3]["content"] == "Customer [EMAIL_1], phone [PHONE_1]"
    decisions = out["metadata"]["gateway"]["guardrails"]
    assert {(d["entity"], d["action"], d["count"]) for d in decisions} == {
        ("email", "masked", 3),
        ("credit_card", "masked", 1),
        ("ip_address", "masked", 1),
        ("phone", "masked", 1),
    }
    assert {(d["guardrail"], d["phase"]) for d in decisions} == {("pii_guard", "input")}
    assert all(set(d) == {"guardrail", "entity", "action", "count", "phase"} for d in decisions)
    assert EMAIL not in str(out["metadata"])
    assert VAULT_KEY not in out["metadata"]  # not reversible: nothing kept


async def test_block_action_rejects_without_echoing() -> None:
    guard = PiiGuard(options=PiiOptions(entities={"credit_card": "block", "email": "mask"}))
    data = request()
    with pytest.raises(ProxyException) as err:
        await guard.async_pre_call_hook(USER, None, data, "acompletion")
    body = err.value.to_dict()
    assert err.value.code == "400" and body["code"] == "guardrail_blocked"
    assert "credit_card" in body["message"] and "pii_guard" in body["message"]
    assert "4111" not in str(body)
    assert data["metadata"]["gateway"]["guardrails"][-1]["action"] == "blocked"


async def test_allow_leaves_entity_untouched() -> None:
    guard = PiiGuard(options=PiiOptions(entities={"email": "allow"}))
    data = {"messages": [{"role": "user", "content": f"mail {EMAIL} from 10.0.0.1"}]}
    out = await guard.async_pre_call_hook(USER, None, data, "acompletion")
    assert out["messages"][0]["content"] == f"mail {EMAIL} from 10.0.0.1"
    assert out["metadata"]["gateway"]["guardrails"][0]["action"] == "allowed"


async def test_client_cannot_plant_a_vault_id() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = {"messages": [{"role": "user", "content": "hello"}], "metadata": {VAULT_KEY: "guess"}}
    out = await guard.async_pre_call_hook(USER, None, data, "acompletion")
    assert VAULT_KEY not in out["metadata"]


async def test_reversible_masking_restores_in_the_answer_and_masks_new_pii() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = await guard.async_pre_call_hook(USER, None, request(), "acompletion")
    vault_id = data["metadata"][VAULT_KEY]
    response = ModelResponse(
        choices=[
            {"message": {"role": "assistant", "content": "Wrote to [EMAIL_1]; also cc boss@corp.example"}}
        ]
    )
    out = await guard.async_post_call_success_hook(data, USER, response)
    assert out.choices[0].message.content == f"Wrote to {EMAIL}; also cc [EMAIL_REDACTED]"
    assert VAULT.get(vault_id, "call-1") is None  # dropped once restored
    output = [d for d in data["metadata"]["gateway"]["guardrails"] if d["phase"] == "output"]
    assert {(d["entity"], d["action"]) for d in output} == {("placeholder", "restored"), ("email", "masked")}


async def test_vault_is_bound_to_the_call_id() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = await guard.async_pre_call_hook(USER, None, request(), "acompletion")
    data["litellm_call_id"] = "someone-else"
    response = ModelResponse(choices=[{"message": {"role": "assistant", "content": "[EMAIL_1]"}}])
    out = await guard.async_post_call_success_hook(data, USER, response)
    assert out.choices[0].message.content == "[EMAIL_1]"


def _chunk(content: str | None, finish: str | None = None) -> ModelResponseStream:
    return ModelResponseStream(
        id="s", choices=[StreamingChoices(index=0, delta=Delta(content=content), finish_reason=finish)]
    )


async def _upstream(text: str, size: int) -> AsyncIterator[ModelResponseStream]:
    for i in range(0, len(text), size):
        yield _chunk(text[i : i + size])
    yield _chunk(None, "stop")


@pytest.mark.parametrize("size", [1, 3, 8])
async def test_streamed_placeholder_split_across_chunks_is_restored(size: int) -> None:
    guard = PiiGuard(options=PiiOptions(), holdback=64)
    data = await guard.async_pre_call_hook(USER, None, request(), "acompletion")
    answer = "Sure, [EMAIL_1] is on file and your card [CARD_1] too. Anything else?"
    chunks = [
        c async for c in guard.async_post_call_streaming_iterator_hook(USER, _upstream(answer, size), data)
    ]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == answer.replace("[EMAIL_1]", EMAIL).replace("[CARD_1]", "4111 1111 1111 1111")
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_in_process_agent_requests_are_not_masked() -> None:
    guard = PiiGuard(options=PiiOptions(), in_process=frozenset({"support"}))
    data = {"model": "support", "messages": [{"role": "user", "content": f"email {EMAIL} the refund"}]}
    out = await guard.async_pre_call_hook(USER, None, data, "acompletion")
    assert out["messages"][0]["content"] == f"email {EMAIL} the refund"
    assert VAULT_KEY not in out["metadata"]


async def test_an_agents_answer_is_not_masked_again_a_plain_models_is() -> None:
    # An approval names the real recipient to the caller; the agent's LLM calls were masked
    # when each came back through the gateway.
    guard = PiiGuard(options=PiiOptions(), in_process=frozenset({"approvals"}))
    text = f'Approval needed: send_email. Arguments: {{"to": "{EMAIL}"}}'
    for model, expected in (("approvals", text), ("gpt-4o-mini", text.replace(EMAIL, "[EMAIL_REDACTED]"))):
        response = ModelResponse(choices=[{"message": {"role": "assistant", "content": text}}])
        out = await guard.async_post_call_success_hook({"model": model}, USER, response)
        assert out.choices[0].message.content == expected, model
        streamed = guard.async_post_call_streaming_iterator_hook(USER, _upstream(text, 5), {"model": model})
        assert "".join([c.choices[0].delta.content or "" async for c in streamed]) == expected, model


def test_agent_models_come_from_the_shipped_config() -> None:
    from custom_hooks.core.sections.guardrails import in_process_models

    assert "default" not in in_process_models()


async def test_tool_call_arguments_are_restored_not_masked() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = await guard.async_pre_call_hook(USER, None, request(), "acompletion")
    args = '{"to": "[EMAIL_1]", "cc": "boss@corp.example"}'
    response = ModelResponse(
        choices=[
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "t", "type": "function", "function": {"name": "send", "arguments": args}}
                    ],
                }
            }
        ]
    )
    out = await guard.async_post_call_success_hook(data, USER, response)
    assert out.choices[0].message.tool_calls[0].function.arguments == (
        f'{{"to": "{EMAIL}", "cc": "boss@corp.example"}}'
    )


def _tool_chunk(
    index: int, args: str, name: str | None = None, finish: str | None = None
) -> ModelResponseStream:
    call = {
        "index": index,
        "function": {"arguments": args, "name": name},
        "type": "function" if name else None,
    }
    if name:
        call["id"] = f"call_{index}"
    return ModelResponseStream(
        id="s",
        choices=[
            StreamingChoices(index=0, delta=Delta(content=None, tool_calls=[call]), finish_reason=finish)
        ],
    )


@pytest.mark.parametrize("size", [2, 5])
async def test_streamed_tool_arguments_restore_split_placeholders(size: int) -> None:
    guard = PiiGuard(options=PiiOptions(), holdback=64)
    data = await guard.async_pre_call_hook(USER, None, request(), "acompletion")
    args = '{"to": "[EMAIL_1]", "body": "hi"}'

    async def upstream() -> AsyncIterator[ModelResponseStream]:
        yield _tool_chunk(0, "", name="send_email")
        for i in range(0, len(args), size):
            yield _tool_chunk(0, args[i : i + size])
        yield ModelResponseStream(
            id="s", choices=[StreamingChoices(index=0, delta=Delta(content=None), finish_reason="tool_calls")]
        )

    chunks = [c async for c in guard.async_post_call_streaming_iterator_hook(USER, upstream(), data)]
    joined = "".join(
        tc.function.arguments or "" for c in chunks for tc in (c.choices[0].delta.tool_calls or [])
    )
    assert joined == args.replace("[EMAIL_1]", EMAIL)
    assert chunks[0].choices[0].delta.tool_calls[0].function.name == "send_email"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_decisions_are_logged_without_content(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="gateway.guardrails")
    await PiiGuard(options=PiiOptions()).async_pre_call_hook(USER, None, request(), "acompletion")
    assert '"event":"guardrail_decision"' in caplog.text and '"entity":"email"' in caplog.text
    assert EMAIL not in caplog.text and "4111" not in caplog.text
