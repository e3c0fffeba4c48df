"""The openai Python SDK against a real gateway: chat, stream helpers, Responses, parse().

Plain model: ``demo`` (offline). Agents: ``research`` (no approvals), ``support`` (memory),
``approvals`` (pauses for a human), all calling the demo model inside.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.clients.helpers import thread_ids, thread_messages
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

ASK = [{"role": "user", "content": "What are budgets?"}]


class Rating(BaseModel):
    title: str
    score: int
    tags: list[str]


@pytest.fixture(scope="module")
def client(gw: GatewayProcess) -> openai.OpenAI:
    return gw.client()


def _raw_chunks(client: openai.OpenAI, **kw: Any) -> list[dict[str, Any]]:
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    return [c.model_dump(exclude_none=True) for c in stream]


# -- chat completions ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["demo", "research"])
def test_chat_stream_is_framed_like_openai(client: openai.OpenAI, model: str) -> None:
    chunks = _raw_chunks(client, model=model, messages=_unique("What are budgets?"))
    assert len({c["id"] for c in chunks}) == 1, "one id per stream"
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert all(c["choices"][0]["delta"].get("role") is None for c in chunks[1:] if c.get("choices"))
    assert {c["model"] for c in chunks} == {model}
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
    assert finishes.count("stop") == 1
    assert chunks[-1]["usage"]["total_tokens"] > 0


def _unique(text: str) -> list[dict[str, str]]:
    # Plain models sit behind the response cache: a repeated prompt would be a cache hit.
    return [{"role": "user", "content": f"{text} {uuid.uuid4().hex[:8]}"}]


def test_stream_helper_final_completion_matches_the_plain_answer(client: openai.OpenAI) -> None:
    demo = _unique("What are budgets?")
    with client.chat.completions.stream(model="demo", messages=demo) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].message.content == f"[demo model] You said: {demo[0]['content']}"

    plain = client.chat.completions.create(model="research", messages=ASK)
    with client.chat.completions.stream(model="research", messages=ASK) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert (final.choices[0].message.content or "").startswith("[demo model]")


def test_plain_model_stream_from_the_cache_keeps_the_text(client: openai.OpenAI) -> None:
    messages = _unique("cache me")
    with client.chat.completions.stream(model="demo", messages=messages) as s:
        first = s.get_final_completion().choices[0].message.content
    with client.chat.completions.stream(model="demo", messages=messages) as s:  # a cache hit
        assert s.get_final_completion().choices[0].message.content == first


def test_agent_steps_as_reasoning_by_default_think_or_off(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="research", messages=ASK)
    msg = r.choices[0].message
    assert "Calling tool web_search" in (msg.model_extra or {}).get("reasoning_content", "")
    assert "<think>" not in (msg.content or "")

    think = client.chat.completions.create(model="research", messages=ASK, metadata={"agent_steps": "think"})
    content = think.choices[0].message.content or ""
    assert content.startswith("<think>\nCalling tool web_search") and "</think>\n\n" in content
    assert content.split("</think>\n\n", 1)[1] == msg.content

    chunks = _raw_chunks(client, model="research", messages=ASK, metadata={"agent_steps": "think"})
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert streamed.startswith("<think>\n") and "</think>\n\n" in streamed
    assert not any(c["choices"][0]["delta"].get("reasoning_content") for c in chunks if c.get("choices"))

    off = client.chat.completions.create(model="research", messages=ASK, extra_body={"agent_steps": "off"})
    assert not (off.choices[0].message.model_extra or {}).get("reasoning_content")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="research", messages=ASK, metadata={"agent_steps": "loud"})
    assert bad.value.body["param"] == "metadata.agent_steps"  # type: ignore[index]


def test_parse_with_pydantic_works_offline_on_demo_and_agents(client: openai.OpenAI) -> None:
    for model in ("demo", "research"):
        r = client.beta.chat.completions.parse(model=model, messages=ASK, response_format=Rating)
        parsed = r.choices[0].message.parsed
        assert isinstance(parsed, Rating), model
        assert parsed.tags and parsed.title
    with client.beta.chat.completions.stream(model="research", messages=ASK, response_format=Rating) as s:
        assert isinstance(s.get_final_completion().choices[0].message.parsed, Rating)
    obj = client.chat.completions.create(model="demo", messages=ASK, response_format={"type": "json_object"})
    assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)


def test_agents_refuse_client_tools_by_name(client: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    for kw in ({"tools": tools}, {"tools": tools, "tool_choice": "required"}):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="research", messages=ASK, **kw)  # type: ignore[arg-type]
        assert err.value.body["param"] == "tools"  # type: ignore[index]
        assert err.value.body["code"] == "agent_client_tools_unsupported"  # type: ignore[index]
    # a plain model still takes them
    r = client.chat.completions.create(model="demo", messages=ASK, tools=tools)  # type: ignore[arg-type]
    assert r.choices[0].message.tool_calls


# -- Responses API ------------------------------------------------------------------------

_MESSAGE_EVENTS = [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def _collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t or not t.endswith(".delta"):
            out.append(t)
    return out


def test_agent_responses_stream_is_openais_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="research", input="What are budgets?", stream=True))
    types = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed"
    reasoning = [e for e in events if e.type.startswith("response.reasoning_summary")]
    assert reasoning and all(isinstance(e.summary_index, int) for e in reasoning)  # type: ignore[union-attr]
    per_part = ["part.added", "text.delta", "text.done", "part.done"]
    assert [e.type.removeprefix("response.reasoning_summary_") for e in reasoning[:4]] == per_part
    tail = _collapse(types[types.index("response.output_item.done") + 1 : -1])
    assert tail == _MESSAGE_EVENTS
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed" and final.usage and final.usage.total_tokens > 0
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.metadata["gateway_run_id"].startswith("run_")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert text == final.output_text


def test_agent_responses_plain_carries_run_info(client: openai.OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="research", input="What are budgets?")
    r = raw.parse()
    assert raw.headers["x-gateway-agent-run-id"] == r.metadata["gateway_run_id"]
    assert float(raw.headers["x-gateway-agent-cost"]) > 0
    assert r.output_text.startswith("[demo model]")
    assert r.output[0].type == "reasoning" and r.output[0].summary  # type: ignore[union-attr]
    with client.responses.stream(model="research", input="What are budgets?") as s:
        final = s.get_final_response()
    assert final.output_text == r.output_text


def test_responses_threads_from_metadata_header_and_previous_response(
    gw: GatewayProcess, client: openai.OpenAI
) -> None:
    r = client.responses.create(model="support", input="hi", metadata={"thread_id": "cl-resp-meta"})
    assert r.metadata["gateway_thread_id"] == "cl-resp-meta"
    h = client.responses.create(model="support", input="hi", extra_headers={"x-thread-id": "cl-resp-hdr"})
    assert h.metadata["gateway_thread_id"] == "cl-resp-hdr"
    assert {"cl-resp-meta", "cl-resp-hdr"} <= thread_ids(gw)

    first = client.responses.create(model="support", input="How do budgets work?")
    thread = first.metadata["gateway_thread_id"]
    second = client.responses.create(model="support", input="And keys?", previous_response_id=first.id)
    assert second.metadata["gateway_thread_id"] == thread
    users = [m["content"] for m in thread_messages(gw, thread) if m["role"] == "user"]
    assert users == ["How do budgets work?", "And keys?"]  # the history was kept, not dropped


def test_previous_response_id_is_never_silently_dropped(client: openai.OpenAI) -> None:
    plain = client.responses.create(model="demo", input="hi")
    for model, previous in (("demo", plain.id), ("support", "resp_made_up"), ("support", plain.id)):
        with pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model=model, input="again", previous_response_id=previous)
        assert err.value.body["param"] == "previous_response_id", model  # type: ignore[index]


def test_responses_parse_and_tools_on_agents(client: openai.OpenAI) -> None:
    for model in ("demo", "research"):
        p = client.responses.parse(model=model, input="rate it", text_format=Rating)
        assert isinstance(p.output_parsed, Rating), model
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="research",
            input="x",
            tools=[
                {
                    "type": "function",
                    "name": "f",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": False,
                }
            ],
        )
    assert err.value.body["param"] == "tools"  # type: ignore[index]


def test_approval_over_responses_then_continue(client: openai.OpenAI) -> None:
    asked = client.responses.create(model="approvals", input="Send an email to bob@example.com saying hello")
    md = asked.metadata
    assert md["gateway_outcome"] == "interrupted" and md["gateway_interrupt_action"] == "send_email"
    assert md["gateway_interrupt_id"] in asked.output_text
    # the approver sees where the email would go (the caller's own data, to the caller)
    assert '"to": "bob@example.com"' in asked.output_text and "REDACTED" not in asked.output_text
    done = client.responses.create(model="approvals", input="reject: not now", previous_response_id=asked.id)
    assert done.metadata["gateway_thread_id"] == md["gateway_thread_id"]
    assert done.metadata["gateway_outcome"] == "completed"
