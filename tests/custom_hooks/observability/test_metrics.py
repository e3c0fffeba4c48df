"""The metrics hook, hook timing, request ids and the /metrics endpoint, on fresh registries."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import litellm
import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth
from prometheus_client import CollectorRegistry, generate_latest

from custom_hooks.core.errors import BudgetExceeded, GuardrailBlocked, to_proxy_exception
from custom_hooks.core.request_event import classify_exception, event_from_logging_kwargs
from custom_hooks.core.services import Services
from custom_hooks.observability.hook_timing import instrument_callbacks
from custom_hooks.observability.metrics import (
    GEN_AI_DURATION_BUCKETS,
    GEN_AI_TOKEN_BUCKETS,
    GatewayMetrics,
    build_metrics,
)
from custom_hooks.observability.metrics_logger import Metrics, _Seen, record_event
from custom_hooks.observability.request_context import RequestIdMiddleware, client_request_id, current
from custom_hooks.observability.scrape import MetricsEndpointMiddleware, ScrapeAccess

REPO = Path(__file__).resolve().parents[3]


# Built explicitly: the shipped config (agent model names, options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> GatewayMetrics:
    return build_metrics(registry)


@pytest.fixture
def hook(metrics: GatewayMetrics) -> Metrics:
    return Metrics(metrics=metrics)


def logging_kwargs(
    call_id: str = "req-1",
    *,
    model_group: str = "gpt-4o-mini",
    provider: str = "openai",
    team: str | None = "search",
    cost: float = 0.002,
    prompt: int = 120,
    completion: int = 30,
    gateway: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start: float = 1000.0,
    end: float = 1000.5,
) -> dict[str, Any]:
    """A logging payload shaped like LiteLLM 1.108's (only the fields we read)."""
    slo: dict[str, Any] = {
        "id": call_id,
        "call_type": "acompletion",
        "stream": False,
        "status": "success" if exception is None else "failure",
        "custom_llm_provider": provider,
        "startTime": start,
        "endTime": end,
        "completionStartTime": end,
        "model": f"{provider}/{model_group}",
        "model_group": model_group,
        "response_cost": cost if exception is None else 0.0,
        "prompt_tokens": prompt if exception is None else 0,
        "completion_tokens": completion if exception is None else 0,
        "metadata": {
            "user_api_key_hash": "h" * 64,
            "user_api_key_alias": "web-app",
            "user_api_key_team_id": team,
            "user_api_key_user_id": "alice",
        },
        "messages": [{"role": "user", "content": "secret prompt text"}],
        "response": {"choices": [{"message": {"content": "secret answer"}}]},
        "error_information": {"error_class": type(exception).__name__, "llm_provider": provider}
        if exception is not None
        else None,
    }
    return {
        "litellm_call_id": call_id,
        "standard_logging_object": slo,
        "litellm_params": {"metadata": {"gateway": gateway or {}, "model_group": model_group}},
        "exception": exception,
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


async def test_success_feeds_genai_spend_and_routing(hook: Metrics, registry: CollectorRegistry) -> None:
    routing = {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "cheaper_tier"}
    guardrails = [{"guardrail": "pii", "entity": "EMAIL_ADDRESS", "action": "mask"}]
    kwargs = logging_kwargs(gateway={"routing": routing, "guardrails": guardrails})
    await hook.async_log_success_event(kwargs, None, None, None)

    gen_ai = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "gen_ai_response_model": "gpt-4o-mini",
    }
    assert value(registry, "gen_ai_client_token_usage_sum", **gen_ai, gen_ai_token_type="input") == 120
    assert value(registry, "gen_ai_client_token_usage_sum", **gen_ai, gen_ai_token_type="output") == 30
    assert (
        value(
            registry,
            "gen_ai_client_operation_duration_seconds_sum",
            **gen_ai,
            error_type="none",
            gen_ai_tool_name="none",
        )
        == 0.5
    )
    assert value(registry, "gateway_spend_usd_total", team="search", model="gpt-4o-mini") == pytest.approx(
        0.002
    )
    assert value(registry, "gateway_routing_decisions_total", **routing) == 1
    assert (
        value(
            registry,
            "gateway_guardrail_actions_total",
            guardrail="pii",
            entity="EMAIL_ADDRESS",
            action="mask",
        )
        == 1
    )


