"""Cost-aware routing and caching through a real gateway, called with the OpenAI SDK.

Two gateways serve the module:

- ``gw``: fixed test identities (``tests/e2e/routing_identities.py``) so policies per team,
  tier and model list are exercised on their own; free tier capped at $0.001 a request,
  gpt-4o -> gpt-4o-mini, the response cache on;
- ``gw_budget``: the real key store, budget guard and ledger, to show the budget-aware
  downgrade reading the spend area's window counters, and that agent runs are not cached.

Prices (config.yaml): gpt-4o 2.5e-6 / 1e-5, gpt-4o-mini 1.5e-7 / 6e-7,
claude-sonnet 3e-6 / 15e-6, claude-haiku 1e-6 / 5e-6 per token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness.fake_upstream import FakeUpstream, stream, text
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

FREE, PREMIUM, ONLY_4O, CHEAP = "sk-route-free", "sk-route-premium", "sk-route-only-4o", "sk-route-cheap"

OVERRIDES = {
    "general_settings": {"custom_auth": "tests.e2e.routing_identities.user_api_key_auth"},
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {
        "routing": {
            "chains": {"gpt-4o": ["gpt-4o-mini"]},
            "policies": [{"match": {"tier": "free"}, "max_cost_per_request": 0.001}],
            "cache": {"enabled": True, "scope": "team"},
        }
    },
}


@pytest.fixture(scope="module")
def gw(gateway_factory: Any) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=OVERRIDES, name="routing")


def ask(text_: str = "question") -> list[dict[str, Any]]:
    """A unique prompt, so the cache answers only where a test repeats one on purpose."""
    return [{"role": "user", "content": f"{text_} {uuid.uuid4().hex}"}]


def gateway_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-gateway-") or k == "x-litellm-model-group"}


def test_auto_is_listed_beside_the_models(gw: GatewayProcess) -> None:
    ids = {m.id for m in gw.client(api_key=FREE).models.list()}
    assert {"auto", "gpt-4o", "gpt-4o-mini"} <= ids


def test_over_the_ceiling_the_cheaper_deployment_serves(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(text("cheap answer", prompt_tokens=10, completion_tokens=5), model="gpt-4o-mini")
    raw = gw.client(api_key=FREE).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=ask(), max_tokens=200
    )
    reply, h = raw.parse(), gateway_headers(raw.headers)
    assert reply.choices[0].message.content == "cheap answer"
    assert [r.model for r in fake_upstream.requests] == ["gpt-4o-mini"]  # what actually left
    assert h["x-litellm-model-group"] == "gpt-4o-mini"
    assert h["x-gateway-requested-model"] == "gpt-4o" and h["x-gateway-served-model"] == "gpt-4o-mini"
    assert h["x-gateway-route-reason"] == "cost_ceiling"
    assert 0 < float(h["x-gateway-estimated-cost"]) <= 0.001
    assert float(h["x-gateway-actual-cost"]) == pytest.approx(10 * 1.5e-7 + 5 * 6e-7)
    assert h["x-gateway-cache"] == "miss"


def test_another_tier_keeps_its_model(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    raw = gw.client(api_key=PREMIUM).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=ask(), max_tokens=200
    )
    assert [r.model for r in fake_upstream.requests] == ["gpt-4o"]
    assert gateway_headers(raw.headers)["x-gateway-route-reason"] == "within_policy"


def test_nothing_fits_a_rejection_that_never_reaches_the_upstream(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(api_key=FREE).chat.completions.create(model="gpt-4o", messages=ask(), max_tokens=5000)
    err = info.value
    assert err.status_code == 400 and err.code == "cost_limit_exceeded"
    assert "Estimated cost $" in err.message and "$0.001" in err.message
    assert gateway_headers(err.response.headers)["x-gateway-route-reason"] == "cost_ceiling"
    assert fake_upstream.requests == []


def test_a_key_without_the_cheaper_tier_is_told_so_not_upgraded(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(api_key=ONLY_4O).chat.completions.create(model="gpt-4o", messages=ask(), max_tokens=200)
    assert info.value.code == "cost_limit_exceeded"
    assert "gpt-4o-mini would fit, but this key may not use it" in info.value.message
    assert fake_upstream.requests == []


def test_strict_requests_are_kept_or_rejected(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(api_key=FREE).chat.completions.create(
            model="gpt-4o", messages=ask(), max_tokens=200, metadata={"routing": "strict"}
        )
    assert info.value.code == "cost_limit_exceeded" and "strict" in info.value.message
    assert fake_upstream.requests == []
    raw = gw.client(api_key=PREMIUM).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=ask(), max_tokens=200, metadata={"routing": "strict"}
    )
    assert gateway_headers(raw.headers)["x-gateway-route-reason"] == "strict"
    assert [r.model for r in fake_upstream.requests] == ["gpt-4o"]


def test_auto_serves_the_cheapest_capable_model_the_key_may_use(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": f"what is this? {uuid.uuid4().hex}"}, image]}
    ]
    raw = gw.client(api_key=CHEAP).chat.completions.with_raw_response.create(
        model="auto", messages=messages, max_tokens=100
    )
    h = gateway_headers(raw.headers)
    assert h["x-gateway-requested-model"] == "auto" and h["x-gateway-served-model"] == "gpt-4o-mini"
    assert h["x-gateway-route-reason"] == "auto"
    assert [r.model for r in fake_upstream.requests] == ["gpt-4o-mini"]


def test_streaming_carries_the_headers_and_the_stream(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        stream(["che", "ap ", "stream"], prompt_tokens=5, completion_tokens=3), model="gpt-4o-mini"
    )
    with gw.client(api_key=FREE).chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=ask(), max_tokens=200, stream=True
    ) as resp:
        h = gateway_headers(resp.headers)
        pieces = [c.choices[0].delta.content or "" for c in resp.parse() if c.choices]
    assert "".join(pieces) == "cheap stream"
    assert h["x-gateway-served-model"] == "gpt-4o-mini" and h["x-gateway-route-reason"] == "cost_ceiling"
    assert "x-gateway-estimated-cost" in h and "x-gateway-actual-cost" not in h  # not known before the end
    assert [r.model for r in fake_upstream.requests] == ["gpt-4o-mini"]


def test_a_cache_hit_is_free_marked_and_never_reaches_the_upstream(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    client, messages = gw.client(api_key=PREMIUM), ask("cache me")
    fake_upstream.script(text("first answer", prompt_tokens=9, completion_tokens=4), model="gpt-4o-mini")
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    h1, h2 = gateway_headers(first.headers), gateway_headers(second.headers)
    assert h1["x-gateway-cache"] == "miss" and float(h1["x-gateway-actual-cost"]) > 0
    assert h2["x-gateway-cache"] == "hit" and h2["x-gateway-actual-cost"] == "0"
    assert second.parse().choices[0].message.content == "first answer"
    assert len(fake_upstream.requests) == 1
    # LiteLLM's per-request opt-out: the call goes to the model again
    third = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, extra_body={"cache": {"no-cache": True}}
    )
    assert gateway_headers(third.headers)["x-gateway-cache"] == "bypass"
    assert len(fake_upstream.requests) == 2


def test_streams_are_cached_too(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    client, messages = gw.client(api_key=PREMIUM), ask("stream me")
    for expected in ("miss", "hit"):
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=messages, stream=True
        ) as resp:
            assert gateway_headers(resp.headers)["x-gateway-cache"] == expected
            text_ = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
        assert "stream me" in text_
    assert len(fake_upstream.requests) == 1


def test_cache_entries_are_not_shared_across_teams(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    messages = ask("shared question")
    for key in (PREMIUM, FREE):  # teams sales and research
        raw = gw.client(api_key=key).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=messages, max_tokens=50
        )
        assert gateway_headers(raw.headers)["x-gateway-cache"] == "miss"
    assert len(fake_upstream.requests) == 2


def test_the_decision_reaches_the_logging_callbacks(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    marker = f"logged {uuid.uuid4().hex}"
    raw = gw.client(api_key=FREE).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": marker}], max_tokens=200
    )
    ids = {raw.headers.get("x-request-id"), raw.headers.get("x-litellm-call-id")} - {None}
    mine: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10  # logging callbacks run after the response
    while not mine and time.monotonic() < deadline:
        lines = [json.loads(line) for line in gw.log_text().splitlines() if line.startswith('{"ts"')]
        mine = [line for line in lines if line.get("request_id") in ids]
        time.sleep(0.1)
    assert mine, "the request log has a line for the call"
    routing = mine[-1]["routing"]
    assert routing["requested_model"] == "gpt-4o" and routing["served_model"] == "gpt-4o-mini"
    assert routing["reason"] == "cost_ceiling" and routing["estimated_cost"] > 0


# --- with the real key store, budget guard and agents ---------------------------------

BUDGET_OVERRIDES = {
    "litellm_settings": {
        "callbacks": [
            "custom_hooks.cost_router.cost_router",
            "custom_hooks.budget_guard.budget_guard",
            "custom_hooks.spend_ledger.spend_ledger",
            "custom_hooks.request_log.request_log",
            "agent_routes.run_reporter.run_reporter",
        ]
    },
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {
        "routing": {
            "chains": {"claude-sonnet": ["claude-haiku"]},
            "default": {"downgrade_below_remaining": 0.04, "reject_over_budget": True},
            "cache": {"enabled": True},
        }
    },
}


@pytest.fixture(scope="module")
def gw_budget(gateway_factory: Any) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=BUDGET_OVERRIDES, name="routing-budget")


def new_key(gw: GatewayProcess, **fields: Any) -> str:
    with gw.http() as http:
        r = http.post("/gateway/keys", json={"key_alias": f"route-{uuid.uuid4().hex[:8]}", **fields})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["key"])


def test_a_low_budget_downgrades_and_an_exhausted_one_rejects(
    gw_budget: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    client = gw_budget.client(api_key=new_key(gw_budget, max_budget=0.05, budget_duration="1h"))
    fake_upstream.script(text("pricey", prompt_tokens=1000, completion_tokens=1000), model="claude-sonnet")
    fake_upstream.script(text("thrifty", prompt_tokens=1000, completion_tokens=1000), model="claude-haiku")
    client.chat.completions.create(model="claude-sonnet", messages=ask(), max_tokens=1000)  # spends 0.018
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet", messages=ask(), max_tokens=1000
    )
    h = gateway_headers(raw.headers)  # 0.032 left: under the 0.04 threshold
    assert h["x-gateway-served-model"] == "claude-haiku" and h["x-gateway-route-reason"] == "budget_low"
    assert [r.model for r in fake_upstream.requests] == ["claude-sonnet", "claude-haiku"]
    with pytest.raises(openai.BadRequestError) as info:  # 0.026 left; even haiku's estimate is 0.04
        client.chat.completions.create(model="claude-sonnet", messages=ask(), max_tokens=8000)
    assert info.value.code == "budget_exceeded" and "left in the key budget" in info.value.message
    assert len(fake_upstream.requests) == 2


def test_agent_runs_are_never_cached(gw_budget: GatewayProcess) -> None:
    client = gw_budget.client()
    messages = [{"role": "user", "content": "What is a token bucket?"}]
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="research", messages=messages)
        h = gateway_headers(raw.headers)
        assert h["x-gateway-route-reason"] == "agent" and h["x-gateway-cache"] == "bypass"
        assert raw.parse().choices[0].message.content
