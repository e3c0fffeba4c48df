"""``research``: a ReAct agent that searches and answers with cited sources.

It calls ``web_search`` (Tavily when ``TAVILY_API_KEY`` is set, else the gateway's own
documentation in ``agent_routes/search_corpus/``) as often as it needs, answers citing results as
``[n]``, and its final answer always ends with a ``Sources:`` list built from the search
results of the turn, whatever the model wrote.

config.yaml::

    research:
      graph: agent_routes.research.build
      model: default
      tools: {web_search: {backend: auto, max_results: 4}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage
from langgraph.graph.state import CompiledStateGraph

from agent_routes.agents.react import react_graph, unknown_tools
from agent_routes.runtime.context import AgentContext
from agent_routes.tools.search import search_tool_from_options, turn_sources, with_sources

__all__ = ["SYSTEM_PROMPT", "build", "cite"]

SYSTEM_PROMPT = (
    "You are a careful research assistant. Use the web_search tool to find facts before "
    "answering; search again with other words if the results do not answer the question. "
    "Answer concisely from the results only and cite every fact with its result number, "
    "like [1]. If nothing relevant was found, say so."
)


def cite(answer: str, messages: Sequence[AnyMessage]) -> str:
    """The answer followed by the sources the turn's searches returned."""
    return with_sources(answer, turn_sources(messages))


def build(ctx: AgentContext) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The research graph: agent -> web_search ... -> finish (appends sources)."""
    settings = ctx.tool_settings()
    unknown_tools(list(settings), ["web_search"], ctx.name)
    search = search_tool_from_options(settings.get("web_search"))
    return react_graph(
        model=ctx.chat_model(answer=True),
        tools=[search],
        system_prompt=SYSTEM_PROMPT,
        finish=cite,
        checkpointer=ctx.checkpointer,
        name=ctx.name,
    )