def test_spec_buckets(metrics: GatewayMetrics) -> None:
    assert tuple(metrics.token_usage._upper_bounds[:-1]) == tuple(float(b) for b in GEN_AI_TOKEN_BUCKETS)
    assert tuple(metrics.operation_duration._upper_bounds[:-1]) == GEN_AI_DURATION_BUCKETS
    assert GEN_AI_TOKEN_BUCKETS[-1] == 67108864 and GEN_AI_DURATION_BUCKETS[-1] == 81.92


async def test_no_team_is_labelled_none(hook: Metrics, registry: CollectorRegistry) -> None:
    await hook.async_log_success_event(logging_kwargs(team=None, cost=0.5), None, None, None)
    assert value(registry, "gateway_spend_usd_total", team="none", model="gpt-4o-mini") == 0.5


async def test_agent_run_counted_as_invoke_agent_without_charging_again(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    run = {
        "agent": "research",
        "run_id": "run-1",
        "outcome": "completed",
        "duration_s": 3.2,
        "inner_calls": 3,
        "tool_calls": {"web_search": 2, "fetch": 1},
        "tool_durations_s": {"web_search": [0.25, 1.5], "fetch": [0.05]},
        "steps": 7,
        "cost": 0.01,
    }
    kwargs = logging_kwargs(model_group="research", provider="agent", cost=0.01, gateway={"agent_run": run})
    await hook.async_log_success_event(kwargs, None, None, None)

    assert value(registry, "gateway_agent_runs_total", agent="research", outcome="completed") == 1
    assert (
        value(registry, "gateway_agent_run_duration_seconds_sum", agent="research", outcome="completed")
        == 3.2
    )
    assert value(registry, "gateway_agent_run_llm_calls_sum", agent="research") == 3
    assert value(registry, "gateway_agent_run_tool_calls_sum", agent="research", tool="web_search") == 2
    assert value(registry, "gateway_agent_run_tool_calls_count", agent="research", tool="fetch") == 1
    labels = {
        "gen_ai_operation_name": "invoke_agent",
        "gen_ai_provider_name": "agent",
        "gen_ai_request_model": "research",
        "gen_ai_response_model": "research",
        "error_type": "none",
        "gen_ai_tool_name": "none",
    }
    assert value(registry, "gen_ai_client_operation_duration_seconds_count", **labels) == 1
    # each tool call's duration, labelled by tool and agent only
    tool_labels = {
        "gen_ai_operation_name": "execute_tool",
        "gen_ai_provider_name": "none",
        "gen_ai_request_model": "research",
        "gen_ai_response_model": "none",
        "error_type": "none",
    }
    search = {**tool_labels, "gen_ai_tool_name": "web_search"}
    assert value(registry, "gen_ai_client_operation_duration_seconds_count", **search) == 2
    assert value(registry, "gen_ai_client_operation_duration_seconds_sum", **search) == 1.75
    fetch = {**tool_labels, "gen_ai_tool_name": "fetch"}
    assert value(registry, "gen_ai_client_operation_duration_seconds_count", **fetch) == 1
    # a repeated event for the same request (a fallback's success) does not count them again
    await hook.async_log_success_event(kwargs, None, None, None)
    assert value(registry, "gen_ai_client_operation_duration_seconds_count", **search) == 2
    # the inner calls were charged; the outer run is not charged again
    assert value(registry, "gateway_spend_usd_total", team="search", model="research") == 0


async def test_step_limit_end_from_failed_run(hook: Metrics, registry: CollectorRegistry) -> None:
    run = {"agent": "research", "run_id": "r2", "outcome": "step_limit", "duration_s": 1.0, "inner_calls": 25}
    exc = to_proxy_exception(BudgetExceeded("x"))  # any exception: the run outcome is what counts
    kwargs = logging_kwargs("req-2", model_group="research", gateway={"agent_run": run}, exception=exc)
    await hook.async_log_failure_event(kwargs, None, None, None)
    assert value(registry, "gateway_agent_runs_total", agent="research", outcome="step_limit") == 1


async def test_upstream_failure_then_fallback_counts_decisions_once(
    metrics: GatewayMetrics, registry: CollectorRegistry
) -> None:
    routing = {"requested_model": "gpt-4o-mini", "served_model": "gpt-4o-mini", "reason": "requested"}
    seen = _Seen()
    failed = logging_kwargs(
        "req-3",
        gateway={"routing": routing},
        exception=litellm.InternalServerError("boom", "openai", "gpt-4o-mini"),
    )
    record_event(metrics, event_from_logging_kwargs(failed, "failure"), seen)
    ok = logging_kwargs("req-3", model_group="claude-haiku", gateway={"routing": routing})
    record_event(metrics, event_from_logging_kwargs(ok, "success"), seen)

    assert (
        value(
            registry, "gateway_upstream_failures_total", model="gpt-4o-mini", error_type="InternalServerError"
        )
        == 1
    )
    assert value(registry, "gateway_routing_decisions_total", **routing) == 1
    assert value(registry, "gateway_spend_usd_total", team="search", model="claude-haiku") == pytest.approx(
        0.002
    )


async def test_rejected_request_has_no_duration_or_upstream_failure(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    exc = to_proxy_exception(GuardrailBlocked("blocked"))
    guardrails = [{"guardrail": "secrets", "entity": "API_KEY", "action": "block"}]
    kwargs = logging_kwargs("req-4", gateway={"guardrails": guardrails}, exception=exc)
    await hook.async_log_failure_event(kwargs, None, None, None)
    text = generate_latest(registry).decode()
    assert "gen_ai_client_operation_duration_seconds_count{" not in text
    assert "gateway_upstream_failures_total{" not in text
    assert (
        value(
            registry, "gateway_guardrail_actions_total", guardrail="secrets", entity="API_KEY", action="block"
        )
        == 1
    )


def _proxy_rate_limit_error() -> BaseException:
    from litellm.proxy.common_utils.proxy_rate_limit_error import ProxyRateLimitError

    return ProxyRateLimitError(detail="Rate limit exceeded for api_key: rpm 2")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (to_proxy_exception(BudgetExceeded("over")), ("rejection", "budget_exceeded", 400)),
        (to_proxy_exception(GuardrailBlocked("no")), ("rejection", "guardrail_blocked", 400)),
        (HTTPException(status_code=429, detail="slow down"), ("rejection", "rate_limit_exceeded", 429)),
        (
            HTTPException(status_code=400, detail={"error": {"code": "cost_limit_exceeded"}}),
            ("rejection", "cost_limit_exceeded", 400),
        ),
        (litellm.InternalServerError("boom", "openai", "gpt-4o"), ("upstream", "InternalServerError", 500)),
        (litellm.BudgetExceededError(1.0, 0.5), ("rejection", "budget_exceeded", 400)),
        (_proxy_rate_limit_error(), ("rejection", "rate_limit_exceeded", 429)),  # LiteLLM's own limiter
    ],
)
def test_classify_exception(exc: BaseException, expected: tuple[str, str, int]) -> None:
    assert classify_exception(exc) == expected


