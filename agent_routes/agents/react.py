"""The tool-calling loop the shipped agents share (a hand-built ReAct graph).

::

    START -> agent --(tool calls)--> tools -> agent ... --(answer)--> finish -> END

``agent`` calls the chat model with the system prompt and the thread's recent messages
(:data:`HISTORY_WINDOW`; the prompt is not stored in the thread), ``tools`` is a ``ToolNode`` with
``handle_tool_errors=True`` (a failing tool becomes a tool message the model can react
to), and ``finish`` may rewrite the final answer in place, e.g. to append a sources list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

__all__ = ["HISTORY_WINDOW", "Finisher", "finish_node", "last_ai", "react_graph", "recent", "unknown_tools"]

HISTORY_WINDOW = 60
"""Messages of a thread sent to the model: a long thread stays within the model's context
(and the gateway's request limits) while the checkpointer keeps the whole thread."""

Finisher = Callable[[str, Sequence[AnyMessage]], str]
"""``finish(answer, messages) -> answer``: a pure rewrite of the final answer's text."""


def last_ai(messages: Sequence[AnyMessage]) -> AIMessage | None:
    """The last AI message, if any."""
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def recent(messages: Sequence[AnyMessage], limit: int = HISTORY_WINDOW) -> list[AnyMessage]:
    """The last ``limit`` messages, starting at a human message (never at an orphan tool result)."""
    if len(messages) <= limit:
        return list(messages)
    window = list(messages[-limit:])
    start = next((i for i, m in enumerate(window) if isinstance(m, HumanMessage)), None)
    if start is None:  # one turn longer than the window: keep its question
        last_human = next(
            (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), 0
        )
        return list(messages[last_human:])
    return window[start:]


def unknown_tools(configured: Sequence[str], known: Sequence[str], agent: str) -> None:
    """Refuse tool options for tools the agent does not have (a typo in config.yaml)."""
    extra = sorted(set(configured) - set(known))
    if extra:
        raise ValueError(f"agent {agent!r} has no tool(s) {extra}; its tools are {sorted(known)}")


class FinishNode(Protocol):
    def __call__(self, state: MessagesState) -> dict[str, list[AnyMessage]]: ...


def finish_node(finish: Finisher | None) -> FinishNode:
    """A graph node that rewrites the last AI answer with ``finish(answer, messages)``.

    The rewritten message keeps its id, so it replaces the answer in place; no update when
    ``finish`` is None, there is no text answer, or the text is unchanged.
    """

    def node(state: MessagesState) -> dict[str, list[AnyMessage]]:
        last = last_ai(state["messages"])
        if finish is None or last is None or not isinstance(last.content, str):
            return {"messages": []}
        text = finish(last.content, state["messages"])
        if text == last.content:
            return {"messages": []}
        return {"messages": [last.model_copy(update={"content": text})]}  # same id: replaced in place

    return node


def react_graph(
    *,
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    system_prompt: str,
    finish: Finisher | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    name: str = "agent",
    one_tool_at_a_time: bool = False,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the loop above; ``finish`` defaults to leaving the answer as it is.

    ``one_tool_at_a_time`` asks the model for at most one tool call per turn
    (``parallel_tool_calls=False``), e.g. so approvals come one by one.
    """
    extra: dict[str, Any] = {"parallel_tool_calls": False} if one_tool_at_a_time else {}
    bound = model.bind_tools(list(tools), **extra) if tools else model

    async def agent(state: MessagesState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
        reply = await bound.ainvoke([SystemMessage(system_prompt), *recent(state["messages"])], config)
        return {"messages": [reply]}

    def route(state: MessagesState) -> Literal["tools", "finish"]:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "finish"

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode(list(tools), handle_tool_errors=True))
    graph.add_node("finish", finish_node(finish))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", "finish"])
    graph.add_edge("tools", "agent")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name)
