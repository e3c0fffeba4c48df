"""The LiteLLM-named families the metrics hook emits in place of LiteLLM's ``prometheus`` callback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import litellm
import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.integrations.prometheus import PrometheusMetricLabels
from prometheus_client import CollectorRegistry, generate_latest

from custom_hooks.core.errors import BudgetExceeded, to_proxy_exception
from custom_hooks.core.services import Services
from custom_hooks.observability.litellm_metrics import LiteLLMMetrics, exception_class_name
from custom_hooks.observability.metrics import build_metrics
from custom_hooks.observability.metrics_logger import Metrics

EXCLUDED = ["user", "end_user", "user_email", "client_ip", "user_agent", "hashed_api_key"]
T0 = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def lm(registry: CollectorRegistry) -> LiteLLMMetrics:
    return LiteLLMMetrics(registry, EXCLUDED)


@pytest.fixture
def hook(registry: CollectorRegistry, lm: LiteLLMMetrics, shipped_services: Services) -> Metrics:
    """The hook over the shipped config (model labels are bounded to its names)."""
    return Metrics(metrics=build_metrics(registry), litellm_metrics=lm)


def payload(
    *,
    group: str = "gpt-4o-mini",
    stream: bool = False,
    exception: BaseException | None = None,
    route: str = "/v1/chat/completions",
    cost: float = 0.002,
) -> dict[str, Any]:
    """A success/failure logging payload shaped like LiteLLM 1.108's (the fields read)."""
    slo = {
        "model_group": group,
        "model_id": "gpt-4o-mini-openai",  # the deployment the router picked (from config)
        "api_base": "https://api.openai.com/v1",
        "custom_llm_provider": "openai",
        "response_cost": cost,
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "startTime": 1000.0,
        "endTime": 1000.5,
        "metadata": {
            "user_api_key_hash": "h" * 64,
            "user_api_key_alias": "web-app",
            "user_api_key_team_id": "search",
            "user_api_key_team_alias": None,
            "user_api_key_user_id": "alice",
            "user_api_key_user_email": "alice@example.com",
            "user_api_key_request_route": route,
            "requester_ip_address": "203.0.113.9",
        },
        "hidden_params": {},
    }
    return {
        "model": group,
        "stream": stream,
        "start_time": T0,
        "api_call_start_time": T0 + timedelta(milliseconds=100),
        "completion_start_time": T0 + timedelta(milliseconds=200),
        "end_time": T0 + timedelta(milliseconds=600),
        "litellm_call_id": "req-1",
        "standard_logging_object": slo,
        "litellm_params": {
            "metadata": {"gateway": {}, "model_group": group},
            "custom_llm_provider": "openai",
        },
        "exception": exception,
    }


CALLER = {
    "api_key_alias": "web-app",
    "team": "search",
    "team_alias": "None",
    "org_id": "None",
    "org_alias": "None",
    "api_provider": "openai",
    "model_id": "gpt-4o-mini-openai",
}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_families_have_litellm_names_types_and_labels_minus_excluded(
    lm: LiteLLMMetrics, registry: CollectorRegistry
) -> None:
    for attr, labels in lm.labelnames.items():
        name = lm._metrics[attr]._name
        expected = [x for x in PrometheusMetricLabels.get_labels(name) if x not in EXCLUDED]
        assert list(labels) == expected, name
        assert not set(labels) & set(EXCLUDED)
    text = generate_latest(registry).decode()
    assert "# TYPE litellm_proxy_total_requests_metric_total counter" in text
    assert "# TYPE litellm_request_total_latency_metric histogram" in text
    assert "# TYPE litellm_deployment_state gauge" in text