async def test_rejections_counted_by_reason(hook: Metrics, registry: CollectorRegistry) -> None:
    auth = UserAPIKeyAuth(api_key="h" * 64)
    await hook.async_post_call_failure_hook({}, to_proxy_exception(BudgetExceeded("over")), auth)
    await hook.async_post_call_failure_hook({}, HTTPException(status_code=429, detail="x"), auth)
    await hook.async_post_call_failure_hook({}, HTTPException(status_code=429, detail="x"), auth)
    upstream = litellm.InternalServerError("boom", "openai", "gpt-4o")
    await hook.async_post_call_failure_hook({}, upstream, auth)
    assert value(registry, "gateway_rejections_total", reason="budget_exceeded", status="400") == 1
    assert value(registry, "gateway_rejections_total", reason="rate_limit_exceeded", status="429") == 2
    assert "InternalServerError" not in generate_latest(registry).decode()


async def test_pre_call_stamps_request_id(hook: Metrics) -> None:
    data: dict[str, Any] = {"litellm_call_id": "req-9", "metadata": {}}
    out = await hook.async_pre_call_hook(UserAPIKeyAuth(api_key="k"), None, data, "completion")
    assert out["metadata"]["gateway"]["request_id"] == "req-9"


def _spend_samples(registry: CollectorRegistry) -> list[Any]:
    return [s for metric in registry.collect() for s in metric.samples if s.name == "gateway_spend_usd_total"]


