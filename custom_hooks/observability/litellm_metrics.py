"""LiteLLM's own Prometheus families, fed from the gateway's single per-request event.

LiteLLM's ``prometheus`` callback costs about 2 ms of CPU per request (a pydantic label
object, a label dict per family, a ``.labels()`` lookup per family, budget lookups); the
dashboards and alerts only need a dozen of its families. This module defines those with
LiteLLM's names, types, help texts, buckets and label names (its
``PrometheusMetricLabels.get_labels`` minus ``litellm_settings.prometheus_exclude_labels``),
so existing LiteLLM dashboards keep working, and caches every label child by its value
tuple so a request costs a dict lookup per family.

Label values follow LiteLLM's conventions (a missing value is ``"None"``, ``status_code``
``"200"`` on success, ``exception_class`` ``"Openai.RateLimitError"``), except that model
names are bounded (configured names only, else ``other``) and ``route`` is one of the LLM
routes (else ``other``): clients choose both.

Emitted per event (LiteLLM does the same):

- success (one per LLM call): ``litellm_requests_metric``, ``litellm_spend_metric``,
  ``litellm_{total,input,output}_tokens_metric``, ``litellm_request_total_latency_metric``,
  ``litellm_llm_api_latency_metric``, ``litellm_llm_api_time_to_first_token_metric``
  (streams), ``litellm_deployment_{success_responses,total_requests}``,
  ``litellm_deployment_latency_per_output_token``, ``litellm_deployment_state`` (0),
  ``litellm_proxy_total_requests_metric`` (status 200);
- upstream failure (one per failed LLM call): ``litellm_llm_api_failed_requests_metric``,
  ``litellm_deployment_{failure_responses,total_requests}``, ``litellm_deployment_state``
  (1, partial outage); a gateway rejection (no deployment was called) counts none of these;
- failed request (``async_post_call_failure_hook``): ``litellm_proxy_failed_requests_metric``
  and ``litellm_proxy_total_requests_metric`` (with its status);
- router fallbacks: ``litellm_deployment_{successful,failed}_fallbacks``;
- budget refresh: ``litellm_remaining_team_budget_metric``, ``litellm_team_max_budget_metric``
  (and the api-key pair when per-key budget metrics are on).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from threading import Lock
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services

__all__ = [
    "LITELLM_METRICS",
    "LLM_ROUTES",
    "STEP",
    "LiteLLMMetrics",
    "exception_class_name",
    "get_litellm_metrics",
    "label_value",
]

NONE = "None"  # what LiteLLM's label factory renders for a missing value
OTHER = "other"

log = logging.getLogger("gateway.metrics")

# Routes an LLM call arrives on (LiteLLM's ``user_api_key_request_route``): anything else
# (a client can put a deployment name in an Azure-style path) is ``other``.
LLM_ROUTES = frozenset(
    prefix + path
    for prefix in ("", "/v1", "/openai")
    for path in (
        "/chat/completions",
        "/completions",
        "/embeddings",
        "/responses",
        "/messages",
        "/images/generations",
        "/audio/transcriptions",
        "/audio/speech",
        "/moderations",
        "/rerank",
    )
) | frozenset({"/anthropic/v1/messages", "/v1/messages/count_tokens"})

# (attribute, LiteLLM name, kind, help): help texts as LiteLLM 1.108.7 writes them.
_SPECS: tuple[tuple[str, str, str, str], ...] = (
    (
        "proxy_failed_requests",
        "litellm_proxy_failed_requests_metric",
        "counter",
        "Total number of failed responses from proxy - the client did not get a success response "
        "from litellm proxy",
    ),
    (
        "proxy_total_requests",
        "litellm_proxy_total_requests_metric",
        "counter",
        "Total number of requests made to the proxy server - track number of client side requests",
    ),
    (
        "request_total_latency",
        "litellm_request_total_latency_metric",
        "histogram",
        "End-to-end latency (seconds) for a request to LiteLLM Proxy Server, from the moment "
        "the request reached the proxy through the end of processing -- includes "
        "authentication, pre-call hooks, the LLM API call, and post-call processing",
    ),
    (
        "llm_api_latency",
        "litellm_llm_api_latency_metric",
        "histogram",
        "Total latency (seconds) for a models LLM API call",
    ),
    (
        "llm_api_ttft",
        "litellm_llm_api_time_to_first_token_metric",
        "histogram",
        "Time to first token for a models LLM API call",
    ),
    ("spend", "litellm_spend_metric", "counter", "Total spend on LLM requests"),
    (
        "total_tokens",
        "litellm_total_tokens_metric",
        "counter",
        "Total number of input + output tokens from LLM requests",
    ),
    (
        "input_tokens",
        "litellm_input_tokens_metric",
        "counter",
        "Total number of input tokens from LLM requests",
    ),
    (
        "output_tokens",
        "litellm_output_tokens_metric",
        "counter",
        "Total number of output tokens from LLM requests",
    ),
    (
        "remaining_team_budget",
        "litellm_remaining_team_budget_metric",
        "gauge",
        "Remaining budget for team",
    ),
    ("team_max_budget", "litellm_team_max_budget_metric", "gauge", "Maximum budget set for team"),
    (
        "remaining_api_key_budget",
        "litellm_remaining_api_key_budget_metric",
        "gauge",
        "Remaining budget for api key",
    ),
    ("api_key_max_budget", "litellm_api_key_max_budget_metric", "gauge", "Maximum budget set for api key"),
    (
        "deployment_state",
        "litellm_deployment_state",
        "gauge",
        "LLM Deployment Analytics - The state of the deployment: 0 = healthy, 1 = partial outage, "
        "2 = complete outage",
    ),
    (
        "deployment_success",
        "litellm_deployment_success_responses",
        "counter",
        "LLM Deployment Analytics - Total number of successful LLM API calls via litellm",
    ),
    (
        "deployment_failure",
        "litellm_deployment_failure_responses",
        "counter",
        "LLM Deployment Analytics - Total number of failed LLM API calls for a specific LLM deploymeny. "
        "exception_status is the status of the exception from the llm api",
    ),
    (
        "deployment_total",
        "litellm_deployment_total_requests",
        "counter",
        "LLM Deployment Analytics - Total number of LLM API calls via litellm - success + failure",
    ),
    (
        "deployment_latency_per_output_token",
        "litellm_deployment_latency_per_output_token",
        "histogram",
        "LLM Deployment Analytics - Latency per output token",
    ),
    (
        "successful_fallbacks",
        "litellm_deployment_successful_fallbacks",
        "counter",
        "LLM Deployment Analytics - Number of successful fallback requests from primary model "
        "-> fallback model",
    ),
    (
        "failed_fallbacks",
        "litellm_deployment_failed_fallbacks",
        "counter",
        "LLM Deployment Analytics - Number of failed fallback requests from primary model -> fallback model",
    ),
    (
        "llm_api_failed_requests",
        "litellm_llm_api_failed_requests_metric",
        "counter",
        "deprecated - use litellm_proxy_failed_requests_metric",
    ),
    (
        "requests",
        "litellm_requests_metric",
        "counter",
        "deprecated - use litellm_proxy_total_requests_metric. Total number of LLM calls to litellm - "
        "track total per API Key, team, user",
    ),
)

_MAX_CHILDREN = 50_000  # a safety net: label values are bounded, so this is never reached


def _seconds(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        took = (end - start).total_seconds()
        return took if took >= 0 else None
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        return float(end - start)
    return None


def label_value(value: Any) -> str:
    """A label value as LiteLLM's label factory renders it (``None`` -> ``"None"``)."""
    return NONE if value is None else str(value)


