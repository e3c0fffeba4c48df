"""The outermost ASGI layer: refuse what the gateway does not serve, before any work.

For every HTTP request, in this order and before auth, JSON parsing or LiteLLM:

1. header count and size (431) — also bounded earlier, while parsing, by
   :mod:`custom_hooks.server.http_protocol`; this layer covers other servers;
2. control characters in the path (400);
3. the route: served (:class:`custom_hooks.edge.surface.Surface`) or 404 in OpenAI's format;
4. the body: at most ``max_body_bytes`` (413) received within ``body_timeout_s`` (408),
   read here once and replayed to the app, so the app never waits on a slow client;
5. on LLM routes: the request policy (:mod:`custom_hooks.edge.request_policy`) and the one
   model resolution (:mod:`custom_hooks.edge.model_resolution`): an unknown model is a 404
   here, so a client-chosen name never reaches LiteLLM (nor its metric labels).

It records what it learned in ``scope["state"]`` for custom auth (:data:`ROUTE_STATE`:
the route's kind and any model in the path; :data:`BODY_STATE`: the raw body), holds
the per-key stream slots that auth takes for streamed requests and releases them when
the response is done, and strips LiteLLM's internal response headers (the deployment's
API base, versions, cache keys, provider headers) unless the operator exposes them.
WebSocket routes (realtime) are closed unless enabled.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from custom_hooks.core.errors import GatewayError, RateLimited
from custom_hooks.core.sections.security import LimitsConfig
from custom_hooks.edge.model_resolution import ModelDirectory, resolve
from custom_hooks.edge.request_policy import check_header_ids, check_request, parse_body
from custom_hooks.edge.surface import RouteInfo, Surface

__all__ = [
    "BODY_STATE",
    "LITELLM_PARSED_BODY",
    "PARSED_STATE",
    "ROUTE_STATE",
    "SLOTS_STATE",
    "FrontDoor",
    "StreamSlots",
    "litellm_body_cache",
    "take_stream_slot",
]

ROUTE_STATE = "gateway_route"
BODY_STATE = "gateway_body"
PARSED_STATE = "gateway_parsed_body"
RESOLVED_STATE = "gateway_resolved_model"
SLOTS_STATE = "gateway_stream_slots"
LITELLM_PARSED_BODY = "parsed_body"  # LiteLLM's request-body cache in the ASGI scope
_LONG_DIGITS = re.compile(rb"\d{19}")
_RELEASE = "gateway_stream_release"

_INTERNAL_HEADERS = frozenset(
    {
        b"x-litellm-model-api-base",
        b"x-litellm-version",
        b"x-litellm-cache-key",
        b"x-litellm-model-region",
        b"x-litellm-key-spend",
    }
)
_INTERNAL_PREFIXES = (b"llm_provider-",)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TooManyStreams(RateLimited):
    code = "too_many_streams"


class StreamSlots:
    """Concurrent streamed responses per key (in-process; each instance caps its own)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, key: str) -> Callable[[], None]:
        """Take a slot for ``key`` or raise 429 ``too_many_streams``; returns the release."""
        n = self._open.get(key, 0)
        if self.limit and n >= self.limit:
            raise TooManyStreams(
                f"This key already has {n} streamed responses open (limit {self.limit}). "
                "Finish or close one before starting another.",
                headers={"retry-after": "1"},
            )
        self._open[key] = n + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open.get(key, 1) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)

        return release

    def open_count(self, key: str) -> int:
        return self._open.get(key, 0)


def _error(status: int, message: str, code: str, param: str | None = None) -> tuple[int, bytes]:
    kind = "invalid_request_error" if status < 500 else "api_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return status, json.dumps(body).encode()


