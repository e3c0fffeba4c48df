"""Request ids and per-request gateway overhead, as an outermost ASGI middleware.

The gateway request id is a fresh uuid4 for every HTTP request, generated here and never
taken from the caller: it is the ledger's unique key, so a caller-chosen id could collide
with (and silently drop) another row. The middleware writes it into the request as
``x-litellm-call-id`` (replacing any the caller sent) so LiteLLM uses it as the call id
(``data["litellm_call_id"]``, ``kwargs["litellm_call_id"]`` in logging callbacks, the
ledger's ``request_id``), and returns it on every response, errors included, as
``x-request-id`` and ``x-litellm-call-id``. One id ties a complaint to the request log
line and the ledger row.

A caller's own ``x-request-id`` (or ``x-litellm-call-id``), when it is a sane token (1-128
chars of ``[A-Za-z0-9._:-]``), is kept as the *client request id*: logged next to ours
(:func:`client_request_id`) so either id finds the log line.

While a request runs, :func:`current` holds a :class:`RequestContext`; the hook-timing
wrappers add their time to it and the middleware observes the total as
``gateway_request_overhead_seconds`` when the response is done. With tracing on
(:mod:`custom_hooks.observability.tracing`), a model request also runs inside its span.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from custom_hooks.core.services import Slot, services
from custom_hooks.observability.metrics import GatewayMetrics, get_metrics

__all__ = [
    "CLIENT_IDS",
    "ClientIds",
    "RequestContext",
    "RequestIdMiddleware",
    "client_request_id",
    "current",
    "current_request_id",
    "sane_client_id",
]

_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_CALL_ID = b"x-litellm-call-id"


@dataclass
class RequestContext:
    """What the gateway tracks about the request being served."""

    request_id: str
    client_request_id: str | None = None
    hook_seconds: float = 0.0


_current: ContextVar[RequestContext | None] = ContextVar("gateway_request", default=None)


def current() -> RequestContext | None:
    """The request being served in this task, if any."""
    return _current.get()


def current_request_id() -> str | None:
    """The gateway request id of the request being served (None outside a request)."""
    ctx = _current.get()
    return ctx.request_id if ctx is not None else None


def sane_client_id(*candidates: str | None) -> str | None:
    """The first caller-supplied id that is a sane token (never echoes arbitrary header text)."""
    for candidate in candidates:
        if candidate and _SANE_ID.match(candidate):
            return candidate
    return None


class ClientIds:
    """Request id -> the client's own request id, for the request log (bounded: entries are
    popped when logged, the oldest dropped past ``limit``)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def remember(self, request_id: str, client_id: str) -> None:
        self._ids[request_id] = client_id
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def get(self, request_id: str, *, pop: bool = False) -> str | None:
        return self._ids.pop(request_id, None) if pop else self._ids.get(request_id)


CLIENT_IDS: Slot[ClientIds] = Slot("client-ids", "the request id map")


def client_request_id(request_id: str | None, *, pop: bool = False) -> str | None:
    """The id the caller sent with request ``request_id``, if it sent a sane one."""
    if not request_id:
        return None
    return services().get(CLIENT_IDS).get(request_id, pop=pop)


class RequestIdMiddleware:
    """Assign the request id, return it, and observe the gateway's own overhead."""

    def __init__(
        self, app: ASGIApp, header: str = "x-request-id", metrics: GatewayMetrics | None = None
    ) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self._metrics = metrics
        from custom_hooks.observability.tracing import active

        self._tracing = active()  # None unless OTEL_* asks for traces: then no per-request work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        found: dict[bytes, str] = {}
        for name, value in headers:
            if name in (self.header, _CALL_ID) and name not in found:
                found[name] = value.decode("latin-1")
        request_id = str(uuid.uuid4())
        client_id = sane_client_id(found.get(self.header), found.get(_CALL_ID))
        if client_id is not None:
            services().get(CLIENT_IDS).remember(request_id, client_id)
        encoded = request_id.encode("latin-1")
        headers = [(n, v) for n, v in headers if n not in (self.header, _CALL_ID)]
        headers += [(self.header, encoded), (_CALL_ID, encoded)]
        scope = dict(scope)
        scope["headers"] = headers

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = (self.header, _CALL_ID)
                out = [(n, v) for n, v in message.get("headers") or [] if n.lower() not in ours]
                out += [(self.header, encoded), (_CALL_ID, encoded)]
                message = dict(message)
                message["headers"] = out
            await send(message)

        ctx = RequestContext(request_id, client_id)
        token = _current.set(ctx)
        try:
            if self._tracing is None:
                await self.app(scope, receive, send_with_id)
            else:
                await self._tracing.serve(self.app, scope, receive, send_with_id, request_id, client_id)
        finally:
            _current.reset(token)
            if ctx.hook_seconds > 0:
                (self._metrics or get_metrics()).request_overhead.observe(ctx.hook_seconds)
