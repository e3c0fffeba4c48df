"""``support``: a customer-support agent that answers from the knowledge base.

It looks questions up with ``lookup_kb`` in the support articles (``agent_routes/support_kb/``
by default), answers citing article ids (``KB-102``), and offers to escalate when
nothing matches. With a thread id the conversation is remembered across requests (the
run's checkpointer keeps the thread); without one it answers over the messages sent.

config.yaml::

    support:
      graph: agent_routes.support.build
      model: default
      memory: true
      tools: {lookup_kb: {max_results: 2}}
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agent_routes.agents.react import react_graph, unknown_tools
from agent_routes.agents.research import cite
from agent_routes.runtime.context import AgentContext
from agent_routes.tools.kb import kb_from_options, make_kb_tool

__all__ = ["SYSTEM_PROMPT", "build"]

SYSTEM_PROMPT = (
    "You are the support assistant of the Managed Agent Gateway. Look the customer's "
    "question up with lookup_kb before answering, answer in a few friendly sentences from "
    "the articles only, and cite the article id (e.g. KB-102). Remember what the customer "
    "told you earlier in the conversation. If no article helps, say so and offer to "
    "escalate to a human; never invent policies."
)


def build(ctx: AgentContext) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The support graph: agent -> lookup_kb ... -> finish (appends the articles used)."""
    settings = ctx.tool_settings()
    unknown_tools(list(settings), ["lookup_kb"], ctx.name)
    kb, max_results = kb_from_options(settings.get("lookup_kb"))
    return react_graph(
        model=ctx.chat_model(answer=True),
        tools=[make_kb_tool(kb, max_results=max_results)],
        system_prompt=SYSTEM_PROMPT,
        finish=cite,
        checkpointer=ctx.checkpointer,
        name=ctx.name,
    )
