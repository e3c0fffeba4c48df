"""Routes chat completions can't carry: the agent catalog, threads, approvals.

Mounted at the front of LiteLLM's app (LiteLLM owns ``/threads`` for its Assistants API,
so ours live under ``/agents/``). Auth is the gateway's own key auth, as for chat: a key
sees the agents it may call and only its own threads; the admin sees everything; agent
run tokens are refused here.

    GET    /agents                              catalog, each graph drawn as Mermaid
    GET    /agents/{name}                       one agent
    GET    /agents/threads                      the caller's threads
    GET    /agents/threads/{thread_id}          state, messages, pending approval
    POST   /agents/threads/{thread_id}/resume   {"decision": "approve"|"reject"|"edit", "args": {...}}
    DELETE /agents/threads/{thread_id}          forget the thread
    GET    /agents/approvals                    pending approvals across the caller's threads
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from langchain_core.messages import convert_to_openai_messages

from agent_routes.runtime.adapter import pending_interrupt
from agent_routes.runtime.context import AgentContext, parse_decision
from agent_routes.runtime.errors import AgentNotFound, ThreadNotFound
from agent_routes.runtime.loopback import inner_call_target
from agent_routes.runtime.output_policy import agent_text_out
from agent_routes.runtime.registry import agents_config, build_graph
from agent_routes.runtime.runner import Caller, RunOutcome, new_agent_run
from agent_routes.runtime.threads import Owner, ThreadRecord, get_thread_store
from custom_hooks.auth.run_tokens import get_run_tokens
from custom_hooks.core.errors import BadRequest, GatewayError, PermissionDenied, error_response
from custom_hooks.core.routes import mount_at_front, read_json_body
from custom_hooks.core.sections.agents import AgentSpec

__all__ = ["mount", "router"]

router = APIRouter(tags=["agents"])


class _Who:
    def __init__(self, ident: Any) -> None:
        self.ident = ident
        self.owner = Owner(key_hash=ident.key_hash, team_id=ident.team_id, is_admin=bool(ident.is_admin))

    def may_call(self, agent: str) -> bool:
        return bool(self.ident.is_admin) or bool(self.ident.may_call(agent))


async def _identify(request: Request) -> _Who:
    from custom_hooks.auth.authenticator import get_authenticator, presented_key

    ident = await get_authenticator().identify(presented_key(request))
    if ident.run is not None:
        raise PermissionDenied("Agent run tokens cannot use the agent routes; use your own key.")
    return _Who(ident)


Handler = Callable[[Request, _Who], Awaitable[Any]]


def _route(path: str, method: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return JSONResponse(await handler(request, await _identify(request)))
            except GatewayError as err:
                return error_response(err)

        endpoint.__name__ = f"agents_{handler.__name__}"
        endpoint.__doc__ = handler.__doc__
        router.add_api_route(path, endpoint, methods=[method])
        return handler

    return register


_drawings: dict[tuple[str, str], str] = {}


def _mermaid(name: str, spec: AgentSpec) -> str:
    key = (name, spec.model_dump_json())
    if key not in _drawings:
        graph = build_graph(name, AgentContext(name=name, spec=spec))
        _drawings[key] = str(graph.get_graph().draw_mermaid())
    return _drawings[key]


def _describe(name: str, spec: AgentSpec) -> dict[str, Any]:
    mermaid: str | None = None
    error: str | None = None
    try:
        mermaid = _mermaid(name, spec)
    except Exception as exc:  # a broken module must not hide the rest of the catalog
        error = f"cannot draw: {exc}"
    out = {
        "id": name,
        "object": "agent",
        "description": spec.description,
        "model": spec.model,
        "models": spec.models,
        "agents": spec.agents,
        "tools": sorted(spec.tools),
        "approval_required": spec.approval_required,
        "step_limit": spec.step_limit,
        "timeout_s": spec.timeout_s,
        "memory": spec.memory,
        "mermaid": mermaid,
    }
    if error:
        out["error"] = error
    return out


@_route("/agents", "GET")
async def list_agents(request: Request, who: _Who) -> Any:
    """The agents this key may call, each with its graph as Mermaid."""
    registry = agents_config().registry
    return {"object": "list", "data": [_describe(n, s) for n, s in registry.items() if who.may_call(n)]}


async def _thread(thread_id: str, who: _Who) -> ThreadRecord:
    rec = await get_thread_store().lookup(thread_id, who.owner)
    if rec is None:
        raise ThreadNotFound(f"Thread '{thread_id}' not found.")
    return rec


async def _state(rec: ThreadRecord) -> Any:
    spec = agents_config().registry.get(rec.agent)
    if spec is None:
        raise AgentNotFound(
            f"Thread '{rec.thread_id}' belongs to agent '{rec.agent}', which is not configured."
        )
    ctx = AgentContext(name=rec.agent, spec=spec, checkpointer=get_thread_store().checkpointer)
    graph = build_graph(rec.agent, ctx)
    return await graph.aget_state({"configurable": {"thread_id": rec.thread_id}})


def _pending(snapshot: Any, thread_id: str) -> dict[str, Any] | None:
    pending = pending_interrupt(snapshot)
    if pending is None:
        return None
    interrupt_id, payload = pending
    return {"thread_id": thread_id, "interrupt_id": interrupt_id, **payload}


@_route("/agents/threads", "GET")
async def list_threads(request: Request, who: _Who) -> Any:
    """The caller's threads (the admin: all)."""
    return {"object": "list", "data": [r.as_dict() for r in await get_thread_store().list(who.owner)]}


