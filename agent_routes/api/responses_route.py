"""``POST /v1/responses`` in front of LiteLLM's: agents get a real Responses API.

LiteLLM serves the Responses API for a provider without one (our ``agent`` and ``demo``
custom providers, Anthropic, Ollama) by bridging to chat completions. For agents the
bridge loses what matters: ``metadata.thread_id``, the run's headers and facts, the
approval request, ``previous_response_id``, and its reasoning events lack
``summary_index`` / ``reasoning_summary_part.*``. So this endpoint, mounted ahead of
LiteLLM's, takes requests **for agent models** and:

1. translates them (:func:`agent_routes.api.responses.chat_request`): the thread is
   ``metadata.thread_id``, else the ``x-thread-id`` header, else the thread a
   ``previous_response_id`` names; a memory agent called without one gets a new thread
   (unless ``store: false``) so its response can be continued;
2. sends them to the gateway's own ``/v1/chat/completions`` with the caller's credentials
   (loopback): auth, budgets, guardrails, the ledger and the agent runtime apply exactly
   as for chat;
3. answers in OpenAI's Responses format, streamed event by event, with the
   ``x-gateway-*`` headers and the run's facts in ``response.metadata``
   (``gateway_run_id``, ``gateway_thread_id``, ``gateway_interrupt_id``, ...).

Every other request goes to LiteLLM's endpoint untouched, except one: a
``previous_response_id`` for a model LiteLLM bridges (it would silently drop the
history) is refused with 400 naming ``previous_response_id``; OpenAI and Azure
deployments keep it natively.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route

from agent_routes.api.responses import (
    ResponseStream,
    chat_request,
    response_id,
    response_object,
    thread_of_response_id,
)
from agent_routes.runtime.registry import agents_config
from agent_routes.runtime.request_ids import THREAD_HEADER
from custom_hooks.core.catalog import agent_model_names
from custom_hooks.core.errors import BadRequest, GatewayError, error_response

__all__ = ["PATHS", "mount"]

PATHS = ("/v1/responses", "/responses", "/openai/v1/responses")
_NATIVE_RESPONSES = ("openai/", "azure/")  # LiteLLM passes previous_response_id through to these
_FORWARD = ("authorization", "api-key", "x-api-key", THREAD_HEADER, "x-request-id", "user-agent")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _config() -> Any:
    from custom_hooks.core.lifecycle import current_config

    return current_config()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request body again (it was read to pick the route), then the client's own
    messages: a streaming response listens on them for the client disconnecting."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _thread_for(body: Mapping[str, Any], headers: Mapping[str, str], agent: str) -> str | None:
    """The thread this request runs on (see the module docstring), or None for a private run."""
    md = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    named = (md or {}).get("thread_id") or headers.get(THREAD_HEADER)
    previous = body.get("previous_response_id")
    spec = agents_config().registry.get(agent)
    memory = bool(spec is not None and spec.memory)
    if previous:
        from_previous = thread_of_response_id(str(previous))
        if from_previous is None or not memory:
            why = (
                f"agent '{agent}' keeps no memory between requests; send the whole conversation in `input`"
                if from_previous is not None or not memory
                else "it does not name an agent thread on this gateway"
            )
            raise BadRequest(f"Cannot continue previous_response_id: {why}.", param="previous_response_id")
        if named and str(named) != from_previous:
            raise BadRequest(
                "previous_response_id and metadata.thread_id name different threads; send one of them.",
                param="previous_response_id",
            )
        return from_previous
    if named:
        return str(named)
    if memory and body.get("store", True) is not False:
        import uuid

        return f"thr_{uuid.uuid4().hex}"
    return None


def _bridged_previous_response(body: Mapping[str, Any]) -> BadRequest | None:
    """The 400 for a ``previous_response_id`` LiteLLM would drop (a bridged model)."""
    if not body.get("previous_response_id"):
        return None
    deployments = _config().deployments(str(body.get("model")))
    if not deployments:
        return None  # unknown model: LiteLLM's own 404
    models = [str((d.get("litellm_params") or {}).get("model", "")) for d in deployments]
    if all(m.startswith(_NATIVE_RESPONSES) for m in models):
        return None
    return BadRequest(
        f"previous_response_id is not supported for model '{body.get('model')}' on this gateway: its "
        "provider has no Responses API, so no earlier response is stored. Send the earlier turns in "
        "`input` instead.",
        param="previous_response_id",
        code="previous_response_unsupported",
    )


class ResponsesFront:
    """The ASGI endpoint for :data:`PATHS` (agents here, everything else to LiteLLM)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def _litellm_route(self, scope: Scope) -> BaseRoute | None:
        for route in self.app.router.routes:
            if getattr(route, "endpoint", None) is not self:
                match, child_scope = route.matches(scope)
                if match == Match.FULL:
                    scope.update(child_scope)
                    return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        agent = None
        if isinstance(body, dict):
            agent = agent_model_names(_config().model_list).get(str(body.get("model")))
        try:
            if agent is None:
                refusal = _bridged_previous_response(body) if isinstance(body, dict) else None
                if refusal is not None:
                    raise refusal
                route = self._litellm_route(scope)
                if route is None:
                    response: Response = JSONResponse({"detail": "Not Found"}, status_code=404)
                else:
                    await route.handle(scope, _replay(raw, receive), send)
                    return
            else:
                assert isinstance(body, dict)
                response = await self._agent(scope, body, agent)
        except GatewayError as err:
            response = error_response(err)
        await response(scope, receive, send)

    async def _agent(self, scope: Scope, body: dict[str, Any], agent: str) -> Response:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        thread = _thread_for(body, headers, agent)
        chat = chat_request(body, thread_id=thread)
        forward = {k: v for k, v in headers.items() if k in _FORWARD}
        rid = response_id(thread)
        spec = agents_config().registry.get(agent)
        timeout = httpx.Timeout(
            connect=10.0, read=(spec.timeout_s if spec else 300.0) + 60.0, write=30.0, pool=10.0
        )
        client = _loopback_client(timeout)
        if not chat["stream"]:
            try:
                r = await client.post("/v1/chat/completions", json=chat, headers=forward)
            finally:
                await client.aclose()
            if r.status_code != 200:
                return Response(r.content, status_code=r.status_code, media_type="application/json")
            return JSONResponse(response_object(body, r.json(), rid=rid), headers=_run_headers(r.headers))
        request = client.build_request("POST", "/v1/chat/completions", json=chat, headers=forward)
        upstream = await client.send(request, stream=True)
        if upstream.status_code != 200:
            content = await upstream.aread()
            await upstream.aclose()
            await client.aclose()
            return Response(content, status_code=upstream.status_code, media_type="application/json")
        return StreamingResponse(
            _events(upstream, client, ResponseStream(body, rid)),
            media_type="text/event-stream",
            headers=_run_headers(upstream.headers),
        )


