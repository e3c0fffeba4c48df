"""The metrics hook: turns finished requests and rejections into the gateway's metrics.

Configured as ``custom_hooks.metrics.metrics`` in ``litellm_settings.callbacks`` (after
the budget guard and the cost router). Which event feeds which metric:

- success / failure logging events (one per LLM call, rejected calls included): tokens,
  durations, spend, routing decisions, guardrail actions, agent runs (and their tool
  calls' durations, ``execute_tool``), upstream failures;
- ``async_post_call_failure_hook`` (once per refused request, auth failures included):
  ``gateway_rejections_total{reason}``;
- ``async_pre_call_hook``: stamps the request record's ``request_id`` for the ledger.

The same events feed the LiteLLM-named families dashboards use (``litellm_requests_metric``,
``litellm_proxy_total_requests_metric``, ...; :mod:`custom_hooks.observability.litellm_metrics`) in
place of LiteLLM's own ``prometheus`` callback, which cost about 2 ms of CPU per request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.record import gateway_record
from custom_hooks.core.request_event import RequestEvent, classify_exception, event_from_logging_kwargs
from custom_hooks.observability.litellm_metrics import (
    LLM_ROUTES,
    LiteLLMMetrics,
    call_labels,
    exception_class_name,
    get_litellm_metrics,
    label_value,
)
from custom_hooks.observability.metrics import GatewayMetrics, get_metrics

__all__ = ["Metrics", "record_event"]

log = logging.getLogger("gateway.metrics")

_NONE = "none"


def _label(value: Any) -> str:
    return str(value) if value not in (None, "") else _NONE


_OTHER = "other"


@lru_cache(maxsize=1)
def _known_models() -> tuple[frozenset[str], tuple[str, ...]]:
    """Configured model names, and the upstream model names behind them (for provider replies)."""
    from custom_hooks.core.lifecycle import current_config

    cfg = current_config()
    names = frozenset(cfg.model_names()) | frozenset(cfg.gateway.agents.registry)
    upstream = {
        str((e.get("litellm_params") or {}).get("model", "")).rsplit("/", 1)[-1] for e in cfg.model_list
    }
    return names, tuple(sorted(u for u in upstream if u))


def _model_label(value: Any) -> str:
    """A model label from a bounded set: a configured name (or its provider's spelling), else ``other``.

    Clients choose model names: unbounded label values would let anyone grow the exposition.
    """
    if value in (None, ""):
        return _NONE
    name = str(value)
    names, upstream = _known_models()
    if name in names or any(name.startswith(u) for u in upstream):
        return name
    return _OTHER


def _operation(event: RequestEvent) -> str:
    return "invoke_agent" if event.is_agent_run else "chat"


class _Seen:
    """Request ids whose decisions were already counted (bounded, oldest dropped first).

    A request that fails over to a fallback model produces a failure event and then a
    success event with the same request id; its routing decision, guardrail actions and
    agent run are counted once.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, request_id: str | None) -> bool:
        if not request_id:
            return True
        if request_id in self._ids:
            return False
        self._ids[request_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


_seen = _Seen()


def record_event(m: GatewayMetrics, event: RequestEvent, seen: _Seen | None = None) -> None:
    """Update every metric a finished LLM request feeds (success or failure)."""
    op = _operation(event)
    requested = event.requested_model
    if event.is_agent_run:
        requested = str((event.agent_run or {}).get("agent") or requested)
    gen_ai = {
        "gen_ai_operation_name": op,
        "gen_ai_provider_name": _label(event.provider),
        "gen_ai_request_model": _model_label(requested),
        "gen_ai_response_model": _model_label(event.served_model),
    }
    rejected = event.rejected
    if not rejected:
        if event.latency_s is not None and event.latency_s >= 0:
            m.operation_duration.labels(
                **gen_ai, error_type=_label(event.error_type), gen_ai_tool_name=_NONE
            ).observe(event.latency_s)
        for token_type, count in (("input", event.prompt_tokens), ("output", event.completion_tokens)):
            if event.status == "success" and count:
                m.token_usage.labels(**gen_ai, gen_ai_token_type=token_type).observe(count)
    if event.status == "success" and not event.is_agent_run and event.cost_usd:
        m.spend.labels(team=_label(event.team_id), model=_model_label(event.served_model)).inc(event.cost_usd)
    if event.status != "success" and not rejected and not event.is_agent_run:  # a run's end is its outcome
        m.upstream_failures.labels(
            model=_model_label(event.served_model), error_type=_label(event.error_type)
        ).inc()
    if not (seen or _seen).first_time(event.request_id):
        return
    if event.routing:
        m.routing_decisions.labels(
            requested_model=_model_label(event.routing.get("requested_model")),
            served_model=_model_label(event.routing.get("served_model")),
            reason=_label(event.routing.get("reason")),
        ).inc()
    for g in event.guardrails:
        count = g.get("count")  # findings this decision covers (0 or absent: one decision)
        m.guardrail_actions.labels(
            guardrail=_label(g.get("guardrail")),
            entity=_label(g.get("entity")),
            action=_label(g.get("action")),
        ).inc(count if isinstance(count, int) and count > 0 else 1)
    if event.agent_run:
        _record_agent_run(m, event.agent_run)


def _record_agent_run(m: GatewayMetrics, run: Mapping[str, Any]) -> None:
    agent, outcome = _label(run.get("agent")), _label(run.get("outcome"))
    m.agent_runs.labels(agent=agent, outcome=outcome).inc()
    duration = run.get("duration_s")
    if isinstance(duration, int | float) and duration >= 0:
        m.agent_run_duration.labels(agent=agent, outcome=outcome).observe(float(duration))
    inner = run.get("inner_calls")
    if isinstance(inner, int | float):
        m.agent_run_llm_calls.labels(agent=agent).observe(float(inner))
    tools = run.get("tool_calls")
    if isinstance(tools, Mapping):
        for tool, n in tools.items():
            if isinstance(n, int | float):
                m.agent_run_tool_calls.labels(agent=agent, tool=_label(tool)).observe(float(n))
    durations = run.get("tool_durations_s")
    if isinstance(durations, Mapping):  # {tool: [seconds, ...]}, bounded by the runtime
        for tool, took in durations.items():
            if not isinstance(took, list):
                continue
            hist = m.operation_duration.labels(
                gen_ai_operation_name="execute_tool",
                gen_ai_provider_name=_NONE,
                gen_ai_request_model=agent,
                gen_ai_response_model=_NONE,
                error_type=_NONE,
                gen_ai_tool_name=_label(tool),
            )
            for seconds in took:
                if isinstance(seconds, int | float) and seconds >= 0:
                    hist.observe(float(seconds))


class Metrics(CustomLogger):
    """Feeds the gateway's Prometheus metrics from LiteLLM's hook and logging events.

    Stateless: the metrics live in :mod:`custom_hooks.observability.metrics` (default registry); tests
    pass their own ``GatewayMetrics`` built on a fresh registry.
    """

    def __init__(
        self, metrics: GatewayMetrics | None = None, litellm_metrics: LiteLLMMetrics | None = None
    ) -> None:
        super().__init__()
        self._metrics = metrics
        self._litellm = litellm_metrics
        # own metrics (tests) get their own memory of counted requests; production shares one
        self._seen = _Seen() if metrics is not None else None

    @property
    def metrics(self) -> GatewayMetrics:
        return self._metrics or get_metrics()

    @property
    def litellm_metrics(self) -> LiteLLMMetrics:
        return self._litellm or get_litellm_metrics()

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Stamp the request id into the request's record so the ledger row carries it."""
        call_id = data.get("litellm_call_id")
        record = gateway_record(data)
        if call_id and record.request_id is None:
            record.request_id = str(call_id)
        return data

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, "success")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, "failure")

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        """Count a refused request by its stable reason (upstream failures are counted elsewhere)."""
        try:
            kind, reason, status = classify_exception(original_exception)
            if kind == "rejection":
                self.metrics.rejections.labels(reason=reason, status=str(status)).inc()
            labels = _request_labels(request_data, user_api_key_dict, original_exception, status)
            self.litellm_metrics.record_failed_request(labels, status, original_exception)
        except Exception:  # metrics must never break a response
            log.exception("counting a rejection failed")

    async def log_success_fallback_event(
        self, original_model_group: str, kwargs: dict[str, Any], original_exception: Exception
    ) -> None:
        self._fallback(True, original_model_group, kwargs, original_exception)

    async def log_failure_fallback_event(
        self, original_model_group: str, kwargs: dict[str, Any], original_exception: Exception
    ) -> None:
        self._fallback(False, original_model_group, kwargs, original_exception)

    def _fallback(self, ok: bool, group: str, kwargs: Any, exc: Exception) -> None:
        try:
            md = (
                (kwargs.get("litellm_metadata") or kwargs.get("metadata") or {})
                if isinstance(kwargs, dict)
                else {}
            )
            labels = {
                "requested_model": _model_label(group),
                "fallback_model": _model_label(kwargs.get("model")) if isinstance(kwargs, dict) else _NONE,
                "api_key_alias": label_value(md.get("user_api_key_alias")),
                "hashed_api_key": label_value(md.get("user_api_key_hash")),
                "team": label_value(md.get("user_api_key_team_id")),
                "team_alias": label_value(md.get("user_api_key_team_alias")),
                "exception_status": str(getattr(exc, "status_code", None)),
                "exception_class": exception_class_name(exc),
            }
            self.litellm_metrics.record_fallback(ok, labels)
        except Exception:  # metrics must never break a response
            log.exception("counting a fallback failed")

    def _record(self, kwargs: Any, status: str) -> None:
        try:
            if not isinstance(kwargs, dict):
                return
            event = event_from_logging_kwargs(kwargs, status)
            record_event(self.metrics, event, self._seen)
            if event.status == "success":
                self.litellm_metrics.record_success(kwargs, call_labels(kwargs, _model_label))
            elif not event.rejected:  # a gateway refusal called no deployment
                self.litellm_metrics.record_upstream_failure(kwargs, call_labels(kwargs, _model_label))
        except Exception:  # metrics must never break a response
            log.exception("recording metrics failed")


