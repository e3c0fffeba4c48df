"""Measure the time the gateway's own hooks take: the overhead we add to every request.

At start-up (after LiteLLM loaded the config) :func:`instrument` wraps, on each of our
hook instances in ``litellm.callbacks`` and on the custom auth function, the request-path
hook methods with a timer. Each call is observed in ``gateway_hook_duration_seconds{hook,
phase}`` (and ``gateway_guardrail_duration_seconds`` for guardrails) and added to the
current request's total, which the request-id middleware observes as
``gateway_request_overhead_seconds``. Behaviour is unchanged: the wrapper awaits the
original and returns or raises what it does. The wrapper is set on the instance, so
LiteLLM's ``vars(type(cb))`` check still sees the class's own method.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from custom_hooks.observability.metrics import GatewayMetrics, get_metrics
from custom_hooks.observability.request_context import current

__all__ = ["hook_label", "instrument", "instrument_callbacks", "timed"]

log = logging.getLogger("gateway.metrics")

# Hook method -> phase label. Moderation runs in parallel with the LLM call, so it is
# timed but not added to the request's overhead.
PHASES = {
    "async_pre_call_hook": "pre_call",
    "async_moderation_hook": "moderation",
    "async_post_call_success_hook": "post_call",
    "async_post_call_response_headers_hook": "response_headers",
    "async_post_call_failure_hook": "failure",
}
_PARALLEL = {"moderation"}
_OURS = ("custom_hooks", "agent_routes")
_MARK = "_gateway_timed"


def hook_label(callback: Any) -> str:
    """A bounded label for a hook: the guardrail name, else the class name in snake_case."""
    name = getattr(callback, "guardrail_name", None)
    if isinstance(name, str) and name:
        return name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(callback).__name__).lower()


def timed(
    fn: Callable[..., Awaitable[Any]],
    hook: str,
    phase: str,
    metrics: Callable[[], GatewayMetrics],
    guardrail: str | None = None,
) -> Callable[..., Awaitable[Any]]:
    """Wrap an async hook so its duration is observed (and added to the request's overhead)."""

    # The label children, looked up once per metrics object (``.labels()`` costs more than
    # the observation): [metrics, hook child, guardrail child].
    children: list[Any] = [None, None, None]

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            try:
                m = metrics()
                if children[0] is not m:
                    children[1] = m.hook_duration.labels(hook=hook, phase=phase)
                    children[2] = (
                        m.guardrail_duration.labels(guardrail=guardrail, phase=phase) if guardrail else None
                    )
                    children[0] = m
                children[1].observe(elapsed)
                if children[2] is not None:
                    children[2].observe(elapsed)
                ctx = current()
                if ctx is not None and phase not in _PARALLEL:
                    ctx.hook_seconds += elapsed
            except Exception:  # timing must never break a request
                log.debug("hook timing failed", exc_info=True)

    return wrapper


def _is_ours(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in _OURS


def instrument_callbacks(
    callbacks: Iterable[Any], metrics: Callable[[], GatewayMetrics] = get_metrics
) -> int:
    """Wrap the request-path hooks of our callback instances; returns how many were wrapped."""
    from litellm.integrations.custom_guardrail import CustomGuardrail

    wrapped = 0
    for cb in callbacks:
        if isinstance(cb, str) or not _is_ours(cb) or getattr(cb, _MARK, False):
            continue
        label = hook_label(cb)
        guardrail = label if isinstance(cb, CustomGuardrail) else None
        own = vars(type(cb))
        for method, phase in PHASES.items():
            if method in own:
                setattr(cb, method, timed(getattr(cb, method), label, phase, metrics, guardrail))
                wrapped += 1
        setattr(cb, _MARK, True)
    return wrapped


def instrument(metrics: Callable[[], GatewayMetrics] = get_metrics) -> int:
    """Instrument every hook of ours LiteLLM loaded, and the custom auth function."""
    import litellm
    from litellm.proxy import proxy_server

    count = instrument_callbacks(list(litellm.callbacks), metrics)
    auth = getattr(proxy_server, "user_custom_auth", None)
    if auth is not None and not getattr(auth, _MARK, False):
        timed_auth: Any = timed(auth, "custom_auth", "auth", metrics)
        setattr(timed_auth, _MARK, True)
        proxy_server.user_custom_auth = timed_auth
        count += 1
    return count
