"""Redis comes back: rate limits work again within seconds, and readiness never lies meanwhile.

A gateway on a private Redis (stopped and restarted here) and PostgreSQL,
``rate_limits: closed`` (the open policy's recovery, where limits must be shared across
instances again, is in ``test_reconcile_counters``). LiteLLM's Redis circuit breaker
used to stay open for 60 s after Redis returned: every request got 503 for most of that
minute while ``/gateway/health/ready`` answered 200 ``healthy``.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.spend_helpers import HOOKS, ask, create_key
from tests.harness.gateway import GatewayProcess
from tests.harness.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

MODEL = "gpt-4o-mini"
OVERRIDES = {
    "litellm_settings": {"callbacks": HOOKS},
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {"governance": {"failure_policy": {"rate_limits": "closed"}}},
}
RECOVERY_BOUND_S = 10.0  # LiteLLM's breaker alone: 60 s


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer(Path(tempfile.mkdtemp(prefix="gw-recovery-redis-"))).start()
    yield server
    server.resume()
    server.stop()


@pytest.fixture(scope="module")
def pair(gateway_factory: Any, redis: RedisServer, postgres_server: PostgresServer) -> tuple[GatewayProcess]:
    env = {
        "GATEWAY_REDIS_URL": redis.url,
        "GATEWAY_STORE_URL": postgres_server.create_database(f"recovery_{uuid.uuid4().hex[:8]}"),
    }
    return (gateway_factory(config_overrides=OVERRIDES, env=env, name="recovery"),)


def _call(gw: GatewayProcess, key: str) -> int:
    try:
        gw.client(api_key=key, timeout=10).chat.completions.create(model=MODEL, messages=ask())
        return 200
    except openai.APIStatusError as exc:
        return exc.status_code
    except openai.APIConnectionError:
        return 0


def _ready(gw: GatewayProcess) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"{gw.root_url}/gateway/health/ready", timeout=5)
    return r.status_code, r.json()


def _outage(redis: RedisServer, gws: tuple[GatewayProcess, ...], key: str, seconds: float = 3.0) -> list[int]:
    """Stop Redis and keep calling (8 at a time), so every instance's breaker opens."""
    redis.stop()
    deadline = time.monotonic() + seconds

    def hammer(i: int) -> list[int]:
        out = []
        while time.monotonic() < deadline:
            out.append(_call(gws[i % len(gws)], key))
        return out

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(hammer, range(8)) for s in batch]
    redis.start()
    return statuses


def test_limits_recover_within_seconds_and_readiness_does_not_lie(
    pair: tuple[GatewayProcess], redis: RedisServer
) -> None:
    key = create_key(pair[0], rpm_limit=10_000)["key"]
    assert all(_call(gw, key) == 200 for gw in pair)
    during = _outage(redis, pair, key)
    assert 503 in during and 200 not in during, during  # closed: refused while Redis is away
    for gw in pair:  # the scenario needs LiteLLM's breaker open on every instance
        assert "Redis circuit breaker OPENED" in gw.log_text()
    back = time.monotonic()
    recovered: dict[int, float] = {}
    lies: list[tuple[int, float]] = []
    seen: set[str] = set()
    while time.monotonic() - back < RECOVERY_BOUND_S and len(recovered) < len(pair):
        for i, gw in enumerate(pair):
            code, body = _ready(gw)
            status = _call(gw, key)
            seen.add(f"{code}:{body['status']}")
            if code == 200 and status == 503:
                lies.append((i, round(time.monotonic() - back, 1)))
            if status == 200:
                recovered.setdefault(i, time.monotonic() - back)
        time.sleep(0.1)
    print(
        f"rate_limits=closed: calls succeed again {sorted(round(v, 1) for v in recovered.values())} s"
        f" after Redis returned; readiness said {sorted(seen)}; ready while refusing: {lies}"
    )
    assert len(recovered) == len(pair), f"still refusing {RECOVERY_BOUND_S:g}s after Redis returned"
    assert not lies, "readiness answered 200 while the instance refused requests with 503"
    assert [_call(gw, key) for gw in pair for _ in range(3)] == [200] * 3 * len(
        pair
    )  # and it stays recovered
    code, body = _ready(pair[0])
    assert code == 200 and body["checks"]["limits"]["ok"], body


def test_readiness_names_the_degraded_limiter(pair: tuple[GatewayProcess], redis: RedisServer) -> None:
    redis.stop()
    try:
        time.sleep(1.5)  # one recovery probe
        code, body = _ready(pair[0])
    finally:
        redis.start()
    assert code == 503 and body["status"] == "unhealthy"
    assert not body["checks"]["redis"]["ok"]
    # closed rate-limit policy: a degraded limiter fails readiness and says why
    assert not body["checks"]["limits"]["ok"]
    assert "Redis unreachable" in body["checks"]["limits"]["error"], body
