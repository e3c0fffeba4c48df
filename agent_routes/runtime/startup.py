"""The agents' start-up step: their model names and thread store at gateway start; closed at shutdown.

The composition root (:mod:`custom_hooks.server.app`) lists :data:`STEP` after the run
tokens, and hands :func:`~agent_routes.runtime.health.check_agents` and
:func:`~agent_routes.runtime.health.count_pending_approvals` to the observability step.
"""

from __future__ import annotations

from agent_routes.runtime.reporting import AGENT_MODELS, agent_models_of
from agent_routes.runtime.threads import THREAD_STORE, open_thread_store
from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services

__all__ = ["STEP"]


async def _start(svc: Services) -> None:
    svc.provide(AGENT_MODELS, agent_models_of(svc.config))
    agents = svc.config.gateway.agents
    store = await open_thread_store(
        svc.settings.resolved_checkpoint_url(), scope=agents.thread_scope, redis_url=svc.settings.redis_url
    )
    svc.provide(THREAD_STORE, store)


async def _stop(svc: Services) -> None:
    svc.take(AGENT_MODELS)
    store = svc.take(THREAD_STORE)
    if store is not None:
        await store.close()


STEP = Step("agents", _start, _stop)
