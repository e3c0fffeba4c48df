"""The shipped ``supervisor`` agent through a real gateway: handoffs to its workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent_graphs_setup import inner_calls, new_key, overrides, stream_text
from tests.harness.fake_upstream import FakeUpstream, text, tool_call
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

_TOOLS = {"web_search": {"backend": "local", "max_results": 2}}
AGENTS = {
    "supervisor": {"graph": "agent_routes.supervisor.build", "model": "gpt-4o-mini", "tools": _TOOLS},
    "supervisor-demo": {"graph": "agent_routes.supervisor.build", "model": "default", "tools": _TOOLS},
    # its researcher is the shipped `research` agent (on the demo model), called as a model
    "supervisor-nested": {
        "graph": "agent_routes.supervisor.build",
        "model": "gpt-4o-mini",
        "agents": ["research"],
        "tools": {"researcher": {"agent": "research"}},
    },
}


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, fake_upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=overrides(fake_upstream.url, AGENTS), name="supervisor")


@pytest.fixture(scope="module")
def key(gw: GatewayProcess) -> str:
    return new_key(gw, "supervisor-e2e")


def test_delegates_to_researcher_and_writer_and_composes(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("transfer_to_researcher", {"task": "how do budgets work"}),  # supervisor
        tool_call("web_search", {"query": "budgets"}),  # researcher
        text("Budgets cap spend [1]."),  # researcher's answer
        tool_call("transfer_to_writer", {"task": "explain for a manager", "notes": "Budgets cap spend [1]."}),
        text("Budgets put a ceiling on spend [1]."),  # writer
        text("Budgets put a ceiling on what a key or team spends [1]."),  # supervisor composes
        model="gpt-4o-mini",
    )
    content, reasoning, tool_deltas = stream_text(
        gw.client(key).chat.completions.create(
            model="supervisor", messages=[{"role": "user", "content": "Explain budgets"}], stream=True
        )
    )
    assert content.startswith("Budgets put a ceiling on what a key or team spends [1].")
    assert "Sources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md" in content
    assert "Handing off to researcher" in reasoning
    assert 'researcher: calling web_search({"query": "budgets"})' in reasoning
    assert "Handing off to writer" in reasoning
    assert tool_deltas == 0

    inner = inner_calls(fake_upstream)
    assert [r.model for r in inner] == ["gpt-4o-mini"] * 6  # every worker call re-entered the gateway
    tools = [[t["function"]["name"] for t in r.json.get("tools") or []] for r in inner]
    assert tools == [
        ["transfer_to_researcher", "transfer_to_writer"],
        ["web_search"],
        ["web_search"],
        ["transfer_to_researcher", "transfer_to_writer"],
        [],
        ["transfer_to_researcher", "transfer_to_writer"],
    ]
    assert inner[4].messages[-1]["content"] == "explain for a manager\n\nNotes:\nBudgets cap spend [1]."


def test_demo_model_hands_off_and_cites(gw: GatewayProcess, key: str, fake_upstream: FakeUpstream) -> None:
    resp = gw.client(key).chat.completions.create(
        model="supervisor-demo",
        messages=[{"role": "user", "content": "How does cost routing pick a cheaper model?"}],
    )
    answer = resp.choices[0].message.content or ""
    assert answer.startswith("[demo model]")
    assert "Sources:\n[1] Cost routing - agent_routes/search_corpus/cost-routing.md" in answer
    assert resp.model_extra["gateway"]["inner_calls"] == 4  # supervisor, researcher x2, supervisor
    assert inner_calls(fake_upstream) == []


def test_a_worker_that_is_another_agent_runs_nested_through_the_gateway(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("transfer_to_researcher", {"task": "How do budgets work?"}),
        text("Budgets cap spend [1]."),
        model="gpt-4o-mini",
    )
    resp = gw.client(key).chat.completions.create(
        model="supervisor-nested", messages=[{"role": "user", "content": "Explain budgets"}]
    )
    assert resp.choices[0].message.content == (
        "Budgets cap spend [1].\n\nSources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md"
    )
    inner = inner_calls(fake_upstream)
    assert [r.model for r in inner] == ["gpt-4o-mini", "gpt-4o-mini"]
    handoff = [m for m in inner[1].messages if m["role"] == "tool"][-1]["content"]
    assert handoff.startswith("[demo model] From the tool result: Search results")  # research's answer
    # the supervisor's own calls plus the nested research run (one call as seen from here)
    assert resp.model_extra["gateway"]["inner_calls"] == 3
