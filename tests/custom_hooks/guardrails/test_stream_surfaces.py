"""Answers of /v1/responses and /v1/messages: placeholders restored and secrets masked,
plain and streamed, with entities split over events and SSE bytes split anywhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.llms.openai import (
    ContentPartDoneEvent,
    FunctionCallArgumentsDeltaEvent,
    FunctionCallArgumentsDoneEvent,
    OutputItemDoneEvent,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
    ResponseCompletedEvent,
    ResponsesAPIResponse,
)

from custom_hooks.core.sections.guardrails import PiiOptions, SecretsOptions
from custom_hooks.guardrails.pii_guard import PiiGuard
from custom_hooks.guardrails.secrets_guard import SecretsGuard

# Built explicitly: the shipped config (agent model names, guardrail options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")

USER = UserAPIKeyAuth(api_key="hash")
EMAIL = "jane.doe@example.com"
AWS = "AKIAIOSFODNN7EXAMPLE"


async def _masked_request(guard: PiiGuard, call_type: str) -> dict[str, Any]:
    data: dict[str, Any] = {"litellm_call_id": "call-s", "input": f"I am {EMAIL}", "messages": []}
    if call_type == "anthropic_messages":
        data = {"litellm_call_id": "call-s", "messages": [{"role": "user", "content": f"I am {EMAIL}"}]}
    out = await guard.async_pre_call_hook(USER, None, data, call_type)
    assert EMAIL not in json.dumps(out.get("input")) + json.dumps(out.get("messages"))
    return out


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _response(text: str, args: str) -> ResponsesAPIResponse:
    return ResponsesAPIResponse(
        id="resp_1",
        object="response",
        created_at=1,
        status="completed",
        model="m",
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        output=[
            {
                "type": "message",
                "id": "m1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "f1",
                "call_id": "c",
                "name": "mail",
                "arguments": args,
                "status": "completed",
            },
        ],
    )


def _responses_stream(pieces: list[str], arg_pieces: list[str]) -> list[Any]:
    text, args = "".join(pieces), "".join(arg_pieces)
    ev: list[Any] = []
    for p in pieces:
        ev.append(
            OutputTextDeltaEvent(
                type="response.output_text.delta",
                item_id="m1",
                output_index=0,
                content_index=0,
                delta=p,
                sequence_number=len(ev),
            )
        )
    ev.append(
        OutputTextDoneEvent(
            type="response.output_text.done",
            item_id="m1",
            output_index=0,
            content_index=0,
            text=text,
            sequence_number=len(ev),
        )
    )
    ev.append(
        ContentPartDoneEvent(
            type="response.content_part.done",
            item_id="m1",
            output_index=0,
            content_index=0,
            part={"type": "output_text", "text": text, "annotations": [], "logprobs": None},
            sequence_number=len(ev),
        )
    )
    for p in arg_pieces:
        ev.append(
            FunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id="f1",
                output_index=1,
                delta=p,
                sequence_number=len(ev),
            )
        )
    ev.append(
        FunctionCallArgumentsDoneEvent(
            type="response.function_call_arguments.done",
            item_id="f1",
            output_index=1,
            arguments=args,
            sequence_number=len(ev),
        )
    )
    ev.append(
        OutputItemDoneEvent(
            type="response.output_item.done",
            output_index=0,
            item={
                "type": "message",
                "id": "m1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            },
            sequence_number=len(ev),
        )
    )
    ev.append(
        ResponseCompletedEvent(
            type="response.completed", response=_response(text, args), sequence_number=len(ev)
        )
    )
    return ev


def _texts(events: list[Any]) -> dict[str, Any]:
    def of(t: str, name: str) -> list[Any]:
        return [getattr(e, name) for e in events if str(getattr(e.type, "value", e.type)) == t]

    completed = of("response.completed", "response")[0]
    return {
        "deltas": of("response.output_text.delta", "delta"),
        "done": of("response.output_text.done", "text"),
        "part": [p["text"] for p in of("response.content_part.done", "part")],
        "args": "".join(of("response.function_call_arguments.delta", "delta")),
        "args_done": of("response.function_call_arguments.done", "arguments"),
        "item": [i.content[0]["text"] for i in of("response.output_item.done", "item")],
        "completed": (completed.output[0].content[0].text, completed.output[1].arguments),
    }


async def test_responses_stream_restores_placeholders_split_over_events() -> None:
    guard = PiiGuard(options=PiiOptions(), holdback=64)
    data = await _masked_request(guard, "aresponses")
    events = _responses_stream(["Mail sent to [EM", "AIL", "_1] today."], ['{"to": "[EMAIL', '_1]"}'])
    out = [e async for e in guard.async_post_call_streaming_iterator_hook(USER, _aiter(events), data)]
    got = _texts(out)
    text, args = f"Mail sent to {EMAIL} today.", f'{{"to": "{EMAIL}"}}'
    assert "".join(got["deltas"]) == text
    assert not any("[EM" in d for d in got["deltas"])
    assert got["done"] == [text] and got["part"] == [text] and got["item"] == [text]
    assert got["args"] == args and got["args_done"] == [args]
    assert got["completed"] == (text, args)
    kinds = [str(getattr(e.type, "value", e.type)) for e in out]
    assert kinds.index("response.output_text.done") > max(
        i for i, k in enumerate(kinds) if k.endswith("text.delta")
    )


async def test_responses_stream_masks_a_secret_split_over_events() -> None:
    guard = SecretsGuard(options=SecretsOptions(), holdback=64)
    events = _responses_stream(["key: ", AWS[:4], AWS[4:11], AWS[11:], " ok"], ['{"k": "', AWS, '"}'])
    out = [e async for e in guard.async_post_call_streaming_iterator_hook(USER, _aiter(events), {})]
    got = _texts(out)
    assert "".join(got["deltas"]) == "key: [REDACTED_AWS_ACCESS_KEY] ok"
    assert not any(AWS[:4] in d for d in got["deltas"])
    assert AWS not in json.dumps([e.model_dump() for e in out], default=str)
    assert got["completed"][0] == "key: [REDACTED_AWS_ACCESS_KEY] ok"


async def test_responses_plain_answer_is_restored() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = await _masked_request(guard, "aresponses")
    out = await guard.async_post_call_success_hook(
        data, USER, _response("Hi [EMAIL_1]", '{"to": "[EMAIL_1]"}')
    )
    assert out.output[0].content[0].text == f"Hi {EMAIL}"
    assert out.output[1].arguments == f'{{"to": "{EMAIL}"}}'


async def test_anthropic_plain_answer_is_restored_and_masked() -> None:
    guard = PiiGuard(options=PiiOptions())
    data = await _masked_request(guard, "anthropic_messages")
    answer = {
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Hi [EMAIL_1], also bob@corp.example.org"},
            {"type": "tool_use", "id": "t", "name": "mail", "input": {"to": ["[EMAIL_1]"]}},
        ],
    }
    out = await guard.async_post_call_success_hook(data, USER, answer)
    assert out["content"][0]["text"] == f"Hi {EMAIL}, also [EMAIL_REDACTED]"
    assert out["content"][1]["input"] == {"to": [EMAIL]}
    secret = {"type": "message", "content": [{"type": "tool_use", "input": {"k": AWS}}]}
    masked = await SecretsGuard(options=SecretsOptions()).async_post_call_success_hook({}, USER, secret)
    assert masked["content"][0]["input"] == {"k": "[REDACTED_AWS_ACCESS_KEY]"}


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _anthropic_stream(pieces: list[str], json_pieces: list[str]) -> bytes:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "msg", "type": "message", "role": "assistant", "content": []},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
            for p in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t", "name": "m", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
            for p in json_pieces
        ),
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    return b"".join(_sse(e) for e in events)


def _events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in raw.split(b"\n\n"):
        lines = frame.split(b"\n")
        if not frame.strip():
            continue
        assert lines[0].startswith(b"event: ")
        event = json.loads(lines[1].removeprefix(b"data: "))
        assert lines[0] == f"event: {event['type']}".encode()
        out.append(event)
    return out


@pytest.mark.parametrize("size", [1, 5, 33, 100_000])
async def test_anthropic_sse_split_anywhere_is_restored(size: int) -> None:
    guard = PiiGuard(options=PiiOptions(), holdback=64)
    data = await _masked_request(guard, "anthropic_messages")
    raw = _anthropic_stream(["Hi [EM", "AIL_", "1], bye"], ['{"to": "[EM', 'AIL_1]"}'])
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    out = [c async for c in guard.async_post_call_streaming_iterator_hook(USER, _aiter(chunks), data)]
    assert all(isinstance(c, bytes) for c in out)
    events = _events(b"".join(out))
    text = "".join(
        e["delta"]["text"] for e in events if e["type"] == "content_block_delta" and e["index"] == 0
    )
    args = "".join(
        e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta" and e["index"] == 1
    )
    assert text == f"Hi {EMAIL}, bye"
    assert json.loads(args) == {"to": EMAIL}
    assert not any("[EM" in json.dumps(e) for e in events)
    # every event is still there, in order; deltas of a block come before its stop
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    stop0 = kinds.index("content_block_stop")
    assert all(e["index"] == 0 for e in events[:stop0] if e["type"] == "content_block_delta")


async def test_anthropic_sse_secret_split_over_deltas_is_masked_and_other_bytes_untouched() -> None:
    guard = SecretsGuard(options=SecretsOptions(), holdback=64)
    raw = _anthropic_stream(["use ", AWS[:5], AWS[5:], " now"], ["{}"])
    chunks = [raw[i : i + 40] for i in range(0, len(raw), 40)]
    out = b"".join([c async for c in guard.async_post_call_streaming_iterator_hook(USER, _aiter(chunks), {})])
    assert AWS[:5].encode() not in out.replace(b"AKIA", b"")  # no fragment of the key itself
    events = _events(out)
    text = "".join(
        e["delta"]["text"] for e in events if e["type"] == "content_block_delta" and e["index"] == 0
    )
    assert text == "use [REDACTED_AWS_ACCESS_KEY] now"
    assert _sse(events[0]) in raw  # message_start passed as the very bytes received


async def test_anthropic_stream_without_a_stop_flushes_at_the_end() -> None:
    guard = PiiGuard(options=PiiOptions(), holdback=64)
    data = await _masked_request(guard, "anthropic_messages")
    raw = _sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "to [EMAIL_1]"}}
    )
    out = b"".join(
        [c async for c in guard.async_post_call_streaming_iterator_hook(USER, _aiter([raw]), data)]
    )
    assert "".join(e["delta"]["text"] for e in _events(out)) == f"to {EMAIL}"


async def test_responses_events_as_dicts_are_masked_too() -> None:
    guard = SecretsGuard(options=SecretsOptions(), holdback=64)
    kw = {"item_id": "m", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.output_text.delta", "delta": "key " + AWS[:8], **kw},
        {"type": "response.output_text.delta", "delta": AWS[8:] + " end", **kw},
        {"type": "response.output_text.done", "text": f"key {AWS} end", **kw},
    ]
    out = [e async for e in guard.async_post_call_streaming_iterator_hook(USER, _aiter(events), {})]
    deltas = [e["delta"] for e in out if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "key [REDACTED_AWS_ACCESS_KEY] end"
    assert out[-1] == {"type": "response.output_text.done", "text": "key [REDACTED_AWS_ACCESS_KEY] end", **kw}
