"""Agent inner calls served by this process's own ASGI app, without a socket.

An agent's LLM calls go back through the gateway under the run token, so each one is
authenticated, routed, budgeted, guarded and recorded like a direct call. Over loopback
HTTP each also paid for a socket, the server's HTTP parsing and the client's, and the event
loop's wake-ups for both ends. :class:`LoopbackTransport` is an ``httpx`` transport that
hands the request to the same ASGI app the server runs (the front door, every middleware,
LiteLLM's routes and our hooks) and streams the response back as the app sends it.

What it keeps equal to a request from the network:

- a clean context: the app runs in a task started from a copy of the context captured at
  start-up, so nothing the outer request set (LiteLLM's internal-call and logging flags,
  our request context, the trace span) leaks into the inner one; the trace parent travels
  in the ``traceparent`` header as it did over HTTP;
- the client's disconnect: closing the response early (a run cancelled or timed out)
  makes ``receive()`` answer ``http.disconnect``, which is what the app sees when a socket
  closes; the app is never cancelled from here, so its own cleanup (the ledger row of a
  partial stream) runs;
- an app that fails: before its response starts, a 500 (as uvicorn sends); after, a read
  error on the body (as a closed connection);
- ``httpx``'s read timeout, per message.

``gateway.agents.inner_calls: http`` turns it off (inner calls then go to the public URL).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services

__all__ = ["LOOPBACK", "Loopback", "LoopbackTransport", "inner_call_target", "loopback", "step"]

log = logging.getLogger("gateway.agents")

ASGIApp = Any  # (scope, receive, send) -> awaitable; Starlette's app

_END = object()
_INTERNAL_ERROR = b"Internal Server Error"


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Sends each request to ``app`` in this process and streams its response back."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: tuple[str, int] = ("127.0.0.1", 4000),
        context: contextvars.Context | None = None,
        origin: str | None = None,
    ) -> None:
        self._app = app
        self._origin = httpx.URL(origin).copy_with(path="/", query=None) if origin else None
        self._server = server
        self._context = context if context is not None else contextvars.Context()
        self._running: set[asyncio.Task[None]] = set()  # an app task outlives its response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if self._origin is not None and url.copy_with(path="/", query=None, fragment=None) != self._origin:
            # Only this gateway is served here: anything else would silently reach the wrong app.
            raise httpx.ConnectError(f"the in-process transport serves {self._origin} only", request=request)
        body = await request.aread()
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": self._server,
            "state": {},
        }
        exchange = _Exchange(body, _read_timeout(request))
        task = asyncio.create_task(self._serve(scope, exchange), context=self._context.copy())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            status, headers = await exchange.started()
        except BaseException:
            exchange.disconnect()
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(exchange),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _serve(self, scope: dict[str, Any], exchange: _Exchange) -> None:
        try:
            await self._app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            log.exception("an agent's inner call failed in the app")  # as uvicorn logs it
            if not exchange.has_started:
                await exchange.send({"type": "http.response.start", "status": 500, "headers": []})
                await exchange.send({"type": "http.response.body", "body": _INTERNAL_ERROR})
            else:
                exchange.fail(exc)
        finally:
            exchange.finish()

    async def aclose(self) -> None:
        """Nothing to close: the transport is shared; running app tasks finish on their own."""


class _Exchange:
    """One request's messages between the app (``receive``/``send``) and the client."""

    __slots__ = ("_body", "_disconnected", "_error", "_messages", "_timeout", "complete", "has_started")

    def __init__(self, body: bytes, timeout: float | None) -> None:
        self._body: bytes | None = body
        self._timeout = timeout
        self._messages: asyncio.Queue[Any] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._error: BaseException | None = None
        self.has_started = False
        self.complete = False

    # -- the app's side --------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self._disconnected.is_set():
            return  # the client is gone; the app finds out from receive()
        kind = message.get("type")
        if kind == "http.response.start":
            self.has_started = True
            self._messages.put_nowait(message)
        elif kind == "http.response.body":
            self._messages.put_nowait(message)
            if not message.get("more_body", False):
                self.complete = True

    def fail(self, exc: BaseException) -> None:
        """The app raised after its response started: the body ends in an error (at ``finish``)."""
        self._error = exc

    def finish(self) -> None:
        self._messages.put_nowait(_END)

    # -- the client's side -----------------------------------------------------------------

    async def _next(self) -> Any:
        if self._timeout is None:
            return await self._messages.get()
        try:
            async with asyncio.timeout(self._timeout):
                return await self._messages.get()
        except TimeoutError:
            raise httpx.ReadTimeout("the gateway's inner call sent nothing within the read timeout") from None

    async def started(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        message = await self._next()
        if message is _END:
            raise httpx.RemoteProtocolError("the gateway app ended without a response")
        return int(message["status"]), list(message.get("headers") or [])

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._next()
            if message is _END:
                if self._error is not None:
                    raise httpx.ReadError("the gateway app failed mid-response") from self._error
                if not self.complete:
                    raise httpx.RemoteProtocolError("the gateway app ended its response early")
                return
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    def disconnect(self) -> None:
        self._disconnected.set()


class _Body(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._exchange.chunks():
            yield chunk

    async def aclose(self) -> None:
        self._exchange.disconnect()


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    read = timeout.get("read")
    return float(read) if read is not None else None


@dataclass(frozen=True)
class Loopback:
    """The process's in-process transport, and one shared client over it (the agents' models)."""

    url: str  # the origin it serves: this instance's own loopback address
    transport: LoopbackTransport
    client: httpx.AsyncClient


LOOPBACK: Slot[Loopback] = Slot("agent-loopback", "the agents' in-process client")


def loopback() -> Loopback | None:
    """This process's in-process client and transport; None when inner calls use HTTP."""
    svc = services()
    return svc.get(LOOPBACK) if svc.started(LOOPBACK) else None


def inner_call_target() -> tuple[str, Loopback | None]:
    """Where a run's inner calls go: the gateway's URL and, when served in-process, the
    transport (its URL is then this instance's own; ``GATEWAY_PUBLIC_URL`` is for ``http``)."""
    found = loopback()
    if found is not None:
        return found.url, found
    return services().settings.resolved_public_url(), None


def step(app: ASGIApp) -> Step:
    """The start-up step that opens the in-process transport to ``app`` (unless configured off)."""

    async def _start(svc: Services) -> None:
        if svc.config.gateway.agents.inner_calls != "in_process":
            svc.provide(LOOPBACK, None)
            return
        # Captured here, outside any request: each inner call starts from a copy of it.
        url = f"http://127.0.0.1:{svc.settings.port}"
        transport = LoopbackTransport(
            app, server=("127.0.0.1", svc.settings.port), context=contextvars.copy_context(), origin=url
        )
        client = httpx.AsyncClient(transport=transport, base_url=url)
        svc.provide(LOOPBACK, Loopback(url, transport, client))

    async def _stop(svc: Services) -> None:
        found = svc.take(LOOPBACK)
        if found is not None:
            await found.client.aclose()

    return Step("agent-loopback", _start, _stop)
