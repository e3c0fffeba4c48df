"""The gateway's own Prometheus metrics, served in the same ``/metrics`` exposition as LiteLLM's.

Names follow the OpenTelemetry GenAI semantic conventions in Prometheus form where the
spec defines one (``gen_ai_client_token_usage``, ``gen_ai_client_operation_duration_seconds``,
with the spec's bucket boundaries); everything else is ``gateway_*`` in LiteLLM's style.

Labels are bounded: model names, team ids, agent and tool names from config, stable
reason/action codes. Never a raw key, a prompt, or (unless opted in) a user id.

Every metric is multiprocess-safe: counters and histograms work as they are under
``PROMETHEUS_MULTIPROC_DIR``; each gauge declares how worker values combine.

Production code uses :func:`get_metrics` (the default registry, built by the metrics step);
tests call :func:`build_metrics` with a fresh ``CollectorRegistry``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services

__all__ = [
    "GEN_AI_DURATION_BUCKETS",
    "GEN_AI_TOKEN_BUCKETS",
    "METRICS",
    "STEP",
    "GatewayMetrics",
    "build_metrics",
    "get_metrics",
]

# OpenTelemetry GenAI semantic conventions, "gen_ai.client.token.usage" advisory buckets.
GEN_AI_TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# "gen_ai.client.operation.duration" advisory buckets (seconds).
GEN_AI_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_HOOK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_COUNT_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128)

_GEN_AI_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
)


@dataclass(frozen=True)
class GatewayMetrics:
    """Every metric family the gateway adds (see README "Operations" for meanings)."""

    token_usage: Histogram
    operation_duration: Histogram
    spend: Counter
    budget_limit: Gauge
    budget_remaining: Gauge
    rejections: Counter
    routing_decisions: Counter
    guardrail_actions: Counter
    guardrail_duration: Histogram
    agent_runs: Counter
    agent_run_duration: Histogram
    agent_run_llm_calls: Histogram
    agent_run_tool_calls: Histogram
    agent_pending_approvals: Gauge
    upstream_failures: Counter
    hook_duration: Histogram
    request_overhead: Histogram
    ledger_queue_depth: Gauge
    ledger_write_failures: Counter
    dependency_up: Gauge


def build_metrics(registry: CollectorRegistry | None = REGISTRY) -> GatewayMetrics:
    """Create every gateway metric on ``registry`` (a fresh one in tests)."""
    r = registry
    return GatewayMetrics(
        token_usage=Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per LLM call (OpenTelemetry GenAI gen_ai.client.token.usage).",
            [*_GEN_AI_LABELS, "gen_ai_token_type"],
            buckets=GEN_AI_TOKEN_BUCKETS,
            registry=r,
        ),
        operation_duration=Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Duration of LLM calls (chat), agent runs (invoke_agent) and agents' tool calls "
            "(execute_tool, by gen_ai_tool_name; gen_ai_request_model is the agent) as the gateway "
            "served them (OpenTelemetry GenAI gen_ai.client.operation.duration).",
            [*_GEN_AI_LABELS, "error_type", "gen_ai_tool_name"],
            buckets=GEN_AI_DURATION_BUCKETS,
            registry=r,
        ),
        spend=Counter(
            "gateway_spend_usd",
            "Cost in USD charged for LLM calls, by team and served model (agent runs are charged "
            "by their inner calls, not again).",
            ["team", "model"],
            registry=r,
        ),
        budget_limit=Gauge(
            "gateway_budget_limit_usd",
            "Budget limit in USD per scope (team; key alias when opted in) and window.",
            ["scope", "id", "window"],
            multiprocess_mode="mostrecent",
            registry=r,
        ),
        budget_remaining=Gauge(
            "gateway_budget_remaining_usd",
            "Budget left in USD in the current window (limit minus spend), per scope and window.",
            ["scope", "id", "window"],
            multiprocess_mode="mostrecent",
            registry=r,
        ),
        rejections=Counter(
            "gateway_rejections",
            "Requests the gateway refused before or instead of answering, by stable reason code "
            "(budget_exceeded, rate_limit_exceeded, guardrail_blocked, model_not_allowed, ...).",
            ["reason", "status"],
            registry=r,
        ),
        routing_decisions=Counter(
            "gateway_routing_decisions",
            "Cost-router decisions: requested model, served model, reason.",
            ["requested_model", "served_model", "reason"],
            registry=r,
        ),
        guardrail_actions=Counter(
            "gateway_guardrail_actions",
            "Guardrail decisions by guardrail, entity type and action (allow, mask, block, ...).",
            ["guardrail", "entity", "action"],
            registry=r,
        ),
        guardrail_duration=Histogram(
            "gateway_guardrail_duration_seconds",
            "Time spent in each guardrail hook, by guardrail and phase.",
            ["guardrail", "phase"],
            buckets=_HOOK_BUCKETS,
            registry=r,
        ),
        agent_runs=Counter(
            "gateway_agent_runs",
            "Agent runs by agent and outcome (completed, interrupted, step_limit, timeout, error).",
            ["agent", "outcome"],
            registry=r,
        ),
        agent_run_duration=Histogram(
            "gateway_agent_run_duration_seconds",
            "Agent run wall time by agent and outcome.",
            ["agent", "outcome"],
            buckets=_RUN_BUCKETS,
            registry=r,
        ),
        agent_run_llm_calls=Histogram(
            "gateway_agent_run_llm_calls",
            "Inner LLM calls per agent run.",
            ["agent"],
            buckets=_COUNT_BUCKETS,
            registry=r,
        ),
        agent_run_tool_calls=Histogram(
            "gateway_agent_run_tool_calls",
            "Tool calls per agent run, by tool (runs that used the tool at least once).",
            ["agent", "tool"],
            buckets=_COUNT_BUCKETS,
            registry=r,
        ),
        agent_pending_approvals=Gauge(
            "gateway_agent_pending_approvals",
            "Agent runs paused waiting for a human approval.",
            ["agent"],
            multiprocess_mode="mostrecent",
            registry=r,
        ),
        upstream_failures=Counter(
            "gateway_upstream_failures",
            "LLM calls that failed upstream (after retries and fallbacks), by model and error type.",
            ["model", "error_type"],
            registry=r,
        ),
        hook_duration=Histogram(
            "gateway_hook_duration_seconds",
            "Time spent in each of the gateway's own hooks, by hook and phase (auth, pre_call, ...).",
            ["hook", "phase"],
            buckets=_HOOK_BUCKETS,
            registry=r,
        ),
        request_overhead=Histogram(
            "gateway_request_overhead_seconds",
            "Per request: total time spent in the gateway's own hooks (auth, budgets, routing, guardrails).",
            [],
            buckets=_HOOK_BUCKETS,
            registry=r,
        ),
        ledger_queue_depth=Gauge(
            "gateway_ledger_queue_depth",
            "Ledger rows waiting to be written to the store (summed over workers).",
            [],
            multiprocess_mode="livesum",
            registry=r,
        ),
        ledger_write_failures=Counter(
            "gateway_ledger_write_failures",
            "Ledger batch writes that failed (rows are retried; see the gateway log).",
            [],
            registry=r,
        ),
        dependency_up=Gauge(
            "gateway_dependency_up",
            "1 when a dependency answered its last probe, 0 when not (store, redis).",
            ["dependency"],
            multiprocess_mode="mostrecent",
            registry=r,
        ),
    )


METRICS: Slot[GatewayMetrics] = Slot("metrics", "the metrics registry")


def get_metrics() -> GatewayMetrics:
    """The process's metrics on the default registry (:class:`GatewayStarting` before start)."""
    return services().get(METRICS)


async def _start(svc: Services) -> None:
    svc.provide(METRICS, build_metrics(REGISTRY))


async def _stop(svc: Services) -> None:
    metrics = svc.take(METRICS)
    if metrics is None:
        return
    for f in fields(metrics):  # a later start (same process) registers them again
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(getattr(metrics, f.name))


STEP = Step("metrics", _start, _stop)
