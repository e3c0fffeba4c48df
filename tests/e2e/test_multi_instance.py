"""Two gateway instances sharing one Redis and one PostgreSQL (the production layout).

Budgets (window counters in Redis), rate limits (LiteLLM's limiter, its counters in Redis
through GATEWAY_REDIS_URL) and the ledger (PostgreSQL) must hold across instances.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from custom_hooks.core.pricing import count_prompt_tokens
from tests.e2e.spend_helpers import HOOKS, ask, cost, create_key, ledger_rows
from tests.harness.fake_upstream import FakeUpstream, text
from tests.harness.gateway import GatewayProcess

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

OVERRIDES = {
    "litellm_settings": {"callbacks": HOOKS},
    "router_settings": {"num_retries": 0, "fallbacks": []},
}
SONNET = "claude-sonnet"
PROMPT, COMPLETION = 5, 1000
CALL = cost(PROMPT, COMPLETION)  # 0.015015; requests send max_tokens=1000, so estimates cover it


@pytest.fixture(scope="module")
def shared(redis_server: Any, postgres_server: Any) -> dict[str, str]:
    return {
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_STORE_URL": postgres_server.create_database(f"multi_{uuid.uuid4().hex[:8]}"),
    }


@pytest.fixture(scope="module")
def pair(gateway_factory: Any, shared: dict[str, str]) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    a = gateway_factory(config_overrides=OVERRIDES, env=shared, name="inst-a")
    b = gateway_factory(config_overrides=OVERRIDES, env=shared, name="inst-b")
    yield a, b


def _call(gw: GatewayProcess, key: str, i: int) -> str:
    try:
        gw.client(api_key=key).chat.completions.create(model=SONNET, messages=ask(i), max_tokens=COMPLETION)
        return "ok"
    except openai.APIStatusError as exc:
        return str(exc.code or exc.status_code)


def test_concurrent_calls_on_two_instances_respect_one_budget(
    pair: tuple[GatewayProcess, GatewayProcess], fake_upstream: FakeUpstream, shared: dict[str, str]
) -> None:
    a, b = pair
    # What one call reserves: its prompt's tokens (counted as the budget guard counts them,
    # plus a margin for message framing) and max_tokens of output, never less than the cost.
    prompt_tokens = count_prompt_tokens({"messages": ask(0)}, "chat", "gpt-4o") + 10
    estimate = cost(prompt_tokens, COMPLETION)
    assert estimate >= CALL
    key = create_key(a, max_budget=0.15, budget_duration="1d")  # 10 calls of 0.015015
    fake_upstream.script(
        *(text("ok", prompt_tokens=PROMPT, completion_tokens=COMPLETION) for _ in range(40)), model=SONNET
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda i: _call(a if i % 2 else b, key["key"], i), range(40)))
    ok = results.count("ok")
    print(f"two instances, 40 concurrent calls, budget for 10: {ok} succeeded")  # shown with -s
    # Reservations are estimates (>= the real cost): never more than 10 admitted, and never
    # fewer than the budget holds at the estimate even if no reservation had settled yet.
    assert int(0.15 // estimate) <= ok <= 10, (estimate, results)
    assert set(results) <= {"ok", "budget_exceeded"}, results
    assert len(fake_upstream.requests_for(SONNET)) == ok

    rows = ledger_rows(shared["GATEWAY_STORE_URL"], expect=ok, key_hash=key["key_hash"])
    assert len(rows) == ok and all(r["status"] == "success" for r in rows)
    assert sum(r["cost"] for r in rows) == pytest.approx(ok * CALL)
    assert sum(r["cost"] for r in rows) < 0.15 + CALL  # never a call beyond the budget

    # Both instances see the spent budget: one more call is refused on each.
    for gw in (a, b):
        if ok == 10:
            assert _call(gw, key["key"], 99) == "budget_exceeded"


def test_rpm_limit_holds_across_instances(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = pair
    n = 4
    key = create_key(a, rpm_limit=n)
    if time.time() % 60 > 45:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)
    first = a.client(api_key=key["key"]).chat.completions.with_raw_response.create(
        model=SONNET, messages=ask(), max_tokens=COMPLETION
    )
    assert first.headers["x-ratelimit-api_key-limit-requests"] == str(n)  # LiteLLM's limiter headers
    assert first.headers["x-ratelimit-api_key-remaining-requests"] == str(n - 1)
    results = ["ok"] + [_call(a if i % 2 else b, key["key"], i) for i in range(1, 10)]
    assert results.count("ok") == n, results
    assert all(r == "429" or r.startswith("rate") for r in results if r != "ok"), results
