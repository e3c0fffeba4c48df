"""Wire operations into the app: request ids, ``/metrics``, health routes, hook timing, gauges.

:func:`mount` is called once from ``custom_hooks.server.app._mount_routes``; the
observability step (:func:`step`, the last of the start-up steps, after everything it
probes is open) instruments our hooks once LiteLLM has loaded them and starts a small loop
that keeps the dependency and state gauges fresh between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.observability.budget_gauges import Throttle
from custom_hooks.observability.health import EXTRA_CHECKS, PING_CLIENTS, Check
from custom_hooks.observability.metrics import GatewayMetrics, get_metrics

__all__ = ["OBSERVABILITY", "GaugeState", "mount", "refresh_gauges", "step"]

PendingSource = Callable[[], Awaitable[dict[str, int] | None]]

log = logging.getLogger("gateway.observability")


@dataclass
class GaugeState:
    """What the gauges mirror between scrapes, and the loop that refreshes them."""

    pending_source: PendingSource | None = None
    ledger_failures_seen: float = 0.0
    pending_approvals: dict[str, int] | None = None
    budget_gauges: Throttle = field(default_factory=Throttle)
    task: asyncio.Task[None] | None = field(default=None, repr=False)


OBSERVABILITY: Slot[GaugeState] = Slot("observability", "the gauges' state")


def _request_id_header() -> str:
    return services().config.gateway.observability.request_id_header


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


async def refresh_gauges(metrics: GatewayMetrics | None = None, state: GaugeState | None = None) -> None:
    """Set gauges that mirror other parts' state (cheap; called before each scrape)."""
    m = metrics or get_metrics()
    st = state or services().get(OBSERVABILITY)
    depth, failures = _ledger_state()
    m.ledger_queue_depth.set(depth)
    delta = failures - st.ledger_failures_seen
    if delta > 0:
        m.ledger_write_failures.inc(delta)
    st.ledger_failures_seen = max(failures, st.ledger_failures_seen)
    pending = st.pending_approvals
    if pending is not None:
        for agent, n in pending.items():
            m.agent_pending_approvals.labels(agent=agent).set(n)
    from custom_hooks.observability.budget_gauges import refresh_budget_gauges

    await refresh_budget_gauges(m, st.budget_gauges)


async def _probe_loop(state: GaugeState, interval: float, timeout: float) -> None:
    from custom_hooks.observability.health import readiness

    async def pending() -> None:
        if state.pending_source is not None:
            state.pending_approvals = await state.pending_source()

    async def gauges() -> None:
        await refresh_gauges(state=state)

    # No warm-up wait: the observability step starts last, after everything it probes.
    while True:
        for name, run in (
            ("dependency probes", lambda: readiness(timeout)),
            ("pending approvals", pending),
            ("gauges", gauges),
        ):
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failing source must not stop the others
                log.warning("background refresh of %s failed", name, exc_info=True)
        await asyncio.sleep(interval)


def step(checks: Mapping[str, Check] | None = None, pending: PendingSource | None = None) -> Step:
    """The observability step: extra readiness ``checks`` (the agents') and where
    ``gateway_agent_pending_approvals`` comes from, both named by the composition root."""

    async def start(svc: Services) -> None:
        from custom_hooks.observability.hook_timing import instrument

        svc.provide(EXTRA_CHECKS, dict(checks or {}))
        svc.provide(PING_CLIENTS, {})
        get_metrics()  # the metrics step ran: fail here, not in the loop
        n = instrument()
        log.info("timing %d gateway hooks", n)
        health = svc.config.gateway.observability.health
        state = GaugeState(pending_source=pending)
        state.task = asyncio.create_task(_probe_loop(state, health.probe_interval_s, health.check_timeout_s))
        svc.provide(OBSERVABILITY, state)

    async def stop(svc: Services) -> None:
        state = svc.take(OBSERVABILITY)
        svc.take(EXTRA_CHECKS)
        if state is not None and state.task is not None:
            state.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await state.task
        for client in (svc.take(PING_CLIENTS) or {}).values():
            with contextlib.suppress(Exception):
                await client.aclose()
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    return Step("observability", start, stop)
