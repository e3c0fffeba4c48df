"""The ASGI app the gateway serves: LiteLLM's proxy app, our routes, our services, our lifespan.

Importing this module is the one place our extra routes are mounted, once, and where the
process's :class:`~custom_hooks.core.services.Services` are built: the settings, the
config and the tracer first (the routes and middlewares read them), then, in LiteLLM's
lifespan, the start-up :data:`STEPS` in order; they close in reverse.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litellm.proxy.proxy_server import app

from agent_routes.runtime import loopback as _loopback
from agent_routes.runtime import startup as _agents
from agent_routes.runtime.health import check_agents, count_pending_approvals
from custom_hooks.auth import authenticator as _auth
from custom_hooks.auth import run_tokens as _run_tokens
from custom_hooks.core import lifecycle as _lifecycle
from custom_hooks.core import startup_gc
from custom_hooks.core.config import load_config_cached
from custom_hooks.core.services import Services, install_services, services
from custom_hooks.core.settings import get_settings
from custom_hooks.governance import budgets as _budgets
from custom_hooks.guardrails import stream_dispatch as _stream_dispatch
from custom_hooks.ledger import writer as _ledger
from custom_hooks.observability import litellm_metrics as _litellm_metrics
from custom_hooks.observability import metrics as _metrics
from custom_hooks.observability import request_context as _request_context
from custom_hooks.observability import startup_logs as _startup_logs
from custom_hooks.observability import tracing as _tracing
from custom_hooks.observability import wiring as _observability
from custom_hooks.routing import cache as _cache
from custom_hooks.store import store as _store

__all__ = ["STEPS", "app", "build_services"]

# The start order; shutdown runs it backwards. Each step needs only the ones above it:
# the ledger writes through the store (and drains before it closes), the budgets rebuild
# windows from the store and the ledger, the authenticator reads keys from the store and
# checks run tokens, and the observability loop starts last, once all it probes is open.
STEPS: tuple[_lifecycle.Step, ...] = (
    _metrics.STEP,
    _litellm_metrics.STEP,  # LiteLLM's dashboard families, from our one event
    _tracing.STEP,
    _store.STEP,
    _ledger.STEP,
    _budgets.STEP,  # and the Redis recovery probe, with Redis
    _cache.STEP,
    _stream_dispatch.STEP,  # no per-chunk hook dispatch when nothing hooks chunks
    _run_tokens.STEP,
    _auth.STEP,
    _agents.STEP,  # agent model names, thread store
    _loopback.step(app),  # agents' inner calls served in-process
    _observability.step(checks={"agents": check_agents}, pending=count_pending_approvals),
)

_litellm_lifespan = app.router.lifespan_context


def build_services() -> Services:
    """The services as the process starts them: settings, config, tracer (the steps fill the rest)."""
    settings = get_settings()
    svc = Services(settings=settings, config=load_config_cached(str(settings.config)))
    install_services(svc)  # the tracer reads the config's tracing options
    svc.provide(_tracing.TRACING, _tracing.server_tracing())
    svc.provide(_request_context.CLIENT_IDS, _request_context.ClientIds())  # read by the middleware
    return svc


def _mount_routes() -> None:
    """Mount our routers on LiteLLM's app (each area adds its router here)."""
    from custom_hooks.admin import api as admin_api

    admin_api.mount(app)
    from agent_routes.api import routes as agent_routes

    agent_routes.mount(app)
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
        return ModelDirectory.from_model_list(cfg.model_list)

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
        svc = services()
        started = await _lifecycle.start_steps(STEPS, svc)
        startup_gc.resume()  # after the steps: what they built is frozen too
        try:
            yield state
        finally:
            await _lifecycle.stop_steps(started, svc)


_startup_logs.install()  # first: LiteLLM logs these while our config and its own load
build_services()
_mount_routes()
app.router.lifespan_context = _lifespan