def exception_class_name(exc: BaseException) -> str:
    """LiteLLM's ``exception_class`` label: ``<Provider>.<Class>`` (``Openai.RateLimitError``)."""
    legacy = getattr(exc, "prometheus_exception_class_name", None)
    if isinstance(legacy, str) and legacy:
        return legacy
    name = type(exc).__name__
    if name == "BudgetExceededError":
        return name
    provider = getattr(exc, "llm_provider", None) or ""
    return f"{provider[0].upper()}{provider[1:]}.{name}" if isinstance(provider, str) and provider else name


class LiteLLMMetrics:
    """The LiteLLM-named families on ``registry``, with their label children cached."""

    def __init__(self, registry: CollectorRegistry | None, exclude_labels: Iterable[str]) -> None:
        from litellm.types.integrations.prometheus import LATENCY_BUCKETS, PrometheusMetricLabels

        excluded = frozenset(exclude_labels)
        self.labelnames: dict[str, tuple[str, ...]] = {}
        self._metrics: dict[str, Any] = {}
        for attr, name, kind, help_text in _SPECS:
            defaults = PrometheusMetricLabels.get_labels(name)  # type: ignore[arg-type]
            labels = tuple(lbl for lbl in defaults if lbl not in excluded)
            self.labelnames[attr] = labels
            if kind == "counter":
                metric: Any = Counter(name, help_text, labels, registry=registry)
            elif kind == "gauge":
                metric = Gauge(name, help_text, labels, multiprocess_mode="mostrecent", registry=registry)
            elif attr == "deployment_latency_per_output_token":  # LiteLLM leaves its buckets default
                metric = Histogram(name, help_text, labels, registry=registry)
            else:
                metric = Histogram(name, help_text, labels, buckets=LATENCY_BUCKETS, registry=registry)
            self._metrics[attr] = metric
        self._children: dict[tuple[str, ...], Any] = {}
        self._lock = Lock()

    def register(self, registry: CollectorRegistry) -> bool:
        """Register every family on ``registry``; none (and False) when one name is taken
        (LiteLLM's own ``prometheus`` callback registered it first)."""
        done: list[Any] = []
        for metric in self._metrics.values():
            try:
                registry.register(metric)
            except ValueError:
                for m in done:
                    registry.unregister(m)
                return False
            done.append(metric)
        return True

    def unregister(self, registry: CollectorRegistry) -> None:
        """Take every family this object registered off ``registry`` (the others stay)."""
        for metric in self._metrics.values():
            with contextlib.suppress(KeyError):
                registry.unregister(metric)

    def child(self, attr: str, values: Mapping[str, str]) -> Any:
        """The label child of family ``attr`` for ``values`` (missing labels are ``"None"``)."""
        key = (attr, *[values.get(name, NONE) for name in self.labelnames[attr]])
        found = self._children.get(key)
        if found is None:
            with self._lock:
                if len(self._children) >= _MAX_CHILDREN:
                    self._children.clear()
                found = self._children[key] = self._metrics[attr].labels(*key[1:])
        return found

    # --- per-event recording -----------------------------------------------------------

    def record_success(self, kwargs: Mapping[str, Any], labels: dict[str, str]) -> None:
        """What LiteLLM's success logging event records, for one successful LLM call."""
        slo = kwargs.get("standard_logging_object") or {}
        labels["status_code"] = "200"
        self.child("requests", labels).inc()
        cost = slo.get("response_cost")
        if isinstance(cost, int | float):
            self.child("spend", labels).inc(cost)
        total, prompt, completion = (
            slo.get("total_tokens"),
            slo.get("prompt_tokens"),
            slo.get("completion_tokens"),
        )
        for attr, count in (("total_tokens", total), ("input_tokens", prompt), ("output_tokens", completion)):
            if isinstance(count, int | float) and count > 0:
                self.child(attr, labels).inc(count)
        start, end = kwargs.get("start_time"), kwargs.get("end_time")
        api_start, first = kwargs.get("api_call_start_time"), kwargs.get("completion_start_time")
        stream = kwargs.get("stream") is True
        ttft = _seconds(api_start, first)
        if ttft is not None and stream:
            self.child("llm_api_ttft", labels).observe(ttft)
        api = _seconds(api_start, end)
        if api is not None:
            self.child("llm_api_latency", labels).observe(api)
        took = _seconds(start, end)
        if took is not None:
            queued = ((kwargs.get("litellm_params") or {}).get("metadata") or {}).get("queue_time_seconds")
            if isinstance(queued, int | float) and queued >= 0:
                took += queued
            self.child("request_total_latency", labels).observe(took)
        self.child("deployment_state", labels).set(0)
        self.child("deployment_success", labels).inc()
        self.child("deployment_total", labels).inc()
        if isinstance(completion, int | float) and completion > 0:
            latency = _seconds(start, first) if stream else _seconds(start, end)
            if latency is not None:
                self.child("deployment_latency_per_output_token", labels).observe(latency / completion)
        self.child("proxy_total_requests", labels).inc()

    def record_upstream_failure(self, kwargs: Mapping[str, Any], labels: dict[str, str]) -> None:
        """What LiteLLM's failure logging event records, for one LLM call that failed upstream."""
        exc = kwargs.get("exception")
        status = getattr(exc, "status_code", None) if exc is not None else None
        if status is None and exc is not None:
            status = getattr(exc, "code", None)
        labels["exception_status"] = label_value(status)
        labels["exception_class"] = exception_class_name(exc) if isinstance(exc, BaseException) else NONE
        self.child("llm_api_failed_requests", labels).inc()
        self.child("deployment_state", labels).set(1)
        self.child("deployment_failure", labels).inc()
        self.child("deployment_total", labels).inc()

    def record_failed_request(self, labels: dict[str, str], status: int, exc: BaseException) -> None:
        """A request the client got an error for (LiteLLM's post-call failure hook)."""
        labels["status_code"] = labels["exception_status"] = str(status)
        labels["exception_class"] = exception_class_name(exc)
        self.child("proxy_failed_requests", labels).inc()
        self.child("proxy_total_requests", labels).inc()

    def record_fallback(self, ok: bool, labels: dict[str, str]) -> None:
        self.child("successful_fallbacks" if ok else "failed_fallbacks", labels).inc()

    def set_budgets(self, scope: str, label_id: str, limit: float, remaining: float) -> None:
        """LiteLLM's budget gauges from the gateway's budgets (a team, or a key by its alias)."""
        if scope == "team":
            labels = {"team": label_id}
            self.child("team_max_budget", labels).set(limit)
            self.child("remaining_team_budget", labels).set(remaining)
        elif scope == "key":
            labels = {"api_key_alias": label_id}
            self.child("api_key_max_budget", labels).set(limit)
            self.child("remaining_api_key_budget", labels).set(remaining)


