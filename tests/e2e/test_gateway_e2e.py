"""The gateway as users meet it: the real OpenAI SDK against a real gateway process."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.harness.fake_upstream import FakeUpstream, delay, error, malformed, stream, text, tool_call
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e


def test_models_lists_what_config_declares(gateway: GatewayProcess) -> None:
    ids = {m.id for m in gateway.client().models.list()}
    assert {"default", "demo", "gpt-4o", "gpt-4o-mini", "claude-sonnet", "claude-haiku", "llama3"} <= ids


def test_demo_model_answers_offline(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    reply = gateway.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": "hello gateway"}]
    )
    assert reply.choices[0].message.content == "[demo model] You said: hello gateway"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert fake_upstream.requests == []  # served in-process


def test_demo_model_streams(gateway: GatewayProcess) -> None:
    chunks = gateway.client().chat.completions.create(
        model="demo", stream=True, messages=[{"role": "user", "content": "one two three"}]
    )
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 3
    assert "".join(pieces) == "[demo model] You said: one two three"


def test_demo_model_calls_tools(gateway: GatewayProcess) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    reply = gateway.client().chat.completions.create(
        model="demo", tools=tools, messages=[{"role": "user", "content": "find the refund policy"}]
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "find the refund policy"}


def test_chat_reaches_upstream_with_usage(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(text("pong", prompt_tokens=11, completion_tokens=3), model="gpt-4o-mini")
    reply = gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
    )
    assert reply.choices[0].message.content == "pong"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 3)
    sent = fake_upstream.requests_for("gpt-4o-mini")
    assert len(sent) == 1 and sent[0].messages[-1]["content"] == "ping"


def test_streaming_from_upstream(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        stream(["Hel", "lo ", "wor", "ld"], prompt_tokens=5, completion_tokens=4), model="gpt-4o-mini"
    )
    chunks = list(
        gateway.client().chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "hi"}],
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].completion_tokens == 4


def test_tool_call_from_upstream_passes_through(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(tool_call("get_weather", {"city": "Oslo"}), model="gpt-4o-mini")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    reply = gateway.client().chat.completions.create(
        model="gpt-4o-mini", tools=tools, messages=[{"role": "user", "content": "weather?"}]
    )
    assert json.loads(reply.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}


def test_upstream_500_is_retried_invisibly(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(error(500, "upstream exploded"), text("recovered"), model="gpt-4o-mini")
    reply = gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.content == "recovered"
    assert len(fake_upstream.requests_for("gpt-4o-mini")) == 2


def test_upstream_429_falls_back_to_backup_alias(
    gateway: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    # gpt-4o-mini's retries all fail (1 + num_retries=2), then the router falls back to claude-haiku.
    fake_upstream.script(*[error(429, "slow down")] * 3, model="gpt-4o-mini")
    fake_upstream.script(text("from the backup"), model="claude-haiku")
    with gateway.http() as http:
        r = http.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "from the backup"
    assert r.headers.get("x-litellm-attempted-fallbacks") == "1"
    assert len(fake_upstream.requests_for("claude-haiku")) == 1


def test_gpt4o_is_balanced_over_two_deployments(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    client = gateway.client()
    for _ in range(16):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    keys = {r.api_key for r in fake_upstream.requests_for("gpt-4o")}
    assert keys == {"sk-fake-gpt-4o-openai", "sk-fake-gpt-4o-azure"}


def test_upstream_error_surfaces_as_openai_error(
    gateway: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    # Every attempt and every fallback fails with 400: the client sees a 400 BadRequestError.
    fake_upstream.script(*[error(400, "bad thing")] * 6)
    with pytest.raises(openai.BadRequestError) as info:
        gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 400
    assert "bad thing" in str(info.value)


def test_malformed_upstream_body_is_an_error_not_a_hang(
    gateway: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(*[malformed()] * 6)
    with pytest.raises(openai.APIStatusError) as info:
        gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code >= 500
    body = info.value.response.json()
    assert set(body["error"]) >= {"message", "type", "code"}


def test_unknown_model_is_a_clear_400(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        gateway.client().chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code in (400, 404)
    assert "no-such-model" in str(info.value)


def test_bad_key_is_401_in_openai_format(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        gateway.client(api_key="sk-wrong").models.list()
    assert info.value.response.json()["error"]["type"] == "authentication_error"


def test_liveness_without_auth(gateway: GatewayProcess) -> None:
    assert httpx.get(f"{gateway.root_url}/health/liveliness").status_code == 200


def test_upstream_timeout_is_retried(gateway: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    # The first attempt outlives the request's timeout; the router's retry gets the answer.
    fake_upstream.script(delay(3.0, text("too late")), text("in time"), model="gpt-4o-mini")
    reply = gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], extra_body={"timeout": 1}
    )
    assert reply.choices[0].message.content == "in time"
    assert len(fake_upstream.requests_for("gpt-4o-mini")) == 2
