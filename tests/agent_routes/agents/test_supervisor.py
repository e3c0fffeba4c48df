"""supervisor: delegates to the researcher and the writer, then composes the answer."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent_routes.agents import supervisor
from tests.agent_routes.graph_fakes import Factory, call, make_ctx


def _ctx(factory: Factory, **kw: Any) -> Any:
    kw.setdefault("tools", {"web_search": {"backend": "local", "max_results": 2}})
    return make_ctx("supervisor", "agent_routes.supervisor.build", factory, **kw)


def _who(messages: list[Any]) -> str:
    system = messages[0].content if isinstance(messages[0], SystemMessage) else ""
    if system.startswith("You are a supervisor"):
        return "supervisor"
    return "writer" if system.startswith("You are a writer") else "researcher"


async def test_researcher_then_writer_then_the_supervisor_composes() -> None:
    factory = Factory()
    factory.script.steps = [
        call("transfer_to_researcher", task="find how budgets work"),
        call("web_search", query="budgets"),
        "Budgets cap spend [1].",
        call("transfer_to_writer", task="explain budgets to a manager", notes="Budgets cap spend [1]."),
        "In short: budgets cap what a key or a team can spend [1].",
        "In short: budgets cap what a key or a team can spend [1].",
    ]
    graph = supervisor.build(_ctx(factory))
    steps: list[str] = []
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(
        {"messages": [HumanMessage("Explain budgets")]}, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            steps.append(chunk["gateway_step"])
        else:
            final = chunk

    assert [_who(c.messages) for c in factory.calls] == [
        "supervisor",
        "researcher",
        "researcher",
        "supervisor",
        "writer",
        "supervisor",
    ]
    # handoffs are visible as transfer_to_* tool calls; the researcher's own tool use as steps
    assert steps == ['researcher: calling web_search({"query": "budgets"})']
    # each worker gets only its task; the writer gets the notes too
    assert factory.calls[1].messages[-1].content == "find how budgets work"
    assert (
        factory.calls[4].messages[-1].content
        == "explain budgets to a manager\n\nNotes:\nBudgets cap spend [1]."
    )
    assert factory.calls[0].tools == ["transfer_to_researcher", "transfer_to_writer"]
    assert factory.calls[1].tools == ["web_search"]
    assert factory.calls[4].tools == []

    messages = final["messages"]
    handoffs = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in handoffs] == ["transfer_to_researcher", "transfer_to_writer"]
    assert handoffs[0].content.startswith("Budgets cap spend [1].\n\nSources:\n[1] Budgets and spend")
    assert messages[-1].content == (
        "In short: budgets cap what a key or a team can spend [1].\n\n"
        "Sources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md"
    )
    # the workers' inner messages stay inside the workers
    assert not any(
        isinstance(m, AIMessage) and m.tool_calls and m.tool_calls[0]["name"] == "web_search"
        for m in messages
    )


async def test_parallel_handoffs_and_an_unknown_worker() -> None:
    factory = Factory()

    def anyone(messages: list[Any], tools: list[dict[str, Any]]) -> AIMessage | str:
        who = _who(messages)
        if who == "supervisor":
            results = [m for m in messages if isinstance(m, ToolMessage)]
            if not results:
                return AIMessage(
                    "",
                    tool_calls=[
                        {"name": "transfer_to_researcher", "args": {"task": "facts"}, "id": "r1"},
                        {"name": "transfer_to_writer", "args": {"task": "prose"}, "id": "w1"},
                        {"name": "transfer_to_chef", "args": {"task": "soup"}, "id": "c1"},
                    ],
                )
            return "done: " + " | ".join(sorted(str(m.name) for m in results))
        return f"{who} result"

    factory.script.steps = [anyone] * 4
    out = await supervisor.build(_ctx(factory)).ainvoke({"messages": [HumanMessage("go")]})
    results = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert set(results) == {"r1", "w1", "c1"}  # every call is answered
    assert results["c1"].status == "error"
    assert "no worker 'transfer_to_chef'" in results["c1"].content
    assert results["r1"].content == "researcher result"
    assert results["w1"].content == "writer result"
    assert (
        out["messages"][-1].content == "done: transfer_to_chef | transfer_to_researcher | transfer_to_writer"
    )


async def test_on_the_demo_model_it_delegates_and_cites() -> None:
    factory = Factory(demo=True)
    out = await supervisor.build(_ctx(factory)).ainvoke(
        {"messages": [HumanMessage("How does cost routing pick a cheaper model?")]}
    )
    names = [m.name for m in out["messages"] if isinstance(m, ToolMessage)]
    assert names == ["transfer_to_researcher"]
    text = out["messages"][-1].content
    assert text.startswith("[demo model]")
    assert "Sources:\n[1] Cost routing - agent_routes/search_corpus/cost-routing.md" in text


def test_worker_models_come_from_config_and_drawing() -> None:
    factory = Factory()
    graph = supervisor.build(
        _ctx(
            factory,
            model="gpt-4o",
            models=["gpt-4o-mini"],
            tools={"researcher": {"model": "gpt-4o-mini"}, "web_search": {"backend": "local"}},
        )
    )
    assert sorted(factory.aliases) == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]  # writer, supervisor; researcher
    mermaid = graph.get_graph().draw_mermaid()
    for node in ("supervisor", "researcher", "writer", "finish"):
        assert f"\t{node}({node})" in mermaid
    with pytest.raises(ValueError, match="has no tool"):
        supervisor.build(_ctx(Factory(), tools={"chef": {}}))


async def test_a_worker_can_be_another_gateway_agent() -> None:
    factory = Factory()
    factory.script.steps = [
        call("transfer_to_researcher", task="find budgets"),
        "Budgets cap spend [1].\n\nSources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md",
        "Budgets cap spend [1].",
    ]
    graph = supervisor.build(
        _ctx(factory, agents=["research"], tools={"researcher": {"agent": "research"}, "web_search": {}})
    )
    out = await graph.ainvoke({"messages": [HumanMessage("Explain budgets")]})
    assert "research" in factory.aliases
    nested = factory.calls[1]
    assert nested.tools == []  # the agent behind the alias has its own tools and prompt
    assert [type(m).__name__ for m in nested.messages] == ["HumanMessage"]
    assert nested.messages[0].content == "find budgets"
    handoff = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert handoff.content.startswith("Budgets cap spend [1].\n\nSources:")
    # the nested agent's sources list carries over to the supervisor's answer
    assert out["messages"][-1].content == (
        "Budgets cap spend [1].\n\nSources:\n[1] Budgets and spend - agent_routes/search_corpus/budgets.md"
    )
    with pytest.raises(ValueError, match="either 'model' or 'agent'"):
        supervisor.build(_ctx(Factory(), tools={"writer": {"model": "a", "agent": "b"}}))
