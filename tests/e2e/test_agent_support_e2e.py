"""The shipped ``support`` agent through a real gateway: KB answers and thread memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent_graphs_setup import inner_calls, new_key, overrides, stream_text
from tests.harness.fake_upstream import FakeUpstream, text, tool_call
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

AGENTS = {
    "support": {"graph": "agent_routes.support.build", "model": "gpt-4o-mini", "memory": True},
    "support-demo": {"graph": "agent_routes.support.build", "model": "default", "memory": True},
}


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, fake_upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=overrides(fake_upstream.url, AGENTS), name="support")


@pytest.fixture(scope="module")
def key(gw: GatewayProcess) -> str:
    return new_key(gw, "support-e2e")


def test_three_turns_on_a_thread(gw: GatewayProcess, key: str, fake_upstream: FakeUpstream) -> None:
    client = gw.client(key)
    thread = {"thread_id": "support-ada-1"}
    fake_upstream.script(
        text("Hi Ada! How can I help?"),
        tool_call("lookup_kb", {"query": "budget_exceeded"}),
        text("Your budget for this window is spent (KB-102)."),
        text("You are Ada."),
        model="gpt-4o-mini",
    )
    first = client.chat.completions.create(
        model="support", messages=[{"role": "user", "content": "Hello, I'm Ada."}], metadata=thread
    )
    assert first.choices[0].message.content == "Hi Ada! How can I help?"
    second = client.chat.completions.create(
        model="support",
        messages=[{"role": "user", "content": "Why do I get budget_exceeded?"}],
        metadata=thread,
    )
    answer = second.choices[0].message.content or ""
    assert answer.startswith("Your budget for this window is spent (KB-102).")
    assert "Sources:\n[1] KB-102: My requests fail with budget_exceeded (HTTP 400)" in answer
    third = client.chat.completions.create(
        model="support", messages=[{"role": "user", "content": "What is my name?"}], metadata=thread
    )
    assert third.choices[0].message.content == "You are Ada."

    inner = inner_calls(fake_upstream)
    assert {r.model for r in inner} == {"gpt-4o-mini"}
    assert [t["function"]["name"] for t in inner[0].json["tools"]] == ["lookup_kb"]
    last = inner[-1].messages  # the third turn's call holds the whole thread
    assert [m["content"] for m in last if m["role"] == "user"] == [
        "Hello, I'm Ada.",
        "Why do I get budget_exceeded?",
        "What is my name?",
    ]
    assert any(m["role"] == "tool" and "KB-102" in m["content"] for m in last)
    assert third.model_extra["gateway"]["thread_id"] == "support-ada-1"


def test_demo_model_streams_an_answer_from_the_kb(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    content, reasoning, tool_deltas = stream_text(
        gw.client(key).chat.completions.create(
            model="support-demo",
            messages=[{"role": "user", "content": "I lost my API key"}],
            metadata={"thread_id": "support-demo-1"},
            stream=True,
        )
    )
    assert content.startswith("[demo model] From the tool result:")
    assert "KB-101" in content
    assert "lookup_kb" in reasoning
    assert tool_deltas == 0
    assert inner_calls(fake_upstream) == []
