"""Request slot extractors: every slot kind of every wire format, found and written back."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from custom_hooks.guardrails.request_slots import TextSlot, request_slots

IMG = "data:image/png;base64," + "iVBORw0KGgo" * 20


def _triples(slots: list[TextSlot]) -> list[tuple[str, str, str]]:
    return [(s.role, s.kind, s.text) for s in slots]


CHAT = {
    "messages": [
        {"role": "system", "content": "sys text"},
        {"role": "developer", "content": [{"type": "text", "text": "dev part"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "user part"},
                {"type": "input_text", "text": "input_text part"},
                {"type": "image_url", "image_url": {"url": IMG}},
                {"type": "mystery", "payload": {"note": "nested unknown"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "assistant", "function_call": {"name": "g", "arguments": '{"b": 2}'}},
        {"role": "tool", "tool_call_id": "c1", "content": "tool said"},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "tool part"}]},
        {"role": "function", "name": "legacy", "content": "legacy fn said"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "tool desc",
                "parameters": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "description": "param desc"}},
                },
            },
        }
    ],
    "functions": [{"name": "g", "description": "legacy fn desc"}],
    "prediction": {"type": "content", "content": "predicted draft"},
}
CHAT_SLOTS = [
    ("system", "content", "sys text"),
    ("developer", "content", "dev part"),
    ("user", "content", "user part"),
    ("user", "content", "input_text part"),
    ("user", "content", "nested unknown"),
    ("assistant", "arguments", '{"a": 1}'),
    ("assistant", "arguments", '{"b": 2}'),
    ("tool", "tool_output", "tool said"),
    ("tool", "tool_output", "tool part"),
    ("tool", "tool_output", "legacy fn said"),
    ("assistant", "content", "predicted draft"),
    ("tool", "tool_definition", "tool desc"),
    ("tool", "tool_definition", "param desc"),
    ("tool", "tool_definition", "legacy fn desc"),
]

RESPONSES = {
    "instructions": "be brief",
    "input": [
        "bare string item",
        {"role": "developer", "content": "dev says"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "first part"},
                {"type": "input_image", "image_url": IMG},
                {"type": "input_file", "file_data": "JVBERi0xLjQK" * 10, "filename": "report.pdf"},
            ],
        },
        {"role": "assistant", "content": [{"type": "output_text", "text": "earlier answer"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"q": "x"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "fn output"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "fn part"}],
        },
        {
            "type": "reasoning",
            "id": "r1",
            "summary": [{"type": "summary_text", "text": "thought"}],
            "encrypted_content": "opaque",
        },
        {"type": "item_reference", "id": "msg_1"},
        {"type": "brand_new_item", "body": "future item text"},
    ],
    "tools": [{"type": "function", "name": "f", "description": "resp tool desc", "parameters": {}}],
    "prompt": {"id": "pmpt_1", "version": "2", "variables": {"customer": "var text"}},
}
RESPONSES_SLOTS = [
    ("system", "content", "be brief"),
    ("user", "content", "bare string item"),
    ("developer", "content", "dev says"),
    ("user", "content", "first part"),
    ("user", "content", "report.pdf"),
    ("assistant", "content", "earlier answer"),
    ("assistant", "arguments", '{"q": "x"}'),
    ("tool", "tool_output", "fn output"),
    ("tool", "tool_output", "fn part"),
    ("assistant", "content", "thought"),
    ("user", "content", "future item text"),
    ("user", "content", "var text"),
    ("tool", "tool_definition", "resp tool desc"),
]

ANTHROPIC = {
    "system": [{"type": "text", "text": "system block", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "plain user"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "user block"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR" * 20},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "doc text"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {
                    "type": "tool_use",
                    "id": "t1",
                    "name": "f",
                    "input": {"q": "tool arg", "n": [1, "nested arg"]},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "result str"},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": [{"type": "text", "text": "result block"}],
                },
            ],
        },
    ],
    "tools": [
        {
            "name": "f",
            "description": "anth tool desc",
            "input_schema": {"properties": {"q": {"description": "q desc"}}},
        }
    ],
}
ANTHROPIC_SLOTS = [
    ("system", "content", "system block"),
    ("user", "content", "plain user"),
    ("user", "content", "user block"),
    ("user", "content", "doc text"),
    ("assistant", "content", "hmm"),
    ("assistant", "arguments", "tool arg"),
    ("assistant", "arguments", "nested arg"),
    ("tool", "tool_output", "result str"),
    ("tool", "tool_output", "result block"),
    ("tool", "tool_definition", "anth tool desc"),
    ("tool", "tool_definition", "q desc"),
]


@pytest.mark.parametrize(
    ("call_type", "body", "expected"),
    [
        ("acompletion", CHAT, CHAT_SLOTS),
        ("aresponses", RESPONSES, RESPONSES_SLOTS),
        ("anthropic_messages", ANTHROPIC, ANTHROPIC_SLOTS),
        (
            "atext_completion",
            {"prompt": "one prompt", "suffix": "the end"},
            [("user", "content", "one prompt"), ("user", "content", "the end")],
        ),
        ("atext_completion", {"prompt": ["a", "b"]}, [("user", "content", "a"), ("user", "content", "b")]),
        ("atext_completion", {"prompt": [[1, 2, 3]]}, []),
        ("aembedding", {"input": "embed me"}, [("user", "content", "embed me")]),
        ("aembedding", {"input": ["x", "y"]}, [("user", "content", "x"), ("user", "content", "y")]),
        ("aembedding", {"input": [1, 2, 3]}, []),
        ("aresponses", {"input": "just a string"}, [("user", "content", "just a string")]),
    ],
    ids=[
        "chat",
        "responses",
        "anthropic",
        "completion-str",
        "completion-list",
        "completion-tokens",
        "embed-str",
        "embed-list",
        "embed-tokens",
        "responses-str",
    ],
)
def test_every_slot_kind_is_found(
    call_type: str, body: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    assert _triples(list(request_slots(copy.deepcopy(body), call_type))) == expected


@pytest.mark.parametrize(
    ("call_type", "body"),
    [("acompletion", CHAT), ("aresponses", RESPONSES), ("anthropic_messages", ANTHROPIC)],
)
def test_each_slot_writes_back_to_its_own_place(call_type: str, body: dict[str, Any]) -> None:
    data = copy.deepcopy(body)
    for i, slot in enumerate(list(request_slots(data, call_type))):
        slot.set(f"<{i}>")
    again = [s.text for s in request_slots(data, call_type)]
    assert again == [f"<{i}>" for i in range(len(again))]
    dumped = json.dumps(data)
    for _, _, original in CHAT_SLOTS + RESPONSES_SLOTS + ANTHROPIC_SLOTS:
        assert f'"{original}"' not in dumped
    # what is not text stays: ids, names, inline images, encrypted reasoning
    assert IMG in dumped or "iVBOR" in dumped


@pytest.mark.parametrize(
    ("call_type", "body", "texts"),
    [
        (None, {"messages": [{"role": "user", "content": "chat-like"}]}, ["chat-like"]),
        (
            "unknown_route",
            {"system": "sys", "messages": [{"role": "user", "content": [{"type": "text", "text": "t"}]}]},
            ["sys", "t"],
        ),
        ("amoderation", {"input": "moderate me"}, ["moderate me"]),
        ("arerank", {"query": "q", "documents": ["d1", {"text": "d2"}]}, ["q", "d1", "d2"]),
        ("aimage_generation", {"prompt": "draw"}, ["draw"]),
        (
            None,
            {
                "instructions": "inst",
                "input": [{"type": "function_call_output", "call_id": "c", "output": "out"}],
            },
            ["inst", "out"],
        ),
    ],
)
def test_unknown_routes_fall_back_on_the_shape(
    call_type: str | None, body: dict[str, Any], texts: list[str]
) -> None:
    assert [s.text for s in request_slots(body, call_type)] == texts


def test_a_chat_body_with_a_top_level_system_still_scans_it() -> None:
    body = {"system": "smuggled", "messages": [{"role": "user", "content": "hi"}]}
    assert [(s.role, s.text) for s in request_slots(body, "acompletion")] == [
        ("user", "hi"),
        ("system", "smuggled"),
    ]


def test_malformed_shapes_do_not_raise() -> None:
    body: dict[str, Any] = {
        "messages": [None, "text", {"role": "user", "content": {"odd": "dict content"}}, {"content": 5}],
        "tools": "not a list",
        "input": {"weird": "object"},
    }
    for ct in ("acompletion", "aresponses", "anthropic_messages", None):
        list(request_slots(body, ct))
    assert [s.text for s in request_slots(body, "acompletion")] == ["dict content"]
    assert [s.text for s in request_slots(body, "aresponses")] == ["object"]
