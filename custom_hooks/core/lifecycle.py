"""Start and stop the gateway's own state inside LiteLLM's lifespan, in an explicit order.

The composition root (:mod:`custom_hooks.server.app`) lists the start-up :class:`Step` s
(name, start, stop); :func:`start_steps` runs them in that order, each filling its slot of
the :class:`~custom_hooks.core.services.Services`, and :func:`stop_steps` closes the
started ones in reverse. A step that fails at start stops the ones already started, then
the error propagates (the process does not serve half-started).

LiteLLM loads ``config.yaml`` (and so imports our hooks) during its own start-up; the steps
run right after that, and stop first on SIGTERM, once uvicorn has stopped taking requests,
so queues (the ledger) drain before exit. Nothing registers itself by being imported.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from custom_hooks.core.config import GatewayConfig
from custom_hooks.core.services import Services, services

__all__ = ["Step", "current_config", "start_steps", "stop_steps"]

log = logging.getLogger("gateway.lifecycle")

StartFn = Callable[[Services], Awaitable[None]]
StopFn = Callable[[Services], Awaitable[None]]


async def _nothing(_svc: Services) -> None:
    return None


@dataclass(frozen=True)
class Step:
    """One part of start-up: ``start`` fills its services, ``stop`` closes them."""

    name: str
    start: StartFn
    stop: StopFn = _nothing


def current_config() -> GatewayConfig:
    """The config.yaml this process serves (:class:`GatewayStarting` before the root set it)."""
    return services().config


async def stop_steps(started: Sequence[Step], svc: Services) -> None:
    """Stop ``started`` in reverse order; one failing stop does not keep the others from draining."""
    for step in reversed(started):
        log.info("stopping %s", step.name)
        try:
            await step.stop(svc)
        except Exception:  # shutdown of one part must not stop the others draining
            log.exception("stopping %s failed", step.name)


async def start_steps(steps: Sequence[Step], svc: Services) -> list[Step]:
    """Start ``steps`` in order; returns them for :func:`stop_steps`.

    If one fails, the ones already started are stopped (in reverse) and the error is raised;
    the failing step cleans up after itself.
    """
    started: list[Step] = []
    for step in steps:
        log.info("starting %s", step.name)
        try:
            await step.start(svc)
        except BaseException:
            log.error("starting %s failed; stopping what had started", step.name)
            await stop_steps(started, svc)
            raise
        started.append(step)
    return started
