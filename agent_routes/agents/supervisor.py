"""``supervisor``: a supervisor that delegates to worker agents and assembles the answer.

The multi-agent pattern, hand-built so each handoff is visible::

    START -> supervisor --transfer_to_researcher--> researcher --+
                 ^      --transfer_to_writer-----> writer -----+--> supervisor ...
                 +--(answer)--> finish -> END

The supervisor's model sees two handoff tools, ``transfer_to_researcher(task)`` and
``transfer_to_writer(task, notes)``; calling one runs that worker on the task (parallel
calls run in parallel). Workers are agents of their own: the researcher is the
``research`` ReAct graph (web search with sources) run in-process, the writer turns notes
into prose.
A worker's answer comes back to the supervisor as the handoff's tool result, and the
supervisor composes the final answer, which ends with the sources the researcher used.
Handoffs appear as tool calls named ``transfer_to_<worker>`` (:data:`HANDOFF_PREFIX`),
which the runtime streams as "Handing off to researcher" steps; the researcher's own tool
use is streamed too ("researcher: calling web_search(...)").

config.yaml::

    supervisor:
      graph: agent_routes.supervisor.build
      model: default                      # the supervisor's own model
      models: []                          # add aliases here to give workers other models
      tools:
        web_search: {max_results: 4}      # the researcher's search options
        researcher: {model: default}      # optional: the researcher's model alias (list it in models)
        writer: {model: default}          # optional: the writer's model alias

A worker may instead be another agent of this gateway, called as a model (a nested run
that is governed and billed like any other; list it in ``agents:``)::

      agents: [research]
      tools: {researcher: {agent: research}}
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from agent_routes.agents import research
from agent_routes.agents.react import finish_node, last_ai, react_graph, recent, unknown_tools
from agent_routes.runtime.context import AgentContext, emit_step
from agent_routes.tools.search import parse_sources, search_tool_from_options, turn_sources

__all__ = ["HANDOFF_PREFIX", "SYSTEM_PROMPT", "WORKERS", "build"]

HANDOFF_PREFIX = "transfer_to_"
WORKERS = ("researcher", "writer")

SYSTEM_PROMPT = (
    "You are a supervisor managing two workers. The researcher finds facts with sources "
    "(transfer_to_researcher); the writer turns notes into clear prose "
    "(transfer_to_writer). Delegate each part of the request to the right worker with a "
    "self-contained task, then compose the final answer from their results, keeping the "
    "researcher's citations like [1]. Do not do the workers' jobs yourself."
)

WRITER_PROMPT = (
    "You are a writer. Write a clear, well-structured answer to the task from the notes "
    "you are given; keep citations like [1] exactly as they appear; add no new facts."
)

_HANDOFF_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "transfer_to_researcher",
            "description": "Hand a research task to the researcher: it returns facts with sources.",
            "parameters": {
                "type": "object",
                "properties": {
                    "task": {"type": "string", "description": "What to find out, self-contained."}
                },
                "required": ["task"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "transfer_to_writer",
            "description": "Hand a writing task to the writer, with the notes to write from.",
            "parameters": {
                "type": "object",
                "properties": {
                    "task": {"type": "string", "description": "What to write."},
                    "notes": {"type": "string", "description": "The facts and citations to use."},
                },
                "required": ["task"],
            },
        },
    },
]


def _worker_of(call: ToolCall) -> str | None:
    name = call["name"].removeprefix(HANDOFF_PREFIX)
    return name if call["name"].startswith(HANDOFF_PREFIX) and name in WORKERS else None


def _with_notes(task: str, notes: str) -> str:
    """A worker's prompt: the task, then the notes it was handed (if any)."""
    return f"{task}\n\nNotes:\n{notes}" if notes else task


