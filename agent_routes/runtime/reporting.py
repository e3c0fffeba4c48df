"""Tell the caller about an agent run: response headers, and clean error bodies.

Headers (non-streaming; streaming responses carry the ones known before the run starts):

- ``x-gateway-agent-run-id``: the run id (also in the ledger rows of its inner calls);
- ``x-gateway-agent-cost``: the run's cost in USD (the sum of its inner calls, each of which
  was charged on its own; the outer request itself is priced at zero);
- ``x-gateway-thread-id``: the thread, when the caller named one or an approval is pending;
- ``x-gateway-interrupt-id``: the pending approval's id.

Errors: the provider's step-limit/timeout/depth/thread errors reach the proxy as LiteLLM
exceptions; the failure hook returns them as ``{"error": {"code": "agent_step_limit", ...}}``
(via the shared adapter :func:`custom_hooks.core.errors.to_client_facing`).

Both hooks act on requests to agent models only and return None for everything else, so a
plain model's errors (auth, budgets, guardrails) keep the body their own code gave them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.config import GatewayConfig
from custom_hooks.core.errors import gateway_error_of, to_client_facing
from custom_hooks.core.record import gateway_record
from custom_hooks.core.services import Slot, services

__all__ = ["AGENT_MODELS", "RunReporter", "agent_models_of", "is_agent_request", "run_headers"]


def _agent_run_of(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return gateway_record(data).agent_run


# model name -> agent for the served config (filled by the agents step).
AGENT_MODELS: Slot[Mapping[str, str]] = Slot("agent-models", "the agent model names")


def agent_models_of(config: GatewayConfig) -> Mapping[str, str]:
    """model name -> agent for ``config`` (the agents step provides it as :data:`AGENT_MODELS`)."""
    from custom_hooks.core.catalog import agent_model_names

    return agent_model_names(config.model_list)


def is_agent_request(data: Mapping[str, Any], agent_models: Mapping[str, str] | None = None) -> bool:
    """Whether ``data`` (a proxy request) asked for an agent model.

    True when the agent provider started on it (``metadata.gateway.agent_run``) or its
    ``model`` is a ``model: agent/<name>`` entry of ``model_list`` (``agent_models``:
    model name -> agent, default: the running config's).
    """
    if _agent_run_of(data) is not None:
        return True
    model = data.get("model")
    if not isinstance(model, str) or not model:
        return False
    if agent_models is None:
        agent_models = services().get(AGENT_MODELS)
    return model in agent_models


def run_headers(agent_run: Mapping[str, Any], response: Any) -> dict[str, str]:
    """Headers for one agent request from its ``agent_run`` record and response."""
    headers = {"x-gateway-agent-run-id": str(agent_run["run_id"])}
    gateway = getattr(response, "gateway", None)
    if isinstance(gateway, Mapping):
        headers["x-gateway-agent-cost"] = f"{float(gateway.get('cost') or 0.0):.10f}"
        if gateway.get("thread_id"):
            headers["x-gateway-thread-id"] = str(gateway["thread_id"])
        interrupt = gateway.get("interrupt")
        if isinstance(interrupt, Mapping) and interrupt.get("id"):
            headers["x-gateway-interrupt-id"] = str(interrupt["id"])
    elif response is None and "cost" in agent_run:  # failed run: what it spent before failing
        headers["x-gateway-agent-cost"] = f"{float(agent_run.get('cost') or 0.0):.10f}"
    return headers


class RunReporter(CustomLogger):
    """Response headers and error bodies for agent runs (a no-op for plain models)."""

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: UserAPIKeyAuth,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        md = data.get("metadata") or {}
        agent_run = _agent_run_of(data)
        if agent_run is None or not agent_run.get("run_id"):
            return None
        headers = run_headers(agent_run, response)
        if "x-gateway-thread-id" not in headers and md.get("thread_id"):
            headers["x-gateway-thread-id"] = str(agent_run.get("thread_id") or md["thread_id"])
        return headers

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> HTTPException | None:
        if not is_agent_request(request_data):
            return None
        err = gateway_error_of(original_exception)
        if err is None:
            return None
        return to_client_facing(err)


run_reporter = RunReporter()
