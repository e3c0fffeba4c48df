"""The demo model's decisions (pure) and its LiteLLM provider."""

from __future__ import annotations

import json

import litellm
import pytest

from agent_routes.providers.demo_model import demo_model, plan_reply

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}
EMAIL = {
    "type": "function",
    "function": {
        "name": "send_email",
        "parameters": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
            "required": ["to", "body"],
        },
    },
}


def test_echoes_without_tools() -> None:
    assert plan_reply([{"role": "user", "content": "hi"}], None).text == "[demo model] You said: hi"


def test_calls_first_tool_with_user_text() -> None:
    reply = plan_reply([{"role": "user", "content": "refunds?"}], [LOOKUP, EMAIL])
    assert reply.tool_name == "lookup" and json.loads(reply.tool_args) == {"q": "refunds?"}


def test_directive_picks_tool_and_args() -> None:
    msg = 'please [[tool:send_email {"to": "a@b.co", "body": "hello"}]]'
    reply = plan_reply([{"role": "user", "content": msg}], [LOOKUP, EMAIL])
    assert reply.tool_name == "send_email" and json.loads(reply.tool_args) == {
        "to": "a@b.co",
        "body": "hello",
    }


def test_fills_recipient_from_email_in_text() -> None:
    reply = plan_reply([{"role": "user", "content": "mail bob@example.com"}], [EMAIL])
    assert json.loads(reply.tool_args)["to"] == "bob@example.com"


def test_answers_from_tool_result() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "42 is the answer", "tool_call_id": "c1"},
    ]
    assert "42 is the answer" in plan_reply(messages, [LOOKUP]).text


def test_content_parts_are_read() -> None:
    parts = [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]
    assert plan_reply([{"role": "user", "content": parts}], None).text.endswith("part one part two")


@pytest.fixture
def demo_provider() -> object:
    litellm.custom_provider_map = [{"provider": "demo", "custom_handler": demo_model}]
    litellm.utils.custom_llm_setup()
    yield
    litellm.custom_provider_map = []


async def test_provider_through_litellm(demo_provider: object) -> None:
    resp = await litellm.acompletion(model="demo/echo", messages=[{"role": "user", "content": "yo"}])
    assert resp.choices[0].message.content == "[demo model] You said: yo"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0


async def test_provider_streams_through_litellm(demo_provider: object) -> None:
    stream = await litellm.acompletion(
        model="demo/echo", stream=True, messages=[{"role": "user", "content": "a b"}]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "[demo model] You said: a b"


RATING = {
    "type": "json_schema",
    "json_schema": {
        "name": "rating",
        "schema": {
            "type": "object",
            "properties": {"title": {"type": "string"}, "score": {"type": "integer", "minimum": 3}},
            "required": ["title", "score"],
            "additionalProperties": False,
        },
    },
}


def test_answers_response_format_with_schema_valid_json() -> None:
    out = json.loads(plan_reply([{"role": "user", "content": "rate it"}], None, RATING).text)
    assert out == {"title": "rate it", "score": 3}
    obj = json.loads(plan_reply([{"role": "user", "content": "x"}], None, {"type": "json_object"}).text)
    assert obj == {"answer": "x"}
    # deterministic
    assert plan_reply([{"role": "user", "content": "rate it"}], None, RATING).text == json.dumps(out)


def test_tool_choice_none_and_forced_tool() -> None:
    user = [{"role": "user", "content": "find x"}]
    assert plan_reply(user, [LOOKUP], tool_choice="none").tool_name is None
    forced = plan_reply(
        user, [LOOKUP, EMAIL], tool_choice={"type": "function", "function": {"name": "send_email"}}
    )
    assert forced.tool_name == "send_email"
    assert set(json.loads(forced.tool_args)) == {"to", "body"}


async def test_demo_embeddings_are_deterministic_unit_vectors(demo_provider: object) -> None:
    resp = await litellm.aembedding(model="demo/embed", input=["a", "b", "a"])
    vectors = [d["embedding"] for d in resp.data]
    assert vectors[0] == vectors[2] != vectors[1]
    assert all(abs(sum(v * v for v in vec) - 1.0) < 1e-9 for vec in vectors)
    assert resp.usage.prompt_tokens > 0