def build(ctx: AgentContext) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The supervisor graph: supervisor -> researcher | writer (via Send) -> supervisor -> finish."""
    settings = ctx.tool_settings()
    unknown_tools(list(settings), ["web_search", *WORKERS], ctx.name)
    search = search_tool_from_options(settings.get("web_search"))

    workers = {name: _make_worker(ctx, name, settings.get(name) or {}, search) for name in WORKERS}
    supervisor_model = ctx.chat_model(answer=True).bind_tools(_HANDOFF_TOOLS)

    async def supervisor(state: MessagesState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
        reply = await supervisor_model.ainvoke(
            [SystemMessage(SYSTEM_PROMPT), *recent(state["messages"])], config
        )
        out: list[AnyMessage] = [reply]
        for call in reply.tool_calls if isinstance(reply, AIMessage) else []:
            if _worker_of(call) is None:  # answer it here, or the thread holds an unanswered call
                out.append(
                    ToolMessage(
                        f"Error: there is no worker {call['name']!r}; use transfer_to_researcher or "
                        "transfer_to_writer.",
                        tool_call_id=call["id"] or "",
                        name=call["name"],
                        status="error",
                    )
                )
        return {"messages": out}

    def route(state: MessagesState) -> list[Send] | str:
        reply = last_ai(state["messages"])
        calls = list(reply.tool_calls) if reply is not None else []
        sends = [Send(w, {"call": c}) for c in calls if (w := _worker_of(c)) is not None]
        if sends:
            return sends
        return "supervisor" if calls else "finish"

    def worker_node(name: str) -> Any:
        async def run(payload: Any, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
            call: ToolCall = payload["call"]
            task = str(call["args"].get("task") or "")
            notes = str(call["args"].get("notes") or "")
            answer, sources = await workers[name](task, notes, config)
            return {"messages": [_result(call, answer, {"sources": sources} if sources else None)]}

        return run

    graph = StateGraph(MessagesState)
    graph.add_node("supervisor", supervisor)
    # Workers get a Send payload ({"call": ToolCall}), not the graph state.
    for name in WORKERS:
        graph.add_node(name, worker_node(name))
    graph.add_node("finish", finish_node(research.cite))
    graph.add_edge(START, "supervisor")
    graph.add_conditional_edges("supervisor", route, ["researcher", "writer", "supervisor", "finish"])
    graph.add_edge("researcher", "supervisor")
    graph.add_edge("writer", "supervisor")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=ctx.checkpointer, name=ctx.name)


Worker = Callable[[str, str, RunnableConfig], Awaitable[tuple[AIMessage | None, list[dict[str, Any]]]]]
"""``worker(task, notes, config) -> (answer, sources)``."""


def _make_worker(ctx: AgentContext, name: str, options: Mapping[str, Any], search: BaseTool) -> Worker:
    """A worker run in-process on its own model alias, or another gateway agent called as a model."""
    unknown = sorted(set(options) - {"model", "agent"})
    if unknown or ("model" in options and "agent" in options):
        raise ValueError(f"supervisor worker {name!r} takes either 'model' or 'agent', not {sorted(options)}")
    if options.get("agent"):
        remote = ctx.chat_model(model=str(options["agent"]))  # a nested agent run through the gateway

        async def delegate(task: str, notes: str, config: RunnableConfig) -> Any:
            reply = await remote.ainvoke([HumanMessage(_with_notes(task, notes))], config)
            answer = reply if isinstance(reply, AIMessage) else None
            return answer, parse_sources(answer.text) if answer is not None else []

        return delegate
    model = ctx.chat_model(model=str(options["model"]) if options.get("model") else None)
    if name == "researcher":
        graph = react_graph(
            model=model, tools=[search], system_prompt=research.SYSTEM_PROMPT, finish=research.cite, name=name
        )

        async def investigate(task: str, notes: str, config: RunnableConfig) -> Any:
            result: Mapping[str, Any] = {"messages": []}
            async for mode, chunk in graph.astream(
                {"messages": [HumanMessage(task)]}, config, stream_mode=["updates", "values"]
            ):
                if not isinstance(chunk, Mapping):
                    continue
                if mode == "values":
                    result = chunk
                else:
                    for line in _inner_steps(chunk):
                        emit_step(f"{name}: {line}")  # its tool use, which the parent's stream can't see
            return last_ai(result["messages"]), turn_sources(result["messages"])

        return investigate

    async def write(task: str, notes: str, config: RunnableConfig) -> Any:
        reply = await model.ainvoke(
            [SystemMessage(WRITER_PROMPT), HumanMessage(_with_notes(task, notes))], config
        )
        return (reply if isinstance(reply, AIMessage) else None), []

    return write


def _inner_steps(update: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for delta in update.values():
        for msg in (delta or {}).get("messages") or [] if isinstance(delta, Mapping) else []:
            if isinstance(msg, AIMessage):
                lines += [
                    f"calling {c['name']}({json.dumps(c['args'], sort_keys=True)[:120]})"
                    for c in msg.tool_calls
                ]
            elif isinstance(msg, ToolMessage) and msg.status == "error":
                lines.append(f"{msg.name} failed")
    return lines


def _result(call: ToolCall, answer: AIMessage | None, artifact: dict[str, Any] | None) -> ToolMessage:
    text = answer.text if answer is not None else ""
    return ToolMessage(
        content=text or "The worker returned no answer.",
        tool_call_id=call["id"] or "",
        name=call["name"],
        artifact=artifact,
    )
