"""Errors an agent run ends with, and how they cross LiteLLM to the client.

The classes here are :class:`~custom_hooks.core.errors.GatewayError` subclasses (the one error
root). A custom provider's exception is re-mapped by LiteLLM: anything that is not a LiteLLM
exception becomes a retried 500. So the provider raises :func:`provider_error` (a
LiteLLM ``BadRequestError`` carrying the gateway error; statuses below 500 are not
retried by the router), and :mod:`agent_routes.run_reporter`'s failure hook turns it back
into the clean OpenAI-format body ``{"error": {"code": "agent_step_limit", ...}}`` with
the shared adapter :func:`custom_hooks.core.errors.to_client_facing`.

No error of an agent run counts against the agent's deployment in LiteLLM's router: the
agent "deployment" is this process, which a cooldown cannot heal, and most run errors are the
caller's (thread not found, key blocked mid-run, budget spent, step limit). One caller's 404
must never turn into "No deployments available" for every tenant, so :func:`provider_error`
marks its exception with LiteLLM's hook for failures that are not the selected deployment's
(the router then neither counts it nor cools the deployment down; type, status and body are
unchanged).

Step limit and timeout use **422**, not 504: the OpenAI SDK (and LiteLLM's router)
retry 408/409/429/5xx automatically, and a retried agent run would repeat its tool side
effects and its cost. 422 says "well-formed, but this run could not finish".
"""

from __future__ import annotations

from typing import Any

import litellm
from litellm.router_utils.cooldown_handlers import mark_advisor_orchestration_failure

from custom_hooks.core.errors import GatewayError

__all__ = [
    "AgentDepthLimit",
    "AgentInnerCallFailed",
    "AgentNotFound",
    "AgentStepLimit",
    "AgentTimeout",
    "ThreadBusy",
    "ThreadLeaseUnavailable",
    "ThreadNotFound",
    "from_inner_status_error",
    "provider_error",
]


class AgentStepLimit(GatewayError):
    status_code = 422
    code = "agent_step_limit"
    type = "invalid_request_error"


class AgentTimeout(GatewayError):
    status_code = 422
    code = "agent_timeout"
    type = "invalid_request_error"


class AgentDepthLimit(GatewayError):
    status_code = 400
    code = "agent_depth_limit"
    type = "invalid_request_error"


class AgentNotFound(GatewayError):
    status_code = 404
    code = "agent_not_found"
    type = "invalid_request_error"


class ThreadNotFound(GatewayError):
    """Unknown thread, or one owned by another key/team (404 either way: no existence leak)."""

    status_code = 404
    code = "thread_not_found"
    type = "invalid_request_error"


class ThreadBusy(GatewayError):
    """Another turn runs on the thread (multitask policy ``reject``, or ``enqueue`` waited too
    long). 409: nothing of the request ran, so retrying it is safe (the OpenAI SDK does)."""

    status_code = 409
    code = "thread_busy"
    type = "invalid_request_error"


class ThreadLeaseUnavailable(GatewayError):
    """The shared state holding thread leases is unreachable: refused rather than risk two turns."""

    status_code = 503
    code = "thread_lease_unavailable"
    type = "api_error"


class AgentInnerCallFailed(GatewayError):
    """An LLM call inside the run failed; the run ends with that call's status and code
    (e.g. 400 ``budget_exceeded`` when the caller's budget ran out mid-run)."""

    code = "agent_inner_call_failed"
    type = "api_error"

    def __init__(self, message: str, *, status_code: int, code: str, error_type: str) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code  # type: ignore[misc]
        self.type = error_type  # type: ignore[misc]


class _AgentProviderError(litellm.BadRequestError):
    """What the provider raises: LiteLLM passes its own exception types through unchanged."""

    def __init__(self, err: GatewayError) -> None:
        body = err.body()["error"]
        # num_retries=0: the router must not run an agent again on its own (a run's tool side
        # effects and cost would repeat); the client decides, e.g. on 409 thread_busy.
        super().__init__(message=err.message, model="agent", llm_provider="agent", body=body, num_retries=0)
        self.status_code = err.status_code  # type: ignore[assignment]
        self.code = err.code
        self.gateway_error = err
        # LiteLLM names this tag after its advisor feature; what it means is "not the selected
        # deployment's failure": the router's failure callback returns before counting it.
        mark_advisor_orchestration_failure(self)


def provider_error(err: GatewayError) -> Exception:
    """The exception an agent provider raises for ``err``."""
    return _AgentProviderError(err)


def from_inner_status_error(exc: Any) -> GatewayError:
    """An inner call's HTTP error (e.g. ``budget_exceeded``), kept as the run's error."""
    status = int(getattr(exc, "status_code", 500) or 500)
    body = getattr(exc, "body", None)
    err_body = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(err_body, dict):
        err_body = {}
    code = str(err_body.get("code") or getattr(exc, "code", None) or "agent_inner_call_failed")
    message = str(err_body.get("message") or getattr(exc, "message", None) or str(exc))
    return AgentInnerCallFailed(
        f"An LLM call inside the agent run failed: {message}",
        status_code=status,
        code=code,
        error_type=str(err_body.get("type") or "api_error"),
    )