async def test_success_counts_requests_spend_tokens_and_latencies(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    await hook.async_log_success_event(payload(stream=True), None, None, None)
    model = {**CALLER, "model": "gpt-4o-mini", "requested_model": "gpt-4o-mini"}
    assert value(registry, "litellm_requests_metric_total", **model) == 1
    assert value(registry, "litellm_spend_metric_total", **model, service_tier="None") == pytest.approx(0.002)
    assert value(registry, "litellm_total_tokens_metric_total", **model) == 150
    assert value(registry, "litellm_input_tokens_metric_total", **model) == 120
    assert value(registry, "litellm_output_tokens_metric_total", **model) == 30
    timed = {**model, "model_group": "gpt-4o-mini", "service_tier": "None"}
    assert value(registry, "litellm_request_total_latency_metric_sum", **timed) == pytest.approx(0.6)
    assert value(registry, "litellm_llm_api_latency_metric_sum", **timed) == pytest.approx(0.5)
    assert value(registry, "litellm_llm_api_time_to_first_token_metric_sum", **timed) == pytest.approx(0.1)
    total = {
        **CALLER,
        "requested_model": "gpt-4o-mini",
        "status_code": "200",
        "route": "/v1/chat/completions",
    }
    assert value(registry, "litellm_proxy_total_requests_metric_total", **total) == 1
    deployment = {
        "model_group": "gpt-4o-mini",
        "requested_model": "gpt-4o-mini",
        "litellm_model_name": "gpt-4o-mini",
        "model_id": "gpt-4o-mini-openai",
        "api_base": "https://api.openai.com/v1",
        "api_provider": "openai",
        "api_key_alias": "web-app",
        "team": "search",
        "team_alias": "None",
    }
    assert value(registry, "litellm_deployment_success_responses_total", **deployment) == 1
    assert value(registry, "litellm_deployment_total_requests_total", **deployment) == 1
    state = {k: deployment[k] for k in ("litellm_model_name", "model_id", "api_base", "api_provider")}
    assert value(registry, "litellm_deployment_state", **state) == 0


async def test_time_to_first_token_only_for_streams(hook: Metrics, registry: CollectorRegistry) -> None:
    await hook.async_log_success_event(payload(stream=False), None, None, None)
    text = generate_latest(registry).decode()
    assert "litellm_llm_api_time_to_first_token_metric_count{" not in text
    assert "litellm_llm_api_latency_metric_count{" in text


async def test_no_personal_label_values_and_bounded_models_and_routes(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    kwargs = payload(
        group="attacker-chosen-model-9f3c", route="/openai/deployments/evil-123/chat/completions"
    )
    await hook.async_log_success_event(kwargs, None, None, None)
    text = generate_latest(registry).decode()
    for secret in ("alice", "203.0.113.9", "h" * 64, "attacker-chosen", "evil-123"):
        assert secret not in text
    assert 'requested_model="other"' in text and 'route="other"' in text


async def test_upstream_failure_counts_deployment_failure_not_a_gateway_rejection(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    err = litellm.RateLimitError("slow down", "openai", "gpt-4o-mini")
    await hook.async_log_failure_event(payload(exception=err), None, None, None)
    failed = value(
        registry,
        "litellm_deployment_failure_responses_total",
        model_group="gpt-4o-mini",
        requested_model="gpt-4o-mini",
        litellm_model_name="gpt-4o-mini",
        model_id="gpt-4o-mini-openai",
        api_base="https://api.openai.com/v1",
        api_provider="openai",
        exception_status="429",
        exception_class="Openai.RateLimitError",
        api_key_alias="web-app",
        team="search",
        team_alias="None",
    )
    assert failed == 1
    rejected = payload(exception=to_proxy_exception(BudgetExceeded("over")))
    await hook.async_log_failure_event(rejected, None, None, None)
    text = generate_latest(registry).decode()
    assert text.count("litellm_deployment_failure_responses_total{") == 1  # the refusal called no deployment


async def test_failed_requests_counted_with_status_and_class(
    hook: Metrics, registry: CollectorRegistry
) -> None:
    auth = UserAPIKeyAuth(api_key="h" * 64, key_alias="web-app", team_id="search", user_id="alice")
    data = {"model": "gpt-4o-mini", "metadata": {"requester_ip_address": "203.0.113.9"}}
    await hook.async_post_call_failure_hook(data, HTTPException(status_code=429, detail="x"), auth)
    await hook.async_post_call_failure_hook(data, HTTPException(status_code=429, detail="x"), auth)
    await hook.async_post_call_failure_hook(
        {"model": "no-such-model-77"}, to_proxy_exception(BudgetExceeded("x")), auth
    )
    text = generate_latest(registry).decode()
    assert "alice" not in text and "203.0.113.9" not in text and "no-such-model-77" not in text
    labels = {
        "api_key_alias": "web-app",
        "team": "search",
        "team_alias": "None",
        "org_id": "None",
        "org_alias": "None",
        "requested_model": "gpt-4o-mini",
        "route": "None",
        "model_id": "None",
        "api_provider": "None",
    }
    failed = value(
        registry,
        "litellm_proxy_failed_requests_metric_total",
        **labels,
        exception_status="429",
        exception_class="HTTPException",
    )
    assert failed == 2
    assert value(registry, "litellm_proxy_total_requests_metric_total", **labels, status_code="429") == 2
    assert 'requested_model="other"' in text


async def test_fallbacks_counted(hook: Metrics, registry: CollectorRegistry) -> None:
    kwargs = {
        "model": "claude-haiku",
        "metadata": {"user_api_key_alias": "web-app", "user_api_key_team_id": "t"},
    }
    err = litellm.InternalServerError("boom", "openai", "gpt-4o-mini")
    await hook.log_success_fallback_event("gpt-4o-mini", kwargs, err)
    await hook.log_failure_fallback_event("gpt-4o-mini", kwargs, err)
    await hook.log_success_fallback_event("gpt-4o-mini", kwargs, err)
    labels = {
        "requested_model": "gpt-4o-mini",
        "fallback_model": "claude-haiku",
        "api_key_alias": "web-app",
        "team": "t",
        "team_alias": "None",
        "exception_status": "500",
        "exception_class": "Openai.InternalServerError",
        "model_id": "None",
    }
    assert value(registry, "litellm_deployment_successful_fallbacks_total", **labels) == 2
    assert value(registry, "litellm_deployment_failed_fallbacks_total", **labels) == 1


def test_label_children_are_cached(lm: LiteLLMMetrics) -> None:
    a = lm.child("requests", {"team": "x", "model": "m"})
    assert lm.child("requests", {"team": "x", "model": "m"}) is a
    assert lm.child("requests", {"team": "y", "model": "m"}) is not a


def test_budget_gauges(lm: LiteLLMMetrics, registry: CollectorRegistry) -> None:
    lm.set_budgets("team", "search", 100.0, 60.0)
    assert value(registry, "litellm_team_max_budget_metric", team="search", team_alias="None") == 100
    assert value(registry, "litellm_remaining_team_budget_metric", team="search", team_alias="None") == 60


def test_exception_class_name() -> None:
    assert exception_class_name(litellm.RateLimitError("x", "openai", "m")) == "Openai.RateLimitError"
    assert exception_class_name(HTTPException(status_code=400)) == "HTTPException"
    assert exception_class_name(litellm.BudgetExceededError(1.0, 0.5)) == "BudgetExceededError"


def test_register_backs_off_when_litellm_prometheus_owns_the_names(registry: CollectorRegistry) -> None:
    first = LiteLLMMetrics(None, EXCLUDED)
    assert first.register(registry)
    second = LiteLLMMetrics(None, EXCLUDED)
    assert not second.register(registry)  # no half-registered families, no exception
    first.child("requests", {"team": "t"}).inc()
    assert (
        value(
            registry,
            "litellm_requests_metric_total",
            **{n: "None" for n in first.labelnames["requests"]} | {"team": "t"},
        )
        == 1
    )
