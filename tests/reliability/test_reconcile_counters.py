"""Budget counters and rate limits after a Redis outage, across two instances (open policies).

Two gateways share a private Redis (paused with SIGSTOP or stopped here) and PostgreSQL.
Observed before: spend served while Redis was paused never reached the window counter
(which stayed below the ledger for the rest of the window), a dead instance's reservations
held budget until their 600 s TTL, and an rpm limit was counted per instance for a minute
after Redis returned (LiteLLM's circuit breaker).
"""

from __future__ import annotations

import concurrent.futures
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis as redis_lib

from custom_hooks.governance.windows import window_for
from tests.e2e.spend_helpers import HOOKS, ask, cost, create_key, ledger_rows
from tests.harness.fake_upstream import FakeUpstream, delay, text
from tests.harness.gateway import GatewayProcess
from tests.harness.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

SONNET = "claude-sonnet"
PROMPT, COMPLETION = 5, 1000
CALL = cost(PROMPT, COMPLETION)  # 0.015015, also the reservation (max_tokens=1000)
LEASE_S = 3.0
OVERRIDES = {
    "litellm_settings": {"callbacks": [*HOOKS, "custom_hooks.request_log.request_log"]},
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {
        "governance": {
            "failure_policy": {"budget_counters": "open", "budget_rebuild": "open", "rate_limits": "open"},
            # reconcile only because of the outage, so the test proves that trigger
            "spend": {"reservation_lease_s": LEASE_S, "reconcile_interval_s": 0, "redis_timeout_s": 0.3},
        }
    },
}


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer(Path(tempfile.mkdtemp(prefix="gw-reconcile-redis-"))).start()
    yield server
    server.resume()
    server.stop()


@pytest.fixture(scope="module")
def store_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"reconcile_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def pair(gateway_factory: Any, redis: RedisServer, store_url: str) -> tuple[GatewayProcess, GatewayProcess]:
    env = {"GATEWAY_REDIS_URL": redis.url, "GATEWAY_STORE_URL": store_url}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(
            lambda n: gateway_factory(config_overrides=OVERRIDES, env=env, name=n), ["rc-a", "rc-b"]
        )
    return a, b


def _call(gw: GatewayProcess, key: str, timeout: float = 20) -> str:
    try:
        gw.client(api_key=key, timeout=timeout).chat.completions.create(
            model=SONNET, messages=ask(), max_tokens=COMPLETION
        )
        return "ok"
    except openai.APIStatusError as exc:
        return str(exc.code or exc.status_code)
    except openai.APIConnectionError:
        return "connection"


def _counter(redis: RedisServer, key_hash: str) -> float:
    w = window_for("key", key_hash, 1.0, "1d", time.time())
    raw = redis_lib.Redis.from_url(redis.url).get(f"gw:budget:spend:{w.key}")
    return float(raw or 0.0)


def _ledger(store_url: str, key_hash: str, expect: int) -> float:
    rows = ledger_rows(store_url, expect=expect, key_hash=key_hash)
    return sum(r["cost"] for r in rows)


def test_spend_served_during_a_redis_pause_is_counted(
    pair: tuple[GatewayProcess, GatewayProcess],
    redis: RedisServer,
    store_url: str,
    fake_upstream: FakeUpstream,
) -> None:
    key = create_key(pair[0], max_budget=5.0, budget_duration="1d")
    fake_upstream.script(*(text("ok", PROMPT, COMPLETION) for _ in range(20)), model=SONNET)
    assert [_call(gw, key["key"]) for gw in pair] == ["ok", "ok"]
    redis.pause()
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:  # open: served, counters unreachable
            served = list(pool.map(lambda i: _call(pair[i % 2], key["key"]), range(6)))
    finally:
        redis.resume()
    # Read at once: the reconcile runs within about a second of Redis's return.
    counter_at_resume = _counter(redis, key["key_hash"])
    assert served == ["ok"] * 6, served
    back = time.monotonic()
    ledger = _ledger(store_url, key["key_hash"], expect=8)
    assert ledger == pytest.approx(8 * CALL)
    drift_at_resume = ledger - counter_at_resume
    while time.monotonic() - back < 10 and ledger - _counter(redis, key["key_hash"]) > 1e-6:
        time.sleep(0.2)
    drift = ledger - _counter(redis, key["key_hash"])
    print(
        f"6 calls during a Redis pause: counter {drift_at_resume:.6f} below the ledger at resume,"
        f" {drift:.6f} after {time.monotonic() - back:.1f}s"
    )
    assert drift_at_resume > 0  # the scenario: spend that never reached the counter
    assert abs(drift) < 1e-6, f"counter still {drift:.6f} USD below the ledger 10 s after Redis returned"


