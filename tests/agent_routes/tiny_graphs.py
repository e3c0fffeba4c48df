"""Tiny graphs for the runtime's own tests (independent of the shipped agents).

- ``echo``: one LLM node (answers with the model's reply);
- ``tooly``: a ReAct loop with a ``lookup`` tool and a ``send_email`` tool that asks for
  approval when ``ctx.needs_approval("send_email")``;
- ``loop``: never finishes (for the step limit); ``slow``: sleeps (for the timeout).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agent_routes.runtime.context import AgentContext, emit_step, request_approval


def echo(ctx: AgentContext) -> Any:
    model = ctx.chat_model(answer=True)

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_edge(START, "model")
    g.add_edge("model", END)
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)


def tooly(ctx: AgentContext) -> Any:
    sent: list[dict[str, Any]] = []

    @tool
    def lookup(query: str) -> str:
        """Look something up in the knowledge base."""
        if "explode" in query:
            raise ValueError("lookup backend exploded")
        return f"KB result for {query!r}: the answer is 42."

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email (a side effect: needs approval)."""
        args = {"to": to, "body": body}
        if ctx.needs_approval("send_email"):
            decision = request_approval(action="send_email", args=args, description=f"Send an email to {to}.")
            if decision["decision"] == "reject":
                return f"The human rejected sending the email ({decision.get('reason') or 'no reason'})."
            if decision["decision"] == "edit":
                args = {**args, **decision.get("args", {})}
        sent.append(args)
        emit_step(f"email queued for {args['to']}")
        return f"Email sent to {args['to']}."

    tools = [lookup, send_email]
    model = ctx.chat_model(answer=True).bind_tools(tools)

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)


def loop(ctx: AgentContext) -> Any:
    def spin(state: MessagesState) -> dict[str, Any]:
        return {"messages": []}

    g = StateGraph(MessagesState)
    g.add_node("a", spin)
    g.add_node("b", spin)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "a")
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)


def slow(ctx: AgentContext) -> Any:
    async def nap(state: MessagesState) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"messages": []}

    g = StateGraph(MessagesState)
    g.add_node("nap", nap)
    g.add_edge(START, "nap")
    g.add_edge("nap", END)
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)


def token_probe(ctx: AgentContext) -> Any:
    """Uses its own run token while running, and answers with what the gateway said."""
    import json

    async def probe(state: MessagesState) -> dict[str, Any]:
        from langchain_core.messages import AIMessage

        root = ctx.base_url.removesuffix("/v1")
        body = {"messages": [{"role": "user", "content": "hi"}]}
        async with ctx.gateway_client(timeout=30) as client:
            own = await client.post("chat/completions", json={**body, "model": ctx.spec.model})
            other = await client.post("chat/completions", json={**body, "model": "claude-haiku"})
            admin = await client.get(f"{root}/gateway/keys")
        # The token goes to a file the test names (an answer containing it would be redacted
        # by the secrets guardrail, as it should be).
        token_file = (ctx.tool_settings().get("probe") or {}).get("token_file")
        if token_file:
            Path(token_file).write_text(ctx.api_key)
        report = {
            "own": own.status_code,
            "other": other.status_code,
            "admin": admin.status_code,
        }
        return {"messages": [AIMessage(json.dumps(report))]}

    g = StateGraph(MessagesState)
    g.add_node("probe", probe)
    g.add_edge(START, "probe")
    g.add_edge("probe", END)
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)


def recursive(ctx: AgentContext) -> Any:
    """Calls itself (as a model, through the gateway) until the depth limit stops it."""
    model = ctx.chat_model(model=ctx.name)

    async def again(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("again", again)
    g.add_edge(START, "again")
    g.add_edge("again", END)
    return g.compile(checkpointer=ctx.checkpointer, name=ctx.name)