def _loopback_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """A client to this gateway's own chat completions: in-process unless configured to use HTTP."""
    from agent_routes.runtime.loopback import inner_call_target

    url, inner = inner_call_target()
    transport = inner.transport if inner is not None else None
    return httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport)


def _run_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("x-gateway-")}


def _sse(event: Mapping[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


async def _events(
    upstream: httpx.Response, client: httpx.AsyncClient, stream: ResponseStream
) -> AsyncIterator[str]:
    try:
        for event in stream.start():
            yield _sse(event)
        async for line in upstream.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if isinstance(chunk, dict) and isinstance(chunk.get("error"), Mapping):
                for event in stream.failed(chunk["error"]):
                    yield _sse(event)
                return
            for event in stream.feed(chunk):
                yield _sse(event)
        for event in stream.finish():
            yield _sse(event)
    except httpx.HTTPError:
        for event in stream.failed(
            {"code": "agent_stream_interrupted", "message": "The agent stream broke off."}
        ):
            yield _sse(event)
    finally:
        await upstream.aclose()
        await client.aclose()


def mount(app: FastAPI) -> None:
    """Put :class:`ResponsesFront` ahead of LiteLLM's ``/v1/responses`` routes."""
    front = ResponsesFront(app)
    app.router.routes[0:0] = [Route(path, endpoint=front, methods=["POST"]) for path in PATHS]
