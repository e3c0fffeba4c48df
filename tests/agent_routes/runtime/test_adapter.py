"""The OpenAI <-> LangGraph wire format: approvals, turns, steps, responses."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage

from agent_routes.runtime.adapter import (
    AnswerStream,
    StreamFrame,
    approval_message,
    final_answer,
    model_response,
    new_turn,
    parse_approval_reply,
    step_lines,
    stream_chunk,
    to_graph_messages,
)
from agent_routes.runtime.context import ANSWER_TAG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve", {"decision": "approve"}),
        ("  Yes. ", {"decision": "approve"}),
        ("reject", {"decision": "reject"}),
        ("reject: wrong recipient", {"decision": "reject", "reason": "wrong recipient"}),
        ('edit: {"to": "cfo@example.com"}', {"decision": "edit", "args": {"to": "cfo@example.com"}}),
        ('EDIT {"n": 2}', {"decision": "edit", "args": {"n": 2}}),
        ("edit: {not json}", None),
        ("what does it do?", None),
        ("rejection letters are sad", None),
    ],
)
def test_parse_approval_reply(text: str, expected: object) -> None:
    assert parse_approval_reply(text) == expected


def test_new_turn_is_what_follows_the_last_assistant_message() -> None:
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert new_turn(msgs) == [{"role": "user", "content": "c"}]
    assert new_turn(msgs[:2]) == [{"role": "user", "content": "a"}]


def test_to_graph_messages_keeps_roles_and_tool_calls() -> None:
    out = to_graph_messages(
        [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
        ]
    )
    assert isinstance(out[0], SystemMessage) and isinstance(out[1], HumanMessage)
    assert isinstance(out[2], AIMessage) and out[2].tool_calls[0]["name"] == "f"
    assert isinstance(out[3], ToolMessage)


def test_step_lines_tool_chosen_finished_failed_and_handoff() -> None:
    chosen = {
        "agent": {"messages": [AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "1"}])]}
    }
    assert step_lines(chosen) == ['Calling tool lookup({"q": "x"})']
    done = {"tools": {"messages": [ToolMessage("42", name="lookup", tool_call_id="1")]}}
    assert step_lines(done) == ["Tool lookup finished: 42"]
    failed = {"tools": {"messages": [ToolMessage("boom", name="lookup", tool_call_id="1", status="error")]}}
    assert step_lines(failed) == ["Tool lookup failed: boom"]
    handoff = {
        "sup": {
            "messages": [AIMessage("", tool_calls=[{"name": "transfer_to_writer", "args": {}, "id": "2"}])]
        }
    }
    assert step_lines(handoff)[0].startswith("Handing off to writer")
    assert step_lines({"__interrupt__": ({"x": 1},)}) == []


def test_final_answer_skips_tool_calling_messages() -> None:
    msgs = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "1"}]),
        AIMessage("done"),
    ]
    assert final_answer(msgs) == "done"
    assert final_answer([HumanMessage("q")]) == ""


def test_approval_message_states_action_and_how_to_answer() -> None:
    text = approval_message(
        {"action": "send_email", "args": {"to": "a@b.c"}, "description": "Send it."},
        thread_id="t1",
        interrupt_id="i1",
    )
    for needle in ("send_email", "Send it.", '"to": "a@b.c"', "approve", "reject", "edit:", "t1", "i1"):
        assert needle in text


def test_responses_carry_gateway_fields() -> None:
    resp = model_response(
        model="m", content="hi", prompt_tokens=3, completion_tokens=2, gateway={"run_id": "r"}
    )
    assert resp.usage.total_tokens == 5  # type: ignore[attr-defined]
    assert resp.model_dump()["gateway"] == {"run_id": "r"}
    last = stream_chunk(content="x", finish=True, usage=(1, 2), gateway={"run_id": "r"})
    assert last.choices[0].finish_reason == "stop"
    assert last.provider_specific_fields == {"gateway": {"run_id": "r"}}
    step = stream_chunk(reasoning="Calling tool x\n")
    assert step.choices[0].delta.reasoning_content == "Calling tool x\n"
    assert not step.choices[0].delta.content


def _chunk(mid: str, text: str = "", tool: str | None = None) -> AIMessageChunk:
    calls = [{"name": tool, "args": "", "id": "c1", "index": 0}] if tool else []
    return AIMessageChunk(content=text, id=mid, tool_call_chunks=calls)  # type: ignore[arg-type]


def test_answer_stream_picks_the_answer_tokens_live() -> None:
    tagged = {"tags": [ANSWER_TAG], "langgraph_node": "agent"}
    s = AnswerStream()
    # a tool-calling reply: its tool-call chunks, and any text after them, are not content
    assert s.feed(_chunk("m1", tool="lookup"), tagged) == ""
    assert s.feed(_chunk("m1", '{"query": "x"}'), tagged) == ""
    # an untagged model (a worker) never streams as content
    assert s.feed(_chunk("w1", "worker text"), {"tags": []}) == ""
    assert s.feed(ToolMessage("r", tool_call_id="c1"), tagged) == ""
    out = [s.feed(_chunk("m2", t), tagged) for t in ("It ", "is ", "42.")]
    assert out == ["It ", "is ", "42."]
    # a finish node appended sources: only the rest is sent
    assert s.tail("It is 42.\n\nSources:\n[1] kb", completed=True) == "\n\nSources:\n[1] kb"


def test_answer_stream_narration_before_a_tool_call_and_fallbacks() -> None:
    tagged = {"tags": [ANSWER_TAG]}
    s = AnswerStream()
    assert s.feed(_chunk("m1", "Let me check."), tagged) == "Let me check."
    assert s.feed(_chunk("m1", tool="lookup"), tagged) == ""
    assert s.feed(_chunk("m1", "more"), tagged) == ""
    assert s.feed(_chunk("m2", "Done."), tagged) == "\n\nDone."
    # a paused run's approval message follows what was said
    assert s.tail("Approval needed", completed=False) == "\n\nApproval needed"
    # nothing streamed (no answer model): the whole answer at the end
    assert AnswerStream().tail("whole answer", completed=True) == "whole answer"
    # a whole (non-streamed) reply counts too
    whole = AnswerStream()
    assert whole.feed(AIMessage("All of it.", id="m9"), tagged) == "All of it."


def test_stream_frame_gives_one_id_model_and_role_first() -> None:
    frame = StreamFrame("research")
    chunks = [stream_chunk(reasoning="step\n", frame=frame), stream_chunk(content="a", frame=frame)]
    chunks.append(stream_chunk(content="b", finish=True, usage=(1, 1), frame=frame))
    assert {c.id for c in chunks} == {frame.id} and frame.id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"research"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.role for c in chunks[1:]] == [None, None]
    # another stream, another id
    assert StreamFrame("research").id != frame.id