class FrontDoor:
    """ASGI middleware; ``surface`` is a callable so the table can be built after mounting."""

    def __init__(
        self,
        app: ASGIApp,
        surface: Callable[[], Surface],
        limits: LimitsConfig,
        *,
        expose_internal_headers: bool = False,
        is_operator_key: Callable[[str], bool] = lambda _key: False,
        directory: Callable[[], ModelDirectory] | None = None,
    ) -> None:
        self.app = app
        self._directory_fn = directory
        self._directory: ModelDirectory | None = None
        self._is_operator_key = is_operator_key
        self._surface_fn = surface
        self._surface: Surface | None = None
        self.limits = limits
        self.expose = expose_internal_headers
        self.slots = StreamSlots(limits.max_concurrent_streams_per_key)

    def directory(self) -> ModelDirectory:
        if self._directory is None:
            assert self._directory_fn is not None
            self._directory = self._directory_fn()
        return self._directory

    def surface(self) -> Surface:
        if self._surface is None:
            self._surface = self._surface_fn()
        return self._surface

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            if self.surface().classify("GET", scope.get("path", "")) is None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _check_head(self, scope: Scope) -> tuple[tuple[int, bytes] | None, RouteInfo | None]:
        headers = scope.get("headers") or []
        lim = self.limits
        if len(headers) > lim.max_header_count:
            return _error(
                431, f"Too many request headers (limit {lim.max_header_count}).", "headers_too_large"
            ), None
        size = 0
        for name, value in headers:
            size += len(name) + len(value)
        if size > lim.max_header_bytes:
            return _error(
                431,
                f"Request headers are too large (limit {lim.max_header_bytes} bytes).",
                "headers_too_large",
            ), None
        path: str = scope.get("path", "")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            return _error(400, "The request path contains control characters.", "invalid_path"), None
        method: str = scope.get("method", "GET")
        info = self.surface().classify(method, path)
        if info is None:
            shown = path if len(path) <= 120 else path[:120] + "..."
            return (
                _error(
                    404,
                    f"This gateway does not serve {method} {shown}. See GET /v1/models for the "
                    "models, or ask the operator to enable the route (gateway.security.routes).",
                    "route_not_found",
                ),
                None,
            )
        return None, info

    async def _read_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[tuple[int, bytes] | None, bytes, list[Message]]:
        """The whole body (bounded in size and time), or the error to answer with."""
        limit = self.limits.max_body_bytes
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return _error(400, "Invalid Content-Length header.", "invalid_request"), b"", []
                if declared > limit:
                    return (
                        _error(
                            413, f"The request body is too large (limit {limit} bytes).", "body_too_large"
                        ),
                        b"",
                        [],
                    )
        chunks: list[bytes] = []
        size = 0
        extra: list[Message] = []
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        extra.append(message)  # a disconnect: let the app see it
                        break
                    part = message.get("body", b"")
                    size += len(part)
                    if size > limit:
                        return (
                            _error(
                                413, f"The request body is too large (limit {limit} bytes).", "body_too_large"
                            ),
                            b"",
                            [],
                        )
                    chunks.append(part)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return _error(408, "The request body took too long to arrive.", "request_timeout"), b"", []
        return None, b"".join(chunks), extra

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem, info = self._check_head(scope)
        body = b""
        extra: list[Message] = []
        if problem is None and scope.get("method") in _BODY_METHODS:
            problem, body, extra = await self._read_body(scope, receive)
        if problem is not None:
            await self._answer(send, *problem)
            return
        state = scope.setdefault("state", {})
        if info is not None and info.access == "llm" and self._directory_fn is not None:
            try:
                parsed = self._checked_body(scope, body, info) if scope.get("method") == "POST" else {}
                state[RESOLVED_STATE] = resolve(
                    self.directory(),
                    kind=info.kind,
                    path_model=info.path_model,
                    query=_query(scope),
                    body=parsed,
                )
            except GatewayError as err:
                await self._answer(send, err.status_code, json.dumps(err.body()).encode())
                return
            if scope.get("method") == "POST":
                state[PARSED_STATE] = parsed
                cached = litellm_body_cache(scope.get("headers") or [], body, parsed)
                if cached is not None:  # LiteLLM reads this instead of parsing the body again
                    scope[LITELLM_PARSED_BODY] = cached
        state[ROUTE_STATE] = info
        state[BODY_STATE] = body
        state[SLOTS_STATE] = self.slots
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if extra:
                return extra.pop(0)
            return await receive()

        def release_slot() -> None:
            release = state.pop(_RELEASE, None)
            if callable(release):
                release()

        async def send_and_release(message: Message) -> None:
            await outer_send(message)
            # A stream is open until its last byte is sent, not until background work ends.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release_slot()

        outer_send = send if self.expose else _scrubbing(send)
        try:
            await self.app(scope, replay, send_and_release)
        finally:
            release_slot()

    def _checked_body(self, scope: Scope, raw: bytes, info: RouteInfo) -> dict[str, Any]:
        """The parsed LLM request body, after the request policy (raises a 400 GatewayError).

        Checked here, before auth: LiteLLM rejects some of these bodies itself before custom
        auth runs, with statuses and texts that are not ours (401 for ``api_base``, 500 for a
        ``null`` body). Only the master key may set operator-only parameters at this layer.
        """
        headers = scope.get("headers") or []
        check_header_ids(headers)
        body = parse_body(raw)
        check_request(body, kind=info.kind, operator=self._is_operator_key(_presented_key(headers)))
        return body

    async def _answer(self, send: Send, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", str(uuid.uuid4()).encode()),
        ]
        if status in (408, 413, 431):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string") or b""
    if not raw:
        return {}
    return {k: v[0] for k, v in parse_qs(raw.decode("latin-1"), keep_blank_values=False).items() if v}


