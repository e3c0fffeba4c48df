"""``approvals``: an assistant whose side-effecting actions wait for a human.

It can ``send_email`` and ``create_record`` (both write to the outbox in the data
directory, see ``agent_routes/tools/actions.py``). A tool listed in the agent's
``approval_required`` pauses the run with an approval request (``interrupt()``); the
caller answers ``approve``, ``reject`` or an edit, and only then does the action happen
(with the edited arguments on an edit). A rejection goes back to the model as the tool's
result, so it can tell the user nothing was done.

config.yaml::

    approvals:
      graph: agent_routes.approvals.build
      model: default
      memory: true                       # approvals need a thread to resume
      tools: {send_email: {}, create_record: {}}
      approval_required: [send_email, create_record]
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agent_routes.agents.react import react_graph, unknown_tools
from agent_routes.runtime.context import AgentContext
from agent_routes.tools.actions import ACTIONS, Outbox, make_action_tools, outbox_path

__all__ = ["SYSTEM_PROMPT", "build"]

SYSTEM_PROMPT = (
    "You are an assistant that acts for the user: you can send emails and create records "
    "with your tools. Fill in the arguments from the user's request, writing a short, "
    "polite subject and body when the user did not give them. Some actions need a human's "
    "approval: the tool waits for it. If an action was rejected, tell the user it was not "
    "done and do not retry unless asked. Report what was done, with the outbox id."
)


def build(ctx: AgentContext) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The approvals graph: agent -> send_email/create_record (approval first) ... -> finish."""
    settings = ctx.tool_settings()
    unknown_tools(list(settings), list(ACTIONS), ctx.name)
    names = [n for n in ACTIONS if n in settings] or list(ACTIONS)
    outbox = next((str(o["outbox"]) for o in settings.values() if o and o.get("outbox")), None)
    tools = make_action_tools(names, Outbox(outbox_path(outbox)), needs_approval=ctx.needs_approval)
    return react_graph(
        model=ctx.chat_model(answer=True),
        tools=tools,
        system_prompt=SYSTEM_PROMPT,
        checkpointer=ctx.checkpointer,
        name=ctx.name,
        one_tool_at_a_time=True,  # one pending approval at a time
    )
