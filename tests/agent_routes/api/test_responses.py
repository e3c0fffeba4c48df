"""Responses API <-> agent chat completions: request translation, ids, the event sequence."""

from __future__ import annotations

import pytest

from agent_routes.api.responses import (
    ResponseStream,
    chat_request,
    response_id,
    response_object,
    thread_of_response_id,
)
from custom_hooks.core.errors import BadRequest


def test_chat_request_from_input_instructions_format_and_metadata() -> None:
    body = {
        "model": "research",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "reasoning", "summary": []},
            {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
            {"type": "message", "role": "developer", "content": "more"},
        ],
        "text": {
            "format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True}
        },
        "metadata": {"k": "v"},
        "stream": True,
        "max_output_tokens": 50,
    }
    out = chat_request(body, thread_id="t1")
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "more"},
    ]
    assert out["metadata"] == {"k": "v", "thread_id": "t1"}
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
    }
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["max_tokens"] == 50


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "tools": [{"type": "function", "name": "f"}]}, "tools"),
        ({"input": [{"type": "function_call_output", "call_id": "c", "output": "1"}]}, "input"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]}, "input"),
        ({"input": 3}, "input"),
        ({"input": "x", "text": {"format": {"type": "grammar"}}}, "text.format"),
    ],
)
def test_what_agents_cannot_take_is_a_400_naming_it(body: dict, param: str) -> None:
    with pytest.raises(BadRequest) as err:
        chat_request({"model": "research", **body}, thread_id=None)
    assert err.value.param == param


def test_response_ids_carry_their_thread_and_nothing_else_decodes() -> None:
    rid = response_id("thr_abc")
    assert thread_of_response_id(rid) == "thr_abc"
    assert thread_of_response_id(response_id(None)) is None
    for bogus in ("resp_x", "chatcmpl-1", "resp_" + "0" * 32 + "!!!", "resp_" + "0" * 32 + "AAEC"):
        assert thread_of_response_id(bogus) is None


def _chunk(content: str | None = None, reasoning: str | None = None, **extra: object) -> dict:
    delta = {k: v for k, v in {"content": content, "reasoning_content": reasoning}.items() if v is not None}
    return {"choices": [{"index": 0, "delta": delta}], **extra}


def test_stream_is_openais_event_sequence_with_summary_indexes() -> None:
    s = ResponseStream({"model": "research", "metadata": {"k": "v"}}, "resp_1")
    events = s.start()
    events += s.feed(_chunk(reasoning="Calling tool x({})\n", role="assistant"))
    events += s.feed(_chunk(reasoning="Tool x finished: ok\n"))
    events += s.feed(_chunk(content="Hel"))
    events += s.feed(_chunk(content="lo"))
    gateway = {"run_id": "run_1", "thread_id": "t", "interrupt": {"id": "i1", "action": "send_email"}}
    events += s.feed(
        {
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            "provider_specific_fields": {"gateway": gateway},
        }
    )
    events += s.finish()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    part = [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *part,
        *part,
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    summaries = [e["summary_index"] for e in events if "summary_index" in e]
    assert summaries == [0, 0, 0, 0, 1, 1, 1, 1]
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert final["output"][1]["content"][0]["text"] == "Hello"
    assert final["usage"]["total_tokens"] == 5
    assert final["metadata"] == {
        "k": "v",
        "gateway_run_id": "run_1",
        "gateway_thread_id": "t",
        "gateway_interrupt_id": "i1",
        "gateway_interrupt_action": "send_email",
    }


def test_steps_after_text_open_a_new_reasoning_item_and_failures_are_reported() -> None:
    s = ResponseStream({"model": "m"}, "resp_1")
    s.start()
    s.feed(_chunk(content="Let me check."))
    s.feed(_chunk(reasoning="Calling tool x({})\n"))
    s.feed(_chunk(content="Done."))
    final = s.finish()[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "reasoning", "message"]
    failed = ResponseStream({"model": "m"}, "resp_2").failed({"code": "agent_timeout", "message": "late"})
    assert failed[0]["type"] == "response.failed"
    assert failed[0]["response"]["error"] == {"code": "agent_timeout", "message": "late"}


def test_an_empty_answer_still_has_a_message_item() -> None:
    s = ResponseStream({"model": "m"}, "resp_1")
    s.start()
    final = s.finish()[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message"]


def test_response_object_from_a_chat_completion() -> None:
    completion = {
        "created": 5,
        "choices": [{"message": {"role": "assistant", "content": "hi", "reasoning_content": "a\nb\n"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "gateway": {"run_id": "run_1", "outcome": "completed"},
    }
    out = response_object({"model": "research"}, completion, rid="resp_1")
    assert out["id"] == "resp_1" and out["created_at"] == 5 and out["status"] == "completed"
    assert out["output"][0]["summary"] == [
        {"type": "summary_text", "text": "a"},
        {"type": "summary_text", "text": "b"},
    ]
    assert out["output"][1]["content"][0]["text"] == "hi"
    assert out["metadata"] == {"gateway_run_id": "run_1", "gateway_outcome": "completed"}
