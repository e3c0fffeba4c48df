"""Wire operations into the app: request ids, ``/metrics``, health routes, hook timing, gauges.

:func:`mount` is called once from ``custom_hooks._asgi._mount_routes``; the start-up step
(registered with ``_lifecycle``) instruments our hooks once LiteLLM has loaded them and
starts a small loop that keeps the dependency and state gauges fresh between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from custom_hooks import _lifecycle
from custom_hooks._metrics import GatewayMetrics, get_metrics

__all__ = ["count_pending_approvals", "mount", "refresh_gauges"]

log = logging.getLogger("gateway.observability")

_state: dict[str, Any] = {"ledger_failures_seen": 0.0, "task": None}


def _request_id_header() -> str:
    try:
        return _lifecycle.current_config().gateway.observability.request_id_header
    except Exception:
        return "x-request-id"


def mount(app: Any) -> None:
    """Add our outermost middlewares and the health routes (front of the route list)."""
    from custom_hooks._health import router
    from custom_hooks._request_context import RequestIdMiddleware
    from custom_hooks._routes import mount_at_front
    from custom_hooks._scrape import MetricsEndpointMiddleware

    # add_middleware puts the newest outermost: request ids wrap the /metrics endpoint.
    app.add_middleware(MetricsEndpointMiddleware, refresh=refresh_gauges)
    app.add_middleware(RequestIdMiddleware, header=_request_id_header())
    mount_at_front(app, router)


def _ledger_state() -> tuple[float | None, float | None]:
    try:
        from custom_hooks import _ledger  # type: ignore[attr-defined]
    except ImportError:
        return None, None
    depth_fn = getattr(_ledger, "ledger_queue_depth", None)
    fail_fn = getattr(_ledger, "ledger_write_failures_total", None)
    depth = float(depth_fn()) if callable(depth_fn) else None
    failures = float(fail_fn()) if callable(fail_fn) else None
    return depth, failures


async def count_pending_approvals(limit: int = 200) -> dict[str, int] | None:
    """Runs paused on a human approval, by agent (None when agents are not running here).

    Uses the agents runtime's ``pending_approvals_by_agent()`` when it exposes one; else
    reads the thread store: for each thread of an agent that has ``approval_required``
    tools, the graph state's pending interrupts (at most ``limit`` threads). Run from the
    background loop, not per scrape.
    """
    import inspect

    try:
        from agent_routes import _registry, _threads
        from agent_routes._context import AgentContext
    except ImportError:
        return None
    exposed = getattr(_registry, "pending_approvals_by_agent", None)
    if callable(exposed):
        value = exposed()
        value = await value if inspect.isawaitable(value) else value
        return {str(k): int(v) for k, v in dict(value).items()}
    try:
        store = _threads.get_thread_store()
    except RuntimeError:
        return None
    registry = _registry.agents_config().registry
    gated = {name for name, spec in registry.items() if spec.approval_required}
    counts = dict.fromkeys(gated, 0)
    if not gated:
        return counts
    records = [r for r in await store.list(_threads.Owner(key_hash="", is_admin=True)) if r.agent in gated]
    for rec in records[:limit]:
        ctx = AgentContext(name=rec.agent, spec=registry[rec.agent], checkpointer=store.checkpointer)
        graph = _registry.build_graph(rec.agent, ctx)
        snapshot = await graph.aget_state({"configurable": {"thread_id": rec.thread_id}})
        if getattr(snapshot, "interrupts", None):
            counts[rec.agent] += 1
    return counts


async def refresh_gauges(metrics: GatewayMetrics | None = None) -> None:
    """Set gauges that mirror other parts' state (cheap; called before each scrape)."""
    m = metrics or get_metrics()
    depth, failures = _ledger_state()
    if depth is not None:
        m.ledger_queue_depth.set(depth)
    if failures is not None:
        delta = failures - _state["ledger_failures_seen"]
        if delta > 0:
            m.ledger_write_failures.inc(delta)
        _state["ledger_failures_seen"] = max(failures, _state["ledger_failures_seen"])
    pending = _state.get("pending_approvals")
    if pending is not None:
        for agent, n in pending.items():
            m.agent_pending_approvals.labels(agent=agent).set(n)
    from custom_hooks._budget_gauges import refresh_budget_gauges

    await refresh_budget_gauges(m)


async def _probe_loop(interval: float, timeout: float) -> None:
    from custom_hooks._health import readiness

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


async def _refresh_pending() -> None:
    _state["pending_approvals"] = await count_pending_approvals()


async def _start(_settings: Any, config: Any) -> None:
    from custom_hooks._hook_timing import instrument

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
