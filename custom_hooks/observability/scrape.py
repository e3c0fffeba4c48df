"""``GET /metrics``: one exposition with LiteLLM's metrics and ours, behind a scrape token.

An outermost ASGI middleware answers ``/metrics`` itself, before LiteLLM's own mount and
its auth middleware (which would hand the scrape token to our custom auth, where it is
not a key). Access:

- ``Authorization: Bearer <GATEWAY_METRICS_TOKEN>`` (the token Prometheus is given), or
  the admin key;
- no token at all when ``gateway.observability.metrics_public: true`` (a deliberate choice).

With ``PROMETHEUS_MULTIPROC_DIR`` set (several workers) the exposition is collected from
every worker's files; otherwise from this process's default registry. Gauges computed
from other parts (ledger queue depth, pending approvals, budgets) are refreshed first.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from starlette.types import ASGIApp, Receive, Scope, Send

from custom_hooks.core.errors import GatewayError

__all__ = ["MetricsEndpointMiddleware", "ScrapeAccess", "exposition_registry", "render_exposition"]

log = logging.getLogger("gateway.metrics")

_PATHS = {"/metrics", "/metrics/"}


def exposition_registry() -> CollectorRegistry:
    """What a scrape collects: every worker's files under ``PROMETHEUS_MULTIPROC_DIR``, else this process."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def render_exposition(
    accept: str = "", accept_encoding: str = "", registry: CollectorRegistry | None = None
) -> tuple[bytes, str, bool]:
    """``(body, content type, gzipped)`` of the whole exposition (blocking: run in a thread)."""
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry if registry is not None else exposition_registry())
    if gzip_accepted(accept_encoding):
        return gzip.compress(body), content_type, True
    return body, content_type, False


class ScrapeAccess:
    """Who may scrape: the scrape token, the admin key, or anyone when public."""

    def __init__(self, public: bool, tokens: list[str]) -> None:
        self.public = public
        self._tokens = [t.encode() for t in tokens if t]

    def allows(self, authorization: str | None) -> bool:
        if self.public:
            return True
        if not authorization:
            return False
        scheme, _, credential = authorization.partition(" ")
        given = (credential if scheme.lower() == "bearer" else authorization).strip().encode()
        return any(hmac.compare_digest(given, t) for t in self._tokens)


def default_access() -> ScrapeAccess:
    """Access as configured: ``metrics_public``, ``GATEWAY_METRICS_TOKEN``, the admin key."""
    from custom_hooks.core.services import services

    svc = services()
    settings = svc.settings
    public = svc.config.gateway.observability.metrics_public
    tokens = [settings.resolved_master_key()]
    if settings.metrics_token is not None:
        tokens.append(settings.metrics_token.get_secret_value())
    return ScrapeAccess(public, tokens)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsEndpointMiddleware:
    """Serve ``/metrics`` (GET) for authorised scrapers; pass every other request on."""

    def __init__(
        self,
        app: ASGIApp,
        access: Callable[[], ScrapeAccess] = default_access,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self._access_factory = access
        self._access: ScrapeAccess | None = None
        self._refresh = refresh
        self._registry: CollectorRegistry | None = None  # built on the first scrape

    def _get_access(self) -> ScrapeAccess:
        if self._access is None:
            self._access = self._access_factory()
        return self._access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in _PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        try:
            access = self._get_access()
        except GatewayError as err:  # before start-up filled the config: 503, not a 500
            await _send(
                send,
                err.status_code,
                json.dumps(err.body()).encode(),
                [(b"content-type", b"application/json")],
            )
            return
        if not access.allows(headers.get("authorization")):
            body = json.dumps(
                {
                    "error": {
                        "message": "Scraping /metrics needs 'Authorization: Bearer <GATEWAY_METRICS_TOKEN>' "
                        "(or the admin key). To serve it without a token, set "
                        "gateway.observability.metrics_public: true.",
                        "type": "authentication_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                }
            ).encode()
            await _send(
                send,
                401,
                body,
                [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="metrics"')],
            )
            return
        if self._refresh is not None:
            try:
                await asyncio.wait_for(self._refresh(), timeout=2.0)
            except Exception:  # a stale gauge beats a failed scrape
                log.warning("refreshing gauges before a scrape failed", exc_info=True)
        if self._registry is None:
            self._registry = exposition_registry()
        body, content_type, gzipped = await asyncio.to_thread(
            render_exposition, headers.get("accept", ""), headers.get("accept-encoding", ""), self._registry
        )
        out = [(b"content-type", content_type.encode())]
        if gzipped:
            out.append((b"content-encoding", b"gzip"))
        await _send(send, 200, body, out)
