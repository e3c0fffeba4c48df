"""The ASGI app the gateway serves: LiteLLM's proxy app, our routes, our lifespan.

Importing this module is the one place our extra routes are mounted, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litellm.proxy.proxy_server import app

from custom_hooks import _lifecycle, _startup_logs

__all__ = ["app"]

_litellm_lifespan = app.router.lifespan_context


def _mount_routes() -> None:
    """Mount our routers on LiteLLM's app (each area adds its router here)."""
    from custom_hooks import admin_api

    admin_api.mount(app)
    from agent_routes import routes as agent_routes

    agent_routes.mount(app)
    from custom_hooks import _observability

    _observability.mount(app)  # last: its middlewares (request ids, /metrics) wrap everything


@asynccontextmanager
async def _lifespan(asgi_app: Any) -> AsyncIterator[Any]:
    async with _litellm_lifespan(asgi_app) as state:
        await _lifecycle.startup()
        try:
            yield state
        finally:
            await _lifecycle.shutdown()


_mount_routes()
_startup_logs.install()  # before the lifespan: LiteLLM logs these while it loads config.yaml
app.router.lifespan_context = _lifespan
