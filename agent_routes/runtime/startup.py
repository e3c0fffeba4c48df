"""Open the agents' state at gateway start, close it at shutdown."""

from __future__ import annotations

from agent_routes.runtime.health import check_agents, count_pending_approvals
from agent_routes.runtime.threads import get_thread_store, open_thread_store, set_thread_store
from custom_hooks.auth import run_tokens as _run_tokens
from custom_hooks.core import lifecycle as _lifecycle
from custom_hooks.core.config import GatewayConfig
from custom_hooks.core.settings import GatewaySettings
from custom_hooks.observability import health, wiring

__all__: list[str] = []


async def _start(settings: GatewaySettings, config: GatewayConfig) -> None:
    agents = config.gateway.agents
    store = await open_thread_store(
        settings.resolved_checkpoint_url(), scope=agents.thread_scope, redis_url=settings.redis_url
    )
    set_thread_store(store)
    _run_tokens.configure(None)
    _run_tokens.get_run_tokens()  # build now: a bad secret or Redis URL fails at start


async def _stop() -> None:
    try:
        store = get_thread_store()
    except RuntimeError:
        return
    set_thread_store(None)
    await store.close()
    tokens = _run_tokens.get_run_tokens()
    close = getattr(tokens.store, "aclose", None)
    if close is not None:
        await close()


health.register_check("agents", check_agents)
wiring.register_pending_approvals(count_pending_approvals)
_lifecycle.on_startup("agents", _start)
_lifecycle.on_shutdown("agents", _stop)
