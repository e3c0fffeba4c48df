"""Wire operations into the app: request ids, ``/metrics``, health routes, hook timing, gauges.

:func:`mount` is called once from ``custom_hooks.server.app._mount_routes``; the start-up step
(registered with ``_lifecycle``) instruments our hooks once LiteLLM has loaded them and
starts a small loop that keeps the dependency and state gauges fresh between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from custom_hooks.core import lifecycle as _lifecycle
from custom_hooks.observability.metrics import GatewayMetrics, get_metrics

__all__ = ["mount", "refresh_gauges", "register_pending_approvals"]

PendingSource = Callable[[], Awaitable[dict[str, int] | None]]

log = logging.getLogger("gateway.observability")

_state: dict[str, Any] = {"ledger_failures_seen": 0.0, "task": None}


def _request_id_header() -> str:
    try:
        return _lifecycle.current_config().gateway.observability.request_id_header
    except Exception:
        return "x-request-id"


def mount(app: Any) -> None:
    """Add our outermost middlewares and the health routes (front of the route list)."""
    from custom_hooks.core.routes import mount_at_front
    from custom_hooks.observability.health import router
    from custom_hooks.observability.request_context import RequestIdMiddleware
    from custom_hooks.observability.scrape import MetricsEndpointMiddleware

    # add_middleware puts the newest outermost: request ids wrap the /metrics endpoint.
    app.add_middleware(MetricsEndpointMiddleware, refresh=refresh_gauges)
    app.add_middleware(RequestIdMiddleware, header=_request_id_header())
    mount_at_front(app, router)


def _ledger_state() -> tuple[float, float]:
    from custom_hooks.ledger import writer

    return float(writer.ledger_queue_depth()), float(writer.ledger_write_failures_total())


async def refresh_gauges(metrics: GatewayMetrics | None = None) -> None:
    """Set gauges that mirror other parts' state (cheap; called before each scrape)."""
    m = metrics or get_metrics()
    depth, failures = _ledger_state()
    m.ledger_queue_depth.set(depth)
    delta = failures - _state["ledger_failures_seen"]
    if delta > 0:
        m.ledger_write_failures.inc(delta)
    _state["ledger_failures_seen"] = max(failures, _state["ledger_failures_seen"])
    pending = _state.get("pending_approvals")
    if pending is not None:
        for agent, n in pending.items():
            m.agent_pending_approvals.labels(agent=agent).set(n)
    from custom_hooks.observability.budget_gauges import refresh_budget_gauges

    await refresh_budget_gauges(m)


async def _probe_loop(interval: float, timeout: float) -> None:
    from custom_hooks.observability.health import readiness

    await asyncio.sleep(1.0)  # let the other parts finish starting (the store opens after us)
    while True:
        for name, step in (
            ("dependency probes", lambda: readiness(timeout)),
            ("pending approvals", _refresh_pending),
            ("gauges", refresh_gauges),
        ):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failing source must not stop the others
                log.warning("background refresh of %s failed", name, exc_info=True)
        await asyncio.sleep(interval)


def register_pending_approvals(source: PendingSource) -> None:
    """Where ``gateway_agent_pending_approvals`` comes from (the agents runtime registers it)."""
    _state["pending_source"] = source


async def _refresh_pending() -> None:
    source = _state.get("pending_source")
    if source is not None:
        _state["pending_approvals"] = await source()


async def _start(_settings: Any, config: Any) -> None:
    from custom_hooks.observability.hook_timing import instrument

    get_metrics()
    n = instrument()
    log.info("timing %d gateway hooks", n)
    health = config.gateway.observability.health
    _state["task"] = asyncio.create_task(_probe_loop(health.probe_interval_s, health.check_timeout_s))


async def _stop() -> None:
    task = _state.get("task")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


_lifecycle.on_startup("observability", _start)
_lifecycle.on_shutdown("observability", _stop)