@_route("/agents/approvals", "GET")
async def list_approvals(request: Request, who: _Who) -> Any:
    """Approvals waiting on the caller's threads (the admin: all)."""
    out = []
    for rec in (await get_thread_store().list(who.owner))[:200]:
        try:
            pending = _pending(await _state(rec), rec.thread_id)
        except AgentNotFound:
            continue
        if pending:
            out.append({"agent": rec.agent, **pending})
    return {"object": "list", "data": out}


@_route("/agents/threads/{thread_id}", "GET")
async def get_thread(request: Request, who: _Who) -> Any:
    """A thread's messages, state and pending approval."""
    rec = await _thread(request.path_params["thread_id"], who)
    snapshot = await _state(rec)
    values = dict(snapshot.values or {})
    messages = values.pop("messages", [])
    other = {k: v for k, v in values.items() if _jsonable(v)}
    return {
        **rec.as_dict(),
        "object": "agent.thread",
        "messages": convert_to_openai_messages(messages) if messages else [],
        "state": other,
        "next": list(snapshot.next or ()),
        "pending_approval": _pending(snapshot, rec.thread_id),
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


@_route("/agents/threads/{thread_id}", "DELETE")
async def delete_thread(request: Request, who: _Who) -> Any:
    """Forget a thread: checkpoints and owner record."""
    rec = await _thread(request.path_params["thread_id"], who)
    await get_thread_store().delete(rec.thread_id)
    return {"id": rec.thread_id, "object": "agent.thread", "deleted": True}


@_route("/agents/threads/{thread_id}/resume", "POST")
async def resume_thread(request: Request, who: _Who) -> Any:
    """Answer the thread's pending approval and run the agent on; returns its answer."""
    rec = await _thread(request.path_params["thread_id"], who)
    body = await read_json_body(request)
    if not isinstance(body, Mapping) or body.get("decision") not in {"approve", "reject", "edit"}:
        raise BadRequest('Send {"decision": "approve" | "reject" | "edit", "args": {...}}.', param="decision")
    if body["decision"] == "edit" and not isinstance(body.get("args"), Mapping):
        raise BadRequest('An edit needs "args": the arguments to use instead.', param="args")
    if not who.may_call(rec.agent):
        raise PermissionDenied(f"This key may not call agent '{rec.agent}'.")
    ident = who.ident
    caller = Caller(key_hash=ident.key_hash, team_id=ident.team_id, is_admin=bool(ident.is_admin))
    gateway_url, inner = inner_call_target()
    run = new_agent_run(
        agent=rec.agent,
        agents=agents_config(),
        caller=caller,
        messages=[],
        store=get_thread_store(),
        tokens=get_run_tokens(),
        base_url=gateway_url + "/v1",
        loopback=inner,
        parent_request_id=request.headers.get("x-request-id") or "",
        thread_id=rec.thread_id,
        resume=parse_decision(dict(body)),
    )
    outcome: RunOutcome | None = None
    async for kind, value in run.events():
        if kind == "done":
            outcome = value
    assert outcome is not None
    return {
        "object": "agent.run",
        "content": agent_text_out(outcome.content),
        "usage": run.report.get("usage"),
        "gateway": run.gateway_fields(outcome),
    }


@_route("/agents/{name}", "GET")
async def get_agent(request: Request, who: _Who) -> Any:
    """One agent, with its graph as Mermaid."""
    name = request.path_params["name"]
    spec = agents_config().registry.get(name)
    if spec is None or not who.may_call(name):
        raise AgentNotFound(f"No agent named '{name}' is available to this key.")
    return _describe(name, spec)


def mount(app: FastAPI) -> None:
    """Add the agent routes at the FRONT of the app, ahead of LiteLLM's catch-alls."""
    mount_at_front(app, router)
    from agent_routes.api import responses_route as _responses_route

    _responses_route.mount(app)  # /v1/responses for agents, ahead of LiteLLM's
