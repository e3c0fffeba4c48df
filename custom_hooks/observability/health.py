"""Liveness and readiness that tell the truth, as JSON.

- ``GET /gateway/health/live``: the process answers (200, always, while it serves).
- ``GET /gateway/health/ready``: 200 when every check passes, else 503; the body names
  each check and what is wrong::

      {"status": "unhealthy", "checks": {"config": {"ok": true}, "store": {"ok": true},
       "redis": {"ok": false, "error": "no answer within 1.5s (redis://127.0.0.1:6390/0)"},
       "agents": {"ok": true, "detail": "3 agents"}}}

Checks: config loaded; the key/ledger store answers ``SELECT 1``; Redis answers PING when
``GATEWAY_REDIS_URL`` is set; ``limits``: rate limits and budgets are enforced as
configured (not degraded: no LiteLLM Redis circuit breaker open, no budget check that
failed open or closed in the last 10 s, counters reconciled after an outage); agents
built (a check the composition root hands the observability step: each configured
agent's graph factory resolves, its thread store is open). Each check runs with a timeout, concurrently,
and updates ``gateway_dependency_up`` (``store``, ``redis``, ``limits``).

Degraded but serving: a check may pass with ``"degraded": true``. The status is then
``"degraded"`` with HTTP 200 (the instance serves, with weaker limits, exactly as the
``open`` failure policy asks); when the policy for what is degraded is ``closed`` the
instance refuses those requests with 503, so readiness fails too (503 ``unhealthy``).

Both routes are public (no key), like LiteLLM's own ``/health/liveliness``, and reveal no
secrets (URLs are shown without passwords).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from custom_hooks.core.errors import GatewayError, error_response
from custom_hooks.core.services import Slot, services
from custom_hooks.observability.metrics import get_metrics

__all__ = [
    "EXTRA_CHECKS",
    "PING_CLIENTS",
    "Check",
    "CheckResult",
    "check_limits",
    "default_checks",
    "limits_result",
    "ping_redis",
    "ping_store",
    "readiness",
    "readiness_response",
    "router",
]

log = logging.getLogger("gateway.health")


@dataclass(frozen=True)
class CheckResult:
    """One readiness check: ok, and what is wrong (or a short detail) when it says so."""

    ok: bool
    error: str | None = None
    detail: str | None = None
    degraded: bool = False  # passes, but serves with weaker guarantees (detail says how)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        if self.degraded:
            out["degraded"] = True
        if self.error:
            out["error"] = self.error
        if self.detail:
            out["detail"] = self.detail
        return out


Check = Callable[[], Awaitable[CheckResult]]
_DEPENDENCIES = ("store", "redis", "limits")
# Checks beyond this module's (the agents'), named by the composition root at start-up.
EXTRA_CHECKS: Slot[Mapping[str, Check]] = Slot("readiness-checks", "the readiness checks")


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


async def check_config() -> CheckResult:
    if not services().has_config():
        return CheckResult(False, "config not loaded")
    cfg = services().config
    return CheckResult(True, detail=str(cfg.path.name))


async def ping_store(store: Any) -> CheckResult:
    """``SELECT 1`` on the key/ledger store."""
    ok = await store.ping()
    where = _safe_url(str(store.engine.url))
    return CheckResult(True, detail=store.backend) if ok else CheckResult(False, f"no answer from {where}")


async def check_store() -> CheckResult:
    from custom_hooks.store import store as _store

    if not _store.store_started():
        return CheckResult(False, "the store is not open (start-up did not finish or failed)")
    return await ping_store(_store.get_store())


# The readiness probe's Redis clients, one per URL (the observability step owns and closes them).
PING_CLIENTS: Slot[dict[str, Any]] = Slot("redis-ping-clients", "the readiness probe")


async def ping_redis(url: str, timeout: float = 1.5, clients: dict[str, Any] | None = None) -> CheckResult:
    """PING Redis with short socket timeouts: through ``clients`` (one kept per URL), else a
    client opened and closed for this one ping."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = clients.get(url) if clients is not None else None
    if client is None:
        client = aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        if clients is not None:
            clients[url] = client
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return CheckResult(False, f"no answer from {_safe_url(url)} ({type(exc).__name__})")
    finally:
        if clients is None:
            await client.aclose()
    return CheckResult(True)


