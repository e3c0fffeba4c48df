"""LiteLLM's Redis circuit breakers close as soon as Redis answers; readiness reports them.

Real collaborators: LiteLLM's own ``RedisCircuitBreaker`` and a private redis-server that
is stopped and restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from litellm.caching.redis_cache import RedisCircuitBreaker

from custom_hooks.observability.health import limits_result
from custom_hooks.store.redis_recovery import RedisRecovery, breaker_states
from tests.harness.services import RedisServer

pytestmark = [pytest.mark.redis]


def _open_breaker() -> RedisCircuitBreaker:
    breaker = RedisCircuitBreaker(failure_threshold=2, recovery_timeout=60)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.is_open()
    return breaker


async def test_breakers_close_within_one_probe_of_redis_answering_again(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    recovery = RedisRecovery(server.url, breaker_recovery_s=5, timeout_s=0.3)
    recovered: list[str] = []

    async def on_recover() -> None:
        recovered.append("reconcile")

    recovery.on_recover(on_recover)
    try:
        assert await recovery.probe_once()
        server.stop()
        breaker = _open_breaker()
        assert not await recovery.probe_once()
        assert breaker.state == "open"  # Redis still away: the breaker stays open
        assert breaker.recovery_timeout == 5  # shortened from LiteLLM's 60 s
        assert "Redis unreachable" in recovery.problems()
        assert any("circuit breaker" in p for p in recovery.problems())
        server.start()
        assert await recovery.probe_once()
        assert breaker.state == "closed" and not breaker.is_open()
        assert recovered == ["reconcile"]  # the down -> up transition runs the callbacks once
        assert await recovery.probe_once()
        assert recovered == ["reconcile"]
        assert recovery.problems() == [] and breaker_states().get("open", 0) == 0
    finally:
        await recovery.close()
        server.stop()


@pytest.mark.parametrize(
    ("redis_problems", "budget_problems", "rate_limits", "budgets", "expect"),
    [
        ([], [], "open", "open", "healthy"),
        (["1 LiteLLM Redis circuit breaker(s) open"], [], "open", "open", "degraded"),
        (["1 LiteLLM Redis circuit breaker(s) open"], [], "closed", "open", "failed"),
        (["Redis unreachable"], [], "closed", "closed", "failed"),
        ([], ["budget counters not yet reconciled"], "closed", "open", "degraded"),
        ([], ["budget checks degraded within 10s"], "open", "closed", "failed"),
    ],
)
def test_limits_readiness_follows_the_failure_policy(
    redis_problems: list[str], budget_problems: list[str], rate_limits: str, budgets: str, expect: str
) -> None:
    result = limits_result(redis_problems, budget_problems, rate_limits, budgets)
    got = "failed" if not result.ok else ("degraded" if result.degraded else "healthy")
    assert got == expect, result
    if expect != "healthy":
        text = result.error or result.detail or ""
        assert all(p in text for p in [*redis_problems, *budget_problems])