def call_labels(kwargs: Mapping[str, Any], bound_model: Callable[[Any], str]) -> dict[str, str]:
    """Every label value a logging payload gives, computed once for all families."""
    slo = kwargs.get("standard_logging_object") or {}
    md = slo.get("metadata") or {}
    params = kwargs.get("litellm_params") or {}
    raw_md = params.get("metadata") or params.get("litellm_metadata") or {}
    group = slo.get("model_group") or raw_md.get("model_group")
    model_id = slo.get("model_id") or (raw_md.get("model_info") or {}).get("id")
    route = md.get("user_api_key_request_route")
    provider = slo.get("custom_llm_provider") or params.get("custom_llm_provider")
    model = kwargs.get("model")
    try:
        from litellm.litellm_core_utils.service_tier_utils import (
            get_service_tier_from_standard_logging_payload,
        )

        tier = get_service_tier_from_standard_logging_payload(slo)  # type: ignore[arg-type]
    except (ImportError, AttributeError, KeyError, TypeError):
        tier = None
    return {
        "api_key_alias": label_value(md.get("user_api_key_alias")),
        "hashed_api_key": label_value(md.get("user_api_key_hash")),
        "team": label_value(md.get("user_api_key_team_id")),
        "team_alias": label_value(md.get("user_api_key_team_alias")),
        "org_id": label_value(md.get("user_api_key_org_id")),
        "org_alias": label_value(md.get("user_api_key_org_alias")),
        "user": label_value(md.get("user_api_key_user_id")),
        "user_email": label_value(md.get("user_api_key_user_email")),
        "end_user": label_value(md.get("user_api_key_end_user_id")),
        "client_ip": label_value(md.get("requester_ip_address")),
        "user_agent": label_value(md.get("user_agent")),
        "requested_model": NONE if group is None else bound_model(group),
        "model_group": NONE if group is None else bound_model(group),
        "model": NONE if model is None else bound_model(model),
        "litellm_model_name": NONE if model is None else bound_model(model),
        "model_id": label_value(model_id),
        "api_base": label_value(slo.get("api_base")),
        "api_provider": label_value(provider),
        "route": NONE if route is None else (route if route in LLM_ROUTES else OTHER),
        "service_tier": label_value(tier),
    }


LITELLM_METRICS: Slot[LiteLLMMetrics] = Slot("litellm-metrics", "the metrics registry")


def get_litellm_metrics() -> LiteLLMMetrics:
    """The process-wide families on the default registry (:class:`GatewayStarting` before start)."""
    return services().get(LITELLM_METRICS)


async def _start(svc: Services) -> None:
    """Build the families after LiteLLM loaded the config (``prometheus_exclude_labels`` is known)."""
    import litellm

    built = LiteLLMMetrics(None, getattr(litellm, "prometheus_exclude_labels", None) or ())
    if not built.register(REGISTRY):
        log.warning(
            "LiteLLM's own prometheus callback is configured: its litellm_* metrics are "
            "served and the gateway's copies of them stay off (remove 'prometheus' from "
            "litellm_settings.callbacks to save about 2 ms of CPU per request)"
        )
    svc.provide(LITELLM_METRICS, built)


async def _stop(svc: Services) -> None:
    built = svc.take(LITELLM_METRICS)
    if built is not None:
        built.unregister(REGISTRY)  # a later start (same process) registers them again


STEP = Step("litellm-metrics", _start, _stop)