def test_rpm_limit_is_shared_again_within_seconds_of_redis_return(
    pair: tuple[GatewayProcess, GatewayProcess], redis: RedisServer
) -> None:
    warm = create_key(pair[0], rpm_limit=10_000)["key"]
    redis.stop()
    deadline = time.monotonic() + 3.0

    def hammer(i: int) -> None:
        while time.monotonic() < deadline:
            _call(pair[i % 2], warm)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, range(8)))
    redis.start()
    for gw in pair:  # the scenario: every instance's breaker opened (now or in an earlier outage)
        assert "Redis circuit breaker OPENED" in gw.log_text()
    time.sleep(3.0)  # "within seconds"
    if time.time() % 60 > 45:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)
    n = 5
    key = create_key(pair[0], rpm_limit=n)["key"]
    results = [_call(pair[i % 2], key) for i in range(3 * n)]
    print(f"rpm {n}, 3 s after Redis returned, two instances: {results.count('ok')} admitted of {3 * n}")
    assert results.count("ok") == n, results


def test_budget_race_across_instances_does_not_overshoot(
    pair: tuple[GatewayProcess, GatewayProcess], store_url: str, fake_upstream: FakeUpstream
) -> None:
    key = create_key(pair[0], max_budget=0.15, budget_duration="1d")  # 10 calls of 0.015015
    fake_upstream.script(*(text("ok", PROMPT, COMPLETION) for _ in range(40)), model=SONNET)
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda i: _call(pair[i % 2], key["key"]), range(40)))
    ok = results.count("ok")
    print(f"race after the outages: 40 concurrent on two instances, budget for 10: {ok} admitted")
    assert 1 <= ok <= 10 and set(results) <= {"ok", "budget_exceeded"}, results
    assert _ledger(store_url, key["key_hash"], expect=ok) == pytest.approx(ok * CALL)


def test_expected_rejections_do_not_log_at_error(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    gw = pair[0]
    spent = create_key(gw, max_budget=0.0)["key"]
    limited = create_key(gw, rpm_limit=1)["key"]
    before = gw.log_text()
    outcomes = [
        _call(gw, spent),
        _call(gw, spent),
        _call(gw, limited),
        _call(gw, limited),
        _call(gw, limited),
    ]
    assert outcomes.count("budget_exceeded") == 2 and outcomes.count("429") == 2, outcomes
    time.sleep(0.5)
    new = gw.log_text()[len(before) :]
    errors = [line for line in new.splitlines() if ":ERROR:" in line or " ERROR " in line]
    print(f"ERROR lines for 4 expected rejections: {len(errors)}")
    assert not errors, errors[:3]


def test_a_dead_instance_releases_its_reservations_within_a_lease(
    pair: tuple[GatewayProcess, GatewayProcess], fake_upstream: FakeUpstream
) -> None:
    a, b = pair
    key = create_key(a, max_budget=0.05, budget_duration="1d")  # 4 reservations of 0.015015 fit
    fake_upstream.script(*(delay(40, text("late", PROMPT, COMPLETION)) for _ in range(4)), model=SONNET)
    seen = len(fake_upstream.requests_for(SONNET))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        hung = [pool.submit(_call, b, key["key"], 60) for _ in range(4)]
        deadline = time.monotonic() + 15
        while len(fake_upstream.requests_for(SONNET)) < seen + 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(fake_upstream.requests_for(SONNET)) == seen + 4, "the calls did not reach the upstream"
        assert _call(a, key["key"]) == "budget_exceeded"  # all of the budget is reserved by B
        b.stop(signal.SIGKILL)
        killed = time.monotonic()
        freed_after = None
        while time.monotonic() - killed < 15:
            if _call(a, key["key"]) == "ok":
                freed_after = time.monotonic() - killed
                break
            time.sleep(0.3)
        for f in hung:
            f.cancel()
    print(f"reservations of a SIGKILLed instance freed after {freed_after} s (lease {LEASE_S:g} s)")
    assert freed_after is not None, "the dead instance's reservations still hold the budget after 15 s"
    assert freed_after < LEASE_S + 3
