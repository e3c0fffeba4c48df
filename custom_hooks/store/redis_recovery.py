"""Recover from a Redis outage within seconds, and say truthfully while we have not.

LiteLLM 1.108 wraps every call of its ``RedisCache`` (the rpm/tpm/parallel limiter's
counters, the response cache) in a ``RedisCircuitBreaker``
(``litellm.caching.redis_cache``): after 5 connectivity failures it opens and fast-fails
every Redis call for ``REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT`` (60 s), then lets one probe
through. While it is open the limiter counts per process (``rate_limits: open``: an rpm
limit admits up to N times across N instances) or refuses everything with 503 (``closed``),
even though Redis may have been back for most of that minute.

:class:`RedisRecovery`, one per process, started with the budget service:

- sets every live breaker's open time to ``gateway.governance.recovery.breaker_recovery_s``;
- PINGs Redis every ``probe_interval_s``; while Redis answers, an open or half-open
  breaker is closed at once (Redis proved itself healthy), so limits are shared again
  within about one probe interval of Redis's return;
- on a down→up transition runs the ``on_recover`` callbacks (the budget service's
  reconciliation of window counters with the ledger);
- :meth:`problems` lists what is degraded right now, for readiness and metrics.

Closing a breaker uses its private state methods (``_set_state``); if a LiteLLM upgrade
renames them, the watcher logs once and the breaker falls back to its own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from custom_hooks.core.services import Slot, services

__all__ = ["RECOVERY", "RedisRecovery", "breaker_states", "close_open_breakers", "get_recovery"]

log = logging.getLogger("gateway.redis")

OnRecover = Callable[[], Awaitable[None]]


def _live_breakers() -> list[Any]:
    try:
        from litellm.caching.redis_cache import _LIVE_BREAKERS
    except ImportError:  # pragma: no cover - an older LiteLLM without breakers
        return []
    return list(_LIVE_BREAKERS)


def breaker_states() -> dict[str, int]:
    """How many of LiteLLM's Redis circuit breakers are in each state (closed/open/half_open)."""
    out: dict[str, int] = {}
    for b in _live_breakers():
        state = str(getattr(b, "state", "closed"))
        out[state] = out.get(state, 0) + 1
    return out


def set_breaker_recovery(seconds: int) -> None:
    """Shorten every live breaker's open time (LiteLLM reads its default once, at import)."""
    for b in _live_breakers():
        if getattr(b, "recovery_timeout", seconds) != seconds:
            b.recovery_timeout = seconds


@functools.cache
def _warn_private_api_changed() -> None:
    """Log once per process: LiteLLM renamed the breaker's private state methods."""
    log.warning("can't close LiteLLM's Redis circuit breaker (API changed); its timer decides")


def close_open_breakers() -> int:
    """Close every open or half-open breaker (call only once Redis answered); returns how many."""
    closed = 0
    for b in _live_breakers():
        state = getattr(b, "state", "closed")
        if state == "closed":
            continue
        try:
            if state == "open":
                b._set_state(b.HALF_OPEN)  # record_success() ignores an OPEN breaker
            b.record_success()  # HALF_OPEN -> CLOSED, failure streaks reset
        except AttributeError:
            _warn_private_api_changed()
            continue
        closed += 1
    return closed


class RedisRecovery:
    """Probes Redis, closes LiteLLM's breakers when it answers, runs recovery callbacks."""

    def __init__(
        self,
        url: str,
        *,
        probe_interval_s: float = 1.0,
        breaker_recovery_s: int = 5,
        timeout_s: float = 0.5,
    ) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.probe_interval_s = probe_interval_s
        self.breaker_recovery_s = breaker_recovery_s
        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._callbacks: list[OnRecover] = []
        self._task: asyncio.Task[None] | None = None
        self.up: bool | None = None  # None: not probed yet
        self.down_since: float | None = None
        self.outages = 0
        self.breakers_closed_total = 0
        self.last_recovered_at: float | None = None

    def on_recover(self, fn: OnRecover) -> None:
        self._callbacks.append(fn)

    async def probe_once(self) -> bool:
        """One probe: PING, then close breakers / run callbacks as the result says."""
        from redis.exceptions import RedisError

        set_breaker_recovery(self.breaker_recovery_s)
        try:
            await self._client.ping()
            ok = True
        except (TimeoutError, RedisError, OSError):
            ok = False
        was = self.up
        self.up = ok
        if not ok:
            if was is not False:
                self.down_since = time.monotonic()
                self.outages += 1
                log.warning("Redis unreachable (%s): limits and budgets follow the failure policy", self.url)
            return False
        closed = close_open_breakers()
        if closed:
            self.breakers_closed_total += closed
            log.info("Redis answers: closed %d LiteLLM circuit breaker(s); limits are shared again", closed)
        if was is False:
            outage = time.monotonic() - (self.down_since or time.monotonic())
            self.down_since = None
            self.last_recovered_at = time.time()
            log.warning("Redis reachable again after %.1fs; reconciling budget counters", outage)
            for fn in self._callbacks:
                try:
                    await fn()
                except Exception:  # one failed callback must not stop the watcher
                    log.warning("a Redis recovery callback failed", exc_info=True)
        return True

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.probe_once()
            await asyncio.sleep(self.probe_interval_s)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-redis-recovery")

    def problems(self) -> list[str]:
        """What is degraded right now because of Redis (empty: nothing)."""
        out: list[str] = []
        if self.up is False:
            out.append("Redis unreachable")
        states = breaker_states()
        opened = states.get("open", 0) + states.get("half_open", 0)
        if opened:
            out.append(
                f"{opened} LiteLLM Redis circuit breaker(s) open: rate limits counted per instance or refused"
            )
        return out

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._client.aclose()


# Filled by the budgets step: None when no Redis is configured (nothing to recover).
RECOVERY: Slot[RedisRecovery] = Slot("redis-recovery", "the Redis recovery probe")


def get_recovery() -> RedisRecovery | None:
    """The process's Redis recovery (None without Redis; :class:`GatewayStarting` before start)."""
    return services().optional(RECOVERY)
