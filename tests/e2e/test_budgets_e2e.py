"""Budgets and the spend ledger through a real gateway, called with the OpenAI SDK.

One gateway (embedded SQLite store, in-process counters) serves the module; priced calls
go to ``claude-sonnet`` (3e-6 / 15e-6 per token) with usage scripted on the fake upstream.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.spend_helpers import ask, cost, create_key, ledger_rows, sqlite_url
from tests.harness.clock import GatewayClock
from tests.harness.fake_upstream import FakeUpstream, delay, error, stream, text
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

OVERRIDES = {
    "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},  # shipped callbacks
    "router_settings": {"num_retries": 0, "fallbacks": []},
}
SONNET = "claude-sonnet"
CALL = cost(1000, 1000)  # 0.018 per scripted call


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> GatewayClock:
    return GatewayClock(tmp_path_factory.mktemp("budgets-clock") / "offset")


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, clock: GatewayClock) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=OVERRIDES, env=clock.env, name="budgets")


def script_calls(upstream: FakeUpstream, n: int, prompt: int = 1000, completion: int = 1000) -> None:
    upstream.script(
        *(text("ok", prompt_tokens=prompt, completion_tokens=completion) for _ in range(n)), model=SONNET
    )


def test_budget_runs_out_after_the_expected_calls(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = create_key(gw, max_budget=0.05, budget_duration="1h")
    client = gw.client(api_key=key["key"])
    script_calls(fake_upstream, 4)
    for i in range(3):  # spend before each call: 0, 0.018, 0.036 — all below 0.05
        client.chat.completions.create(model=SONNET, messages=ask(i))
    with pytest.raises(openai.BadRequestError) as exc_info:
        client.chat.completions.create(model=SONNET, messages=ask(3))
    err = exc_info.value
    assert err.status_code == 400 and err.code == "budget_exceeded"
    message = str(err.body.get("message") if isinstance(err.body, dict) else err.message)
    assert "$0.0500" in message and "$0.0540" in message and "resets at" in message
    assert err.response.headers["x-gateway-budget-remaining"] == "0.000000"
    assert len(fake_upstream.requests_for(SONNET)) == 3  # the rejected call never left

    rows = ledger_rows(sqlite_url(gw), expect=3, key_hash=key["key_hash"])
    assert len(rows) == 3
    assert sum(r["cost"] for r in rows) == pytest.approx(3 * CALL)


def test_budget_headers_tell_what_is_left(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = create_key(gw, max_budget=1.0, budget_duration="1d")
    script_calls(fake_upstream, 1)
    raw = gw.client(api_key=key["key"]).chat.completions.with_raw_response.create(
        model=SONNET, messages=ask(), max_tokens=100
    )
    assert raw.headers["x-gateway-budget-scope"] == "key"
    assert float(raw.headers["x-gateway-budget-limit"]) == pytest.approx(1.0)
    assert 0.9 < float(raw.headers["x-gateway-budget-remaining"]) < 1.0
    assert raw.headers["x-gateway-budget-reset"].endswith("T00:00:00+00:00")


def test_ledger_matches_upstream_usage(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = create_key(gw)
    client = gw.client(api_key=key["key"])
    fake_upstream.script(
        text("plain", prompt_tokens=11, completion_tokens=7),
        stream(["str", "eam", "ed"], prompt_tokens=5, completion_tokens=3),
        error(500, "upstream broke"),
        model=SONNET,
    )
    plain = client.chat.completions.create(model=SONNET, messages=ask(1))
    chunks = list(
        client.chat.completions.create(
            model=SONNET, messages=ask(2), stream=True, stream_options={"include_usage": True}
        )
    )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=SONNET, messages=ask(3))
    cached_prompt = ask(4)
    client.chat.completions.create(model=SONNET, messages=cached_prompt)
    client.chat.completions.create(model=SONNET, messages=cached_prompt)  # answered by the cache

    rows = ledger_rows(sqlite_url(gw), expect=5, key_hash=key["key_hash"])
    by_status: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        by_status.setdefault(r["status"], []).append(r)
    success = by_status["success"]
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in success[:2]] == [(11, 7), (5, 3)]
    assert success[0]["cost"] == pytest.approx(cost(11, 7)) and success[1]["cost"] == pytest.approx(
        cost(5, 3)
    )
    assert plain.usage is not None and plain.usage.prompt_tokens == 11
    assert any(c.usage for c in chunks)
    [failed] = by_status["failure"]
    assert failed["cost"] == 0.0 and failed["error_class"] == "InternalServerError"
    [hit] = by_status["cache_hit"]
    assert hit["cost"] == 0.0 and hit["cache_hit"] is True
    for r in rows:
        assert r["key_alias"] == key["key_alias"] and r["served_model"] == SONNET
        assert r["requested_model"] == SONNET and r["latency_ms"] is not None


def test_budget_resets_after_its_duration(
    gw: GatewayProcess, fake_upstream: FakeUpstream, clock: GatewayClock
) -> None:
    key = create_key(gw, max_budget=0.02, budget_duration="1h")
    client = gw.client(api_key=key["key"])
    script_calls(fake_upstream, 3)
    sent = len(fake_upstream.requests_for(SONNET))
    try:
        clock.set(clock.to_boundary(3600) + 1)  # the gateway's hour has just begun: one window
        client.chat.completions.create(model=SONNET, messages=ask(1))
        client.chat.completions.create(model=SONNET, messages=ask(2))  # 0.018 < 0.02: allowed
        with pytest.raises(openai.BadRequestError) as exc_info:
            client.chat.completions.create(model=SONNET, messages=ask(3))
        assert exc_info.value.code == "budget_exceeded"
        assert "(in 59 min)" in str(exc_info.value.message)  # the reset time is the test clock's
        clock.advance(3600)  # the next window
        client.chat.completions.create(model=SONNET, messages=ask(4))
    finally:
        clock.set(0.0)  # the module's other tests run on the wall clock
    assert len(fake_upstream.requests_for(SONNET)) == sent + 3  # the rejected call never left


def test_restart_keeps_the_window_spend(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = create_key(gw, max_budget=0.05, budget_duration="1d")
    client = gw.client(api_key=key["key"])
    script_calls(fake_upstream, 3)
    client.chat.completions.create(model=SONNET, messages=ask(1))
    client.chat.completions.create(model=SONNET, messages=ask(2))  # spent 0.036
    gw.restart()
    client = gw.client(api_key=key["key"])
    client.chat.completions.create(model=SONNET, messages=ask(3))  # 0.036 < 0.05: allowed
    with pytest.raises(openai.BadRequestError) as exc_info:  # 0.054: a reset would allow it
        client.chat.completions.create(model=SONNET, messages=ask(4))
    assert exc_info.value.code == "budget_exceeded"


def test_sigterm_during_load_loses_no_row(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = create_key(gw)
    client = gw.client(api_key=key["key"], timeout=30)
    n = 16
    fake_upstream.script(
        *(delay(1.0, text("slow", prompt_tokens=3, completion_tokens=2)) for _ in range(n)), model=SONNET
    )

    def one(i: int) -> bool:
        try:
            client.chat.completions.create(model=SONNET, messages=ask(i))
            return True
        except openai.APIError:
            return False

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        deadline = time.monotonic() + 10
        while len(fake_upstream.requests_for(SONNET)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        gw.stop(signal.SIGTERM)  # while every call is waiting on the upstream
        ok = sum(f.result() for f in futures)
    assert ok == n  # graceful shutdown lets in-flight requests finish
    rows = ledger_rows(sqlite_url(gw), key_hash=key["key_hash"])
    assert len(rows) == ok
    gw.start()


def test_agent_run_is_charged_once_through_its_inner_calls(gw: GatewayProcess) -> None:
    key = create_key(gw, max_budget=1.0, budget_duration="1d")
    client = gw.client(api_key=key["key"], timeout=120)
    client.chat.completions.create(
        model="research", messages=[{"role": "user", "content": "What is a budget?"}]
    )

    deadline = time.monotonic() + 15
    while True:
        rows = ledger_rows(sqlite_url(gw), key_hash=key["key_hash"])
        outer = [r for r in rows if r["requested_model"] == "research"]
        inner = [r for r in rows if outer and r["parent_request_id"] == outer[0]["request_id"]]
        if (outer and inner) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [run] = outer
    assert run["agent_run_id"] and run["parent_request_id"] is None
    assert (run["cost"], run["prompt_tokens"], run["completion_tokens"]) == (0.0, 0, 0)
    assert inner and all(r["agent_run_id"] == run["agent_run_id"] for r in inner)
    assert all(r["status"] == "success" and r["cost"] > 0 for r in inner)
    assert len(rows) == len(inner) + 1  # nothing else was recorded for this key

    # The budget window holds exactly the inner calls' cost: the run was not charged again.
    probe = client.chat.completions.with_raw_response.create(model="demo", messages=ask(), max_tokens=10)
    remaining = float(probe.headers["x-gateway-budget-remaining"])
    demo_reservation = 1.0 - sum(r["cost"] for r in inner) - remaining
    assert 0 < demo_reservation < 0.001  # what is left is 1.0 - inner costs - this call's estimate


def test_messages_route_settles_and_records_from_litellm_metadata(
    gw: GatewayProcess, fake_upstream: FakeUpstream
) -> None:
    """/v1/messages keeps LiteLLM's metadata under ``litellm_metadata`` (the client's
    ``metadata`` is Anthropic's own parameter): a stream there is recorded with its
    identity and its reservation settled, and the gateway's record does not go upstream."""
    import anthropic

    key = create_key(gw, max_budget=1.0, budget_duration="1d")
    claude = anthropic.Anthropic(base_url=gw.root_url, auth_token=key["key"], api_key=None, max_retries=0)
    fake_upstream.script(stream(["str", "eam"], prompt_tokens=1000, completion_tokens=1000), model=SONNET)
    events = claude.messages.create(
        model=SONNET, max_tokens=64, messages=ask(), metadata={"user_id": "u-1"}, stream=True
    )
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "stream"  # type: ignore[union-attr]
    sent = [r.json for r in fake_upstream.requests_for(SONNET)]
    assert sent and all("gateway" not in json.dumps(body) for body in sent)

    (row,) = ledger_rows(sqlite_url(gw), expect=1, key_hash=key["key_hash"])
    assert row["key_alias"] == key["key_alias"] and row["status"] == "success"
    assert row["cost"] > 0

    # the stream's reservation is gone: what is left is the budget minus its real cost and
    # the estimate this next call reserves
    script_calls(fake_upstream, 1)
    raw = gw.client(api_key=key["key"]).chat.completions.with_raw_response.create(
        model=SONNET, messages=ask(), max_tokens=100
    )
    estimate = float(raw.headers["x-gateway-estimated-cost"])
    assert float(raw.headers["x-gateway-budget-remaining"]) == pytest.approx(
        1.0 - row["cost"] - estimate, abs=1e-6
    )