def _request_labels(
    data: Mapping[str, Any], auth: UserAPIKeyAuth, exc: BaseException, status: int
) -> dict[str, str]:
    """LiteLLM's labels of a failed request, from the request and the caller's key."""
    raw = data.get("metadata")
    md: dict[str, Any] = raw if isinstance(raw, dict) else {}
    info: dict[str, Any] = md["model_info"] if isinstance(md.get("model_info"), dict) else {}
    route = getattr(auth, "request_route", None)
    model = data.get("model")
    return {
        "api_key_alias": label_value(auth.key_alias),
        "hashed_api_key": "None" if status == 401 else label_value(auth.token),
        "team": label_value(auth.team_id),
        "team_alias": label_value(auth.team_alias),
        "org_id": label_value(auth.org_id),
        "org_alias": label_value(getattr(auth, "organization_alias", None)),
        "user": label_value(auth.user_id),
        "user_email": label_value(auth.user_email),
        "end_user": label_value(auth.end_user_id),
        "client_ip": label_value(md.get("requester_ip_address")),
        "user_agent": label_value(md.get("user_agent")),
        "requested_model": "None" if model is None else _model_label(model),
        "route": "None" if route is None else (route if route in LLM_ROUTES else "other"),
        "model_id": label_value(info.get("id")),
        "api_provider": label_value(getattr(exc, "llm_provider", None) or None),
    }


metrics = Metrics()
