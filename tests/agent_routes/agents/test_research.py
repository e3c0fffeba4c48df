"""research: ReAct over web_search, answers cite sources; driven by fake chat models."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from agent_routes.agents import research
from tests.agent_routes.graph_fakes import Factory, call, make_ctx


def _ctx(factory: Factory, **spec: Any) -> Any:
    spec.setdefault("tools", {"web_search": {"backend": "local", "max_results": 3}})
    return make_ctx("research", "agent_routes.research.build", factory, **spec)


async def test_searches_then_answers_with_only_the_cited_sources() -> None:
    factory = Factory()
    factory.script.steps = [call("web_search", query="budgets"), "Budgets cap spend per key and team [1]."]
    graph = research.build(_ctx(factory, model="gpt-4o-mini"))
    out = await graph.ainvoke({"messages": [HumanMessage("How do budgets work?")]})

    answer = out["messages"][-1]
    assert isinstance(answer, AIMessage)
    assert answer.content == (
        "Budgets cap spend per key and team [1].\n\n"
        "Sources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md"
    )
    assert factory.aliases == ["gpt-4o-mini"]  # the spec's model alias, nothing else
    first, second = factory.calls
    assert first.tools == ["web_search"]
    assert isinstance(first.messages[0], SystemMessage)
    tool_result = second.messages[-1]
    assert isinstance(tool_result, ToolMessage)
    assert "[1] Budgets and spend (agent_routes/search_corpus/budgets.md)" in tool_result.content


async def test_on_the_demo_model_the_answer_shows_its_sources() -> None:
    factory = Factory(demo=True)
    graph = research.build(_ctx(factory))
    out = await graph.ainvoke({"messages": [HumanMessage("What happens when a provider fails?")]})
    text = out["messages"][-1].content
    assert text.startswith("[demo model] From the tool result:")
    source = (
        "[1] Retries and fallbacks when a provider fails - "
        + "agent_routes/search_corpus/retries-and-fallbacks.md"
    )
    assert f"\n\nSources:\n{source}" in text
    assert [type(m).__name__ for m in out["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]


async def test_a_failing_search_goes_back_to_the_model_as_a_tool_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test")  # auto backend = Tavily, at a closed local port
    dead = {"web_search": {"url": "http://127.0.0.1:9/search"}}
    factory = Factory()
    seen: list[ToolMessage] = []

    def answer(messages: list[Any], tools: list[dict[str, Any]]) -> str:
        seen.append(messages[-1])
        return "Search is unavailable right now."

    factory.script.steps = [call("web_search", query="x"), answer]
    graph = research.build(_ctx(factory, tools=dead))
    out = await graph.ainvoke({"messages": [HumanMessage("anything")]})
    (error,) = seen
    assert error.status == "error"
    assert "web search failed: ConnectError" in error.content
    assert out["messages"][-1].content == "Search is unavailable right now."  # no sources to list


async def test_thread_keeps_history_but_not_the_system_prompt() -> None:
    factory = Factory()
    factory.script.steps = [
        call("web_search", query="threads"),
        "Threads persist [1].",
        "You asked about threads.",
    ]
    graph = research.build(_ctx(factory, checkpointer=InMemorySaver()))
    cfg = {"configurable": {"thread_id": "t1"}}
    await graph.ainvoke({"messages": [HumanMessage("Do threads survive a restart?")]}, cfg)
    out = await graph.ainvoke({"messages": [HumanMessage("What did I ask?")]}, cfg)
    assert not any(isinstance(m, SystemMessage) for m in out["messages"])
    last_call = factory.calls[-1].messages
    assert [type(m).__name__ for m in last_call] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
    ]
    # the second turn's answer cites nothing from this turn, so no sources list is added
    assert out["messages"][-1].content == "You asked about threads."


def test_config_typos_and_the_drawing() -> None:
    with pytest.raises(ValueError, match="has no tool"):
        research.build(_ctx(Factory(), tools={"web_serch": {}}))
    mermaid = research.build(_ctx(Factory())).get_graph().draw_mermaid()
    for node in ("agent", "tools", "finish", "web_search"):
        assert node in mermaid
