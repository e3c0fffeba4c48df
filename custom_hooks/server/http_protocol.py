"""uvicorn's httptools protocol with limits on what a client may send before the app runs.

uvicorn's httptools protocol buffers any number of headers of any size and waits forever
for them: one client sending 40,000 small headers held the event loop for half a minute,
and a 16 MB header was accepted. This protocol bounds, per request,

- the bytes received before the headers are complete and the header count
  (``gateway.security.limits.max_header_bytes`` / ``max_header_count``): 431, then close;
- the time to receive the request line and headers (``header_timeout_s``): 408, then close,

before any header reaches LiteLLM, auth or JSON parsing. Body size and body time are
bounded one layer up, by the front door (:mod:`custom_hooks.edge.front_door`).

Selected with ``uvicorn.run(..., http="custom_hooks.server.http_protocol:GuardedHttpToolsProtocol")``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from custom_hooks.core.sections.security import LimitsConfig

__all__ = ["GuardedHttpToolsProtocol"]

_URL_SLACK = 16 * 1024
_LINGER_S = 1.0  # request line and header names beyond max_header_bytes
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
_CODES = {400: "invalid_request", 408: "request_timeout", 431: "headers_too_large"}


def _limits() -> LimitsConfig:
    from custom_hooks.core.config import load_config_cached
    from custom_hooks.core.settings import get_settings

    return load_config_cached(str(get_settings().config)).gateway.security.limits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Refuse oversized or slow request heads with 431 / 408 and close the connection."""

    _limits_cache: LimitsConfig | None = None

    def __init__(self, *args: Any, limits: LimitsConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if limits is None:
            if GuardedHttpToolsProtocol._limits_cache is None:
                GuardedHttpToolsProtocol._limits_cache = _limits()
            limits = GuardedHttpToolsProtocol._limits_cache
        self._lim = limits
        self._head_open = True
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # --- the head of each request -------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def _start_head(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        self._header_count = 0
        self._cancel_timer()
        self._head_timer = self.loop.call_later(self._lim.header_timeout_s, self._head_timeout)

    def _cancel_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._head_open:
            self._start_head()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._lim.max_header_count:
            self._refused = True
            raise ValueError("too many headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_timer()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        head_was_open = self._head_open
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refused:
                self._refuse(431, "Too many request headers.")
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        # Bytes buffered while the head is still incomplete are what an oversized header
        # costs; a chunk that completes the head (and carries body bytes) is not counted.
        if head_was_open and self._head_open:
            self._head_bytes += len(data)
            if self._head_bytes > self._lim.max_header_bytes + _URL_SLACK:
                self._refuse(431, "Request headers are too large.")

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            if self._head_bytes == 0:
                self.transport.close()  # an idle connection: nothing to answer
            else:
                self._refuse(408, "The request headers took too long to arrive.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer in OpenAI's error format and close (the rest of the request is not read)."""
        self._refused = True
        self._cancel_timer()
        code = _CODES[status]
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        ).encode()
        head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
        self.transport.write(
            head
            + b"content-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        # Lingering close: a client still sending (a huge header) would get a reset instead
        # of the answer if we closed now; what it sends meanwhile is discarded unread
        # (data_received returns early once refused), for at most _LINGER_S.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)
