"""support: knowledge-base answers and thread memory (with and without a checkpointer)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from agent_routes.agents import support
from tests.agent_routes.graph_fakes import Factory, call, make_ctx


def _ctx(factory: Factory, **kw: Any) -> Any:
    return make_ctx("support", "agent_routes.support.build", factory, **kw)


def _texts(messages: list[Any]) -> str:
    return "\n".join(str(m.content) for m in messages)


async def test_memory_across_three_turns_on_one_thread() -> None:
    factory = Factory()

    def recall_name(messages: list[Any], tools: list[dict[str, Any]]) -> str:
        assert "my name is Ada" in _texts(messages)  # turn 1 is remembered
        return "You are Ada, and KB-102 explains budget_exceeded."

    factory.script.steps = [
        "Hi Ada, how can I help?",
        call("lookup_kb", query="budget_exceeded"),
        "Wait for the window to reset or ask to raise the budget (KB-102).",
        recall_name,
    ]
    graph = support.build(_ctx(factory, checkpointer=InMemorySaver()))
    cfg = {"configurable": {"thread_id": "ada"}}
    await graph.ainvoke({"messages": [HumanMessage("Hello, my name is Ada.")]}, cfg)
    second = await graph.ainvoke({"messages": [HumanMessage("I get budget_exceeded, why?")]}, cfg)
    assert second["messages"][-1].content.startswith("Wait for the window to reset")
    assert (
        "Sources:\n[1] KB-102: My requests fail with budget_exceeded (HTTP 400)"
        in second["messages"][-1].content
    )
    third = await graph.ainvoke({"messages": [HumanMessage("What's my name?")]}, cfg)

    assert third["messages"][-1].content == "You are Ada, and KB-102 explains budget_exceeded."
    assert sum(isinstance(m, HumanMessage) for m in third["messages"]) == 3
    # the KB article text reached the model as the tool's result in turn 2
    tool_results = [m for m in factory.calls[2].messages if isinstance(m, ToolMessage)]
    assert "KB-102: My requests fail with budget_exceeded" in tool_results[-1].content


async def test_another_thread_and_no_checkpointer_start_empty() -> None:
    factory = Factory()

    def forgetful(messages: list[Any], tools: list[dict[str, Any]]) -> str:
        assert "Ada" not in _texts(messages)
        return "I don't know your name yet."

    factory.script.steps = ["Hi Ada.", forgetful, forgetful]
    saver = InMemorySaver()
    graph = support.build(_ctx(factory, checkpointer=saver))
    await graph.ainvoke({"messages": [HumanMessage("I am Ada")]}, {"configurable": {"thread_id": "a"}})
    out = await graph.ainvoke({"messages": [HumanMessage("Who am I?")]}, {"configurable": {"thread_id": "b"}})
    assert out["messages"][-1].content == "I don't know your name yet."

    stateless = support.build(_ctx(factory))  # no checkpointer: works over the messages sent
    out = await stateless.ainvoke({"messages": [HumanMessage("Who am I?")]})
    assert len(out["messages"]) == 2


async def test_on_the_demo_model_it_answers_from_the_article() -> None:
    factory = Factory(demo=True)
    graph = support.build(_ctx(factory, checkpointer=InMemorySaver()))
    cfg = {"configurable": {"thread_id": "t"}}
    out = await graph.ainvoke({"messages": [HumanMessage("I lost my API key, what now?")]}, cfg)
    text = out["messages"][-1].content
    assert isinstance(out["messages"][-1], AIMessage)
    assert "KB-101" in text
    assert "agent_routes/support_kb/kb-101-reset-api-key.md" in text
    out = await graph.ainvoke({"messages": [HumanMessage("And rate limits?")]}, cfg)
    assert "KB-103" in out["messages"][-1].content
    assert len(out["messages"]) == 8  # both turns kept on the thread


def test_options_and_drawing(tmp_path: Any) -> None:
    (tmp_path / "x.md").write_text("# FAQ-1: Opening hours\n\nWe are open 9 to 5.\n")
    graph = support.build(_ctx(Factory(), tools={"lookup_kb": {"kb_dir": str(tmp_path)}}))
    assert "lookup_kb" in graph.get_graph().draw_mermaid()
    with pytest.raises(ValueError, match="has no tool"):
        support.build(_ctx(Factory(), tools={"web_search": {}}))