async def test_a_malformed_payload_is_logged_not_raised_and_the_next_one_still_counts(
    hook: Metrics, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    await hook.async_log_success_event(None, None, None, None)  # not a payload: ignored quietly
    bad = logging_kwargs("req-bad", cost=-1.0)  # a counter cannot go down: prometheus raises
    with caplog.at_level(logging.ERROR, logger="gateway.metrics"):
        await hook.async_log_success_event(bad, None, None, None)
    [rec] = [r for r in caplog.records if r.name == "gateway.metrics"]
    assert rec.levelno == logging.ERROR and rec.getMessage() == "recording metrics failed"
    assert rec.exc_info is not None and rec.exc_info[0] is ValueError
    assert [s.value for s in _spend_samples(registry)] in ([], [0.0])  # nothing was charged for it

    routing = {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "budget_low"}
    good = logging_kwargs("req-good", cost=0.25, gateway={"routing": routing})
    await hook.async_log_success_event(good, None, None, None)
    [spend] = _spend_samples(registry)
    assert spend.labels == {"team": "search", "model": "gpt-4o-mini"} and spend.value == pytest.approx(0.25)
    assert value(registry, "gateway_routing_decisions_total", **routing) == 1


def test_labels_hold_no_key_user_or_prompt(metrics: GatewayMetrics, registry: CollectorRegistry) -> None:
    kwargs = logging_kwargs(gateway={"routing": {"requested_model": "a", "served_model": "b", "reason": "c"}})
    record_event(metrics, event_from_logging_kwargs(kwargs, "success"), _Seen())
    text = generate_latest(registry).decode()
    assert "h" * 64 not in text and "alice" not in text and "secret prompt" not in text


# --- hook timing -------------------------------------------------------------------------


async def test_hook_timing_wraps_our_hooks_and_adds_to_request_overhead(
    metrics: GatewayMetrics, registry: CollectorRegistry
) -> None:
    ours = Metrics(metrics=metrics)
    assert instrument_callbacks([ours, "prometheus"], lambda: metrics) == 2  # pre_call + failure
    assert instrument_callbacks([ours], lambda: metrics) == 0  # idempotent

    seen_ctx: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        data: dict[str, Any] = {"litellm_call_id": "x", "metadata": {}}
        await ours.async_pre_call_hook(UserAPIKeyAuth(api_key="k"), None, data, "completion")
        ctx = current()
        assert ctx is not None
        seen_ctx.append(ctx.hook_seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=RequestIdMiddleware(app, metrics=metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/v1/chat/completions")
    assert value(registry, "gateway_hook_duration_seconds_count", hook="metrics", phase="pre_call") == 1
    assert seen_ctx and seen_ctx[0] > 0
    assert value(registry, "gateway_request_overhead_seconds_count") == 1


# --- request ids -----------------------------------------------------------------------


async def _echo_headers(scope: Any, receive: Any, send: Any) -> None:
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    body = json.dumps(headers).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-litellm-call-id", b"inner")]})
    await send({"type": "http.response.body", "body": body})


async def test_request_id_generated_passed_down_and_returned(metrics: GatewayMetrics) -> None:
    transport = httpx.ASGITransport(app=RequestIdMiddleware(_echo_headers, metrics=metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r1 = await client.get("/v1/models")
        r2 = await client.get("/v1/models", headers={"x-request-id": "client-42", "x-litellm-call-id": "dup"})
        r3 = await client.get("/v1/models", headers={"x-request-id": "bad id\twith junk"})
    for r in (r1, r2, r3):
        rid = r.headers["x-request-id"]
        assert r.headers["x-litellm-call-id"] == rid  # one id, both names
        assert r.json()["x-litellm-call-id"] == rid  # LiteLLM sees it as the call id
        assert len(rid) == 36
    assert len({r1.headers["x-request-id"], r2.headers["x-request-id"], r3.headers["x-request-id"]}) == 3
    assert client_request_id(r2.headers["x-request-id"]) == "client-42"
    assert client_request_id(r3.headers["x-request-id"]) is None


# --- /metrics endpoint -------------------------------------------------------------------


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_metrics_endpoint_needs_token_unless_public() -> None:
    refreshed: list[int] = []

    async def refresh() -> None:
        refreshed.append(1)

    closed = MetricsEndpointMiddleware(
        _not_found, access=lambda: ScrapeAccess(False, ["tok", "admin"]), refresh=refresh
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=closed), base_url="http://t") as client:
        denied = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        ok = await client.get("/metrics", headers={"Authorization": "Bearer tok"})
        admin = await client.get("/metrics/", headers={"Authorization": "Bearer admin"})
        other = await client.get("/v1/models")
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    assert wrong.status_code == 401
    assert ok.status_code == 200 and "text/plain" in ok.headers["content-type"]
    assert admin.status_code == 200
    assert other.status_code == 404  # everything else passes through
    assert len(refreshed) == 2

    public = MetricsEndpointMiddleware(_not_found, access=lambda: ScrapeAccess(True, []))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=public), base_url="http://t") as client:
        assert (await client.get("/metrics")).status_code == 200


def test_multiprocess_mode_collects_every_worker(tmp_path: Path) -> None:
    """Under PROMETHEUS_MULTIPROC_DIR two processes' values add up in one exposition."""
    script = """
import sys
from prometheus_client import CollectorRegistry
from custom_hooks.observability.metrics import build_metrics
m = build_metrics(CollectorRegistry())
m.spend.labels(team="t", model="m").inc(0.25)
m.ledger_queue_depth.set(3)
m.budget_remaining.labels(scope="team", id="t", window="1d").set(float(sys.argv[1]))
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    for remaining in ("7", "5"):
        subprocess.run([sys.executable, "-c", script, remaining], env=env, check=True, timeout=60)
        time.sleep(0.01)  # "mostrecent" compares write timestamps
    render = """
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
r = CollectorRegistry(); multiprocess.MultiProcessCollector(r); print(generate_latest(r).decode())
"""
    out = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True, text=True
    )
    assert 'gateway_spend_usd_total{model="m",team="t"} 0.5' in out.stdout
    assert 'gateway_budget_remaining_usd{id="t",scope="team",window="1d"} 5.0' in out.stdout


# --- budget gauges -----------------------------------------------------------------------


async def test_budget_gauges_from_store(
    tmp_path: Path, metrics: GatewayMetrics, registry: CollectorRegistry, shipped_services: Services
) -> None:
    from datetime import UTC, datetime

    from custom_hooks.ledger.writer import LEDGER, LedgerWriter
    from custom_hooks.observability.budget_gauges import budget_rows, set_budget_gauges
    from custom_hooks.observability.litellm_metrics import LITELLM_METRICS, LiteLLMMetrics
    from custom_hooks.store.store import Store

    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    lm = LiteLLMMetrics(registry, ())
    shipped_services.provide(LITELLM_METRICS, lm)
    # budget_rows adds the rows still queued for the ledger: an idle (unstarted) writer here.
    shipped_services.provide(
        LEDGER, LedgerWriter(store.insert_ledger_rows, shipped_services.config.gateway.governance.ledger)
    )
    try:
        await store.create_team({"team_id": "search", "max_budget": 10.0, "budget_duration": "1d"})
        await store.create_team({"team_id": "free"})  # no budget: no series
        now = datetime.now(UTC)
        rows = [
            {"request_id": f"r{i}", "created_at": now, "team_id": "search", "cost": 1.5, "status": "success"}
            for i in range(3)
        ]
        await store.insert_ledger_rows(rows)
        set_budget_gauges(metrics, await budget_rows(store, per_key=False))
    finally:
        await store.close()
    labels = {"scope": "team", "id": "search", "window": "1d"}
    assert value(registry, "gateway_budget_limit_usd", **labels) == 10.0
    assert value(registry, "gateway_budget_remaining_usd", **labels) == pytest.approx(5.5)
    assert "free" not in generate_latest(registry).decode()
    # LiteLLM's name for the same number, which its dashboards read
    assert value(
        registry, "litellm_remaining_team_budget_metric", team="search", team_alias="None"
    ) == pytest.approx(5.5)


def test_prepare_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from custom_hooks.observability.multiproc import prepare_multiprocess_dir

    # setenv first so monkeypatch restores the variable's absence after the test:
    # prepare_multiprocess_dir writes os.environ, and later gateways inherit it
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "unset")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert prepare_multiprocess_dir(1, tmp_path) is None  # one worker: the default registry
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    path = prepare_multiprocess_dir(2, tmp_path)
    assert path == tmp_path / "prometheus-multiproc" and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(path)
    (path / "counter_123.db").write_bytes(b"stale")
    assert prepare_multiprocess_dir(2, tmp_path) == path
    assert not (path / "counter_123.db").exists()  # a previous run's samples would be re-added
