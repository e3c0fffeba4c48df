"""The ASGI app the gateway serves: LiteLLM's proxy app, our routes, our lifespan.

Importing this module is the one place our extra routes are mounted, once.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litellm.proxy.proxy_server import app

from custom_hooks.core import lifecycle as _lifecycle
from custom_hooks.observability import startup_logs as _startup_logs

__all__ = ["app"]

# Modules that own process state; importing one registers its start/stop. A module that
# imports another (the ledger imports the store) registers after it, so the store opens
# first and closes last, after the ledger has drained.
COMPONENTS = (
    "custom_hooks.store.store",
    "custom_hooks.ledger.writer",
    "custom_hooks.governance.budgets",
    "custom_hooks.routing.cache",
    "custom_hooks.guardrails.stream_dispatch",  # no per-chunk hook dispatch when nothing hooks chunks
    "agent_routes.runtime.startup",  # agent thread store, run tokens
)

_litellm_lifespan = app.router.lifespan_context


def _mount_routes() -> None:
    """Mount our routers on LiteLLM's app (each area adds its router here)."""
    from custom_hooks.admin import api as admin_api

    admin_api.mount(app)
    from agent_routes.api import routes as agent_routes

    agent_routes.mount(app)
    from custom_hooks.observability import wiring as _observability

    _observability.mount(app)  # its middlewares (request ids, /metrics) wrap LiteLLM's
    _mount_front_door()  # outermost: limits and the served surface, before anything else


def _mount_front_door() -> None:
    from custom_hooks.core.lifecycle import current_config
    from custom_hooks.edge.front_door import FrontDoor
    from custom_hooks.edge.model_resolution import ModelDirectory
    from custom_hooks.edge.surface import RouteGrant, build_surface

    security = current_config().gateway.security
    grants = [
        RouteGrant(g.path, frozenset(g.methods), tuple(g.keys), tuple(g.teams))
        for g in security.routes.enable
    ]

    def is_master(key: str) -> bool:
        from custom_hooks.core.settings import get_settings

        return bool(key) and hmac.compare_digest(key.encode(), get_settings().resolved_master_key().encode())

    def directory() -> ModelDirectory:
        cfg = current_config()
        return ModelDirectory.from_model_list(cfg.model_list, cfg.gateway.agents.registry)

    app.add_middleware(
        FrontDoor,
        surface=lambda: build_surface(app.routes, grants),
        is_operator_key=is_master,
        directory=directory,
        limits=security.limits,
        expose_internal_headers=security.expose_internal_headers,
    )


@asynccontextmanager
async def _lifespan(asgi_app: Any) -> AsyncIterator[Any]:
    async with _litellm_lifespan(asgi_app) as state:
        await _lifecycle.startup(COMPONENTS)
        try:
            yield state
        finally:
            await _lifecycle.shutdown()


_mount_routes()
_startup_logs.install()  # before the lifespan: LiteLLM logs these while it loads config.yaml
app.router.lifespan_context = _lifespan
