"""Failure policy with Redis down: fail open lets calls through, fail closed answers 503.

Each gateway gets its own private Redis (stopped mid-test), so the session's shared Redis
is never touched.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.spend_helpers import HOOKS, ask, create_key
from tests.harness.gateway import GatewayProcess
from tests.harness.services import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


def _overrides(budgets: str, rate_limits: str) -> dict[str, Any]:
    return {
        "litellm_settings": {"callbacks": HOOKS},
        "router_settings": {"num_retries": 0, "fallbacks": []},
        "gateway": {
            "governance": {
                "failure_policy": {"budget_counters": budgets, "rate_limits": rate_limits},
                "spend": {"redis_timeout_s": 0.3},
            }
        },
    }


# (budget_counters, rate_limits)
POLICIES = [("open", "open"), ("closed", "open"), ("open", "closed")]


@pytest.fixture(scope="module", params=POLICIES, ids=["all-open", "budgets-closed", "rate-limits-closed"])
def redis_down_gateway(
    request: pytest.FixtureRequest, gateway_factory: Any, redis_server: Any
) -> Iterator[tuple[tuple[str, str], GatewayProcess, dict[str, Any]]]:
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="gw-policy-redis-"))).start()
    try:
        gw = gateway_factory(
            config_overrides=_overrides(*request.param),
            env={"GATEWAY_REDIS_URL": redis.url},
            name="policy-" + "-".join(request.param),
        )
        key = create_key(gw, max_budget=5.0, budget_duration="1d", rpm_limit=100)
        gw.client(api_key=key["key"]).chat.completions.create(model="gpt-4o-mini", messages=ask())  # Redis up
        redis.stop()
        yield request.param, gw, key
        gw.stop()
    finally:
        redis.stop()


def test_redis_outage_follows_the_failure_policy(
    redis_down_gateway: tuple[tuple[str, str], GatewayProcess, dict[str, Any]],
) -> None:
    (budgets, rate_limits), gw, key = redis_down_gateway
    client = gw.client(api_key=key["key"])
    if budgets == rate_limits == "open":
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=ask())
        assert reply.choices[0].message.content
        return
    with pytest.raises(openai.APIStatusError) as exc_info:
        client.chat.completions.create(model="gpt-4o-mini", messages=ask())
    err = exc_info.value
    assert err.status_code == 503
    if budgets == "closed":
        assert err.code == "service_unavailable" and "Budget checks are unavailable" in str(err.message)
    else:
        assert "Rate limit enforcement unavailable" in str(err.message)
