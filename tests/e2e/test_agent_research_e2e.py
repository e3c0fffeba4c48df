"""The shipped ``research`` agent through a real gateway, with the real OpenAI SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent_graphs_setup import inner_calls, new_key, overrides, stream_text
from tests.harness.fake_upstream import FakeUpstream, text, tool_call
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

_SEARCH = {"web_search": {"backend": "local", "max_results": 3}}
AGENTS = {
    "research": {"graph": "agent_routes.research.build", "model": "gpt-4o-mini", "tools": _SEARCH},
    "research-demo": {"graph": "agent_routes.research.build", "model": "default", "tools": _SEARCH},
}


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, fake_upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=overrides(fake_upstream.url, AGENTS), name="research")


@pytest.fixture(scope="module")
def key(gw: GatewayProcess) -> str:
    return new_key(gw, "research-e2e")


def test_searches_and_cites_through_the_gateway(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("web_search", {"query": "budgets"}, prompt_tokens=120, completion_tokens=8),
        text("Budgets cap spend per key and team [1].", prompt_tokens=400, completion_tokens=12),
        model="gpt-4o-mini",
    )
    resp = gw.client(key).chat.completions.create(
        model="research", messages=[{"role": "user", "content": "How do budgets work?"}]
    )
    assert resp.choices[0].message.content == (
        "Budgets cap spend per key and team [1].\n\n"
        "Sources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md"
    )
    inner = inner_calls(fake_upstream)
    assert [r.model for r in inner] == ["gpt-4o-mini", "gpt-4o-mini"]  # the configured alias
    assert [t["function"]["name"] for t in inner[0].json["tools"]] == ["web_search"]
    tool_msg = [m for m in inner[1].messages if m["role"] == "tool"][-1]
    assert "[1] Budgets and spend (agent_routes/search_corpus/budgets.md)" in tool_msg["content"]
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (520, 20)
    assert resp.model_extra["gateway"]["outcome"] == "completed"


def test_streaming_shows_the_search_step_and_the_sources(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("web_search", {"query": "thread memory restart"}),
        text("Threads survive restarts [1]."),
        model="gpt-4o-mini",
    )
    content, reasoning, tool_deltas = stream_text(
        gw.client(key).chat.completions.create(
            model="research",
            messages=[{"role": "user", "content": "Do threads survive a restart?"}],
            stream=True,
        )
    )
    assert content.startswith("Threads survive restarts [1].")
    assert "Sources:\n[1] Threads and memory - agent_routes/search_corpus/threads.md" in content
    assert "web_search" in reasoning
    assert tool_deltas == 0


def test_offline_on_the_demo_model(gw: GatewayProcess, key: str, fake_upstream: FakeUpstream) -> None:
    resp = gw.client(key).chat.completions.create(
        model="research-demo", messages=[{"role": "user", "content": "What happens when a provider fails?"}]
    )
    text_out = resp.choices[0].message.content or ""
    assert text_out.startswith("[demo model]")
    assert "Sources:\n[1] Retries and fallbacks when a provider fails" in text_out
    assert inner_calls(fake_upstream) == []  # the demo model runs in the gateway
    assert resp.model_extra["gateway"]["inner_calls"] == 2