def _presented_key(headers: Any) -> str:
    for name, value in headers:
        if name == b"authorization":
            text = value.decode("latin-1")
            return text[7:].strip() if text.lower().startswith("bearer ") else text.strip()
    for name, value in headers:
        if name in (b"api-key", b"x-api-key"):
            return str(value.decode("latin-1")).strip()
    return ""


def litellm_body_cache(
    headers: list[tuple[bytes, bytes]], raw: bytes, parsed: dict[str, Any]
) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """What LiteLLM's body cache (``scope["parsed_body"]``) holds after it parsed ``raw``
    itself, or None where its own parse could differ from ours.

    LiteLLM 1.108.7 caches ``(tuple(keys), body)`` and hands out a shallow copy per read, so
    seeding it saves its second parse of every JSON body. Left to LiteLLM: non-JSON bodies
    (forms, uploads: it parses those differently), bodies with ``\\uD...`` escapes, where
    it rejects a lone surrogate that ``json.loads`` would accept, and bodies with a run of
    19+ digits, where it may read an integer beyond 64 bits as a float.
    """
    for name, value in headers:
        if name.lower() == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media != b"application/json" and not media.endswith(b"+json"):
                return None
    if b"\\ud" in raw or b"\\uD" in raw or _LONG_DIGITS.search(raw) is not None:
        return None
    return tuple(parsed), parsed


def _scrubbing(send: Send) -> Send:
    async def scrubbed(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers") or []
            kept = [
                (n, v)
                for n, v in headers
                if n.lower() not in _INTERNAL_HEADERS and not n.lower().startswith(_INTERNAL_PREFIXES)
            ]
            if len(kept) != len(headers):
                message = dict(message)
                message["headers"] = kept
        await send(message)

    return scrubbed


def take_stream_slot(scope: Any, key: str) -> None:
    """From custom auth: hold a stream slot for ``key`` until the response is done."""
    state = scope.get("state") if isinstance(scope, dict) else None
    if not isinstance(state, dict):
        return
    slots = state.get(SLOTS_STATE)
    if isinstance(slots, StreamSlots) and _RELEASE not in state:
        state[_RELEASE] = slots.acquire(key)