def limits_result(
    redis_problems: list[str], budget_problems: list[str], rate_limits: str, budget_counters: str
) -> CheckResult:
    """The ``limits`` verdict: degraded (200) under an open policy, failed (503) under closed."""
    if not redis_problems and not budget_problems:
        return CheckResult(True)
    problems = "; ".join([*redis_problems, *budget_problems])
    limiter_down = any("circuit breaker" in p or "unreachable" in p for p in redis_problems)
    closed = (limiter_down and rate_limits == "closed") or (
        bool(budget_problems) and budget_counters == "closed"
    )
    if closed:
        return CheckResult(False, f"{problems} (failure policy closed: these requests get 503)")
    return CheckResult(True, detail=f"{problems} (failure policy open: serving)", degraded=True)


async def check_limits() -> CheckResult:
    """Rate limits and budgets enforced as configured (see :func:`limits_result`)."""
    from custom_hooks.governance.budgets import get_budget_service
    from custom_hooks.store.redis_recovery import get_recovery

    policy = services().config.gateway.governance.failure_policy
    recovery = get_recovery()
    return limits_result(
        recovery.problems() if recovery is not None else [],
        get_budget_service().problems(),
        policy.rate_limits,
        policy.budget_counters,
    )


async def _bounded(name: str, fn: Check, timeout: float) -> CheckResult:
    try:
        return await asyncio.wait_for(fn(), timeout)
    except TimeoutError:
        return CheckResult(False, f"{name} check gave no answer within {timeout:g}s")
    except Exception as exc:  # a broken check is a failed check, not a 500
        log.warning("readiness check %s failed", name, exc_info=True)
        return CheckResult(False, f"{name} check failed: {type(exc).__name__}")


def default_checks(timeout: float = 1.5) -> dict[str, Check]:
    """The checks this process runs: config, store, Redis when configured, the extra ones (agents).

    :class:`GatewayStarting` before the observability step named the extra checks.
    """
    checks: dict[str, Check] = {"config": check_config, "store": check_store}
    extra = services().optional(EXTRA_CHECKS)
    redis_url = services().settings.redis_url
    if redis_url:
        clients = services().get(PING_CLIENTS)

        async def redis_check() -> CheckResult:
            return await ping_redis(redis_url, timeout, clients)

        checks["redis"] = redis_check
        checks["limits"] = check_limits
    checks.update(extra or {})
    return checks


async def readiness(timeout: float = 1.5, checks: dict[str, Check] | None = None) -> dict[str, CheckResult]:
    """Run every check concurrently; also refresh ``gateway_dependency_up``."""
    checks = default_checks(timeout) if checks is None else checks
    names = list(checks)
    results = await asyncio.gather(*(_bounded(n, checks[n], timeout) for n in names))
    out = dict(zip(names, results, strict=True))
    try:
        m = get_metrics()
        for dep in _DEPENDENCIES:
            if dep in out:
                up = out[dep].ok and not out[dep].degraded
                m.dependency_up.labels(dependency=dep).set(1 if up else 0)
    except Exception:
        log.debug("updating dependency gauges failed", exc_info=True)
    return out


def readiness_response(results: dict[str, CheckResult]) -> JSONResponse:
    """200 ``healthy`` (or ``degraded``) when every check passed, else 503 ``unhealthy``."""
    healthy = all(r.ok for r in results.values())
    degraded = any(r.degraded for r in results.values())
    body = {
        "status": ("degraded" if degraded else "healthy") if healthy else "unhealthy",
        "checks": {name: r.as_dict() for name, r in results.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


def _timeout() -> float:
    return services().config.gateway.observability.health.check_timeout_s


router = APIRouter(tags=["health"])


@router.get("/gateway/health/live", include_in_schema=False)
async def live() -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "alive"})


@router.get("/gateway/health/ready", include_in_schema=False)
async def ready() -> JSONResponse:
    """Readiness: 200 when every dependency is usable, else 503 naming what is wrong."""
    try:
        return readiness_response(await readiness(_timeout()))
    except GatewayError as err:  # still starting (or stopping): 503 gateway_starting
        return error_response(err)
