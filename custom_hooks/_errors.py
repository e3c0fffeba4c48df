"""Gateway errors: each carries its HTTP status and a stable machine-readable code.

Hooks and routes raise these; :func:`to_proxy_exception` turns one into LiteLLM's
``ProxyException`` so the client gets an OpenAI-shaped body::

    {"error": {"message": "...", "type": "budget_exceeded", "param": null, "code": "budget_exceeded"}}

The OpenAI SDK retries 408, 409, 429 and 5xx on its own; errors that should not be
retried (budgets, guardrails) therefore use 400/403.
"""

from __future__ import annotations

from typing import Any, ClassVar

from litellm.proxy._types import ProxyException

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "ConfigError",
    "CostLimitExceeded",
    "GatewayError",
    "GatewayProxyException",
    "GuardrailBlocked",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "to_proxy_exception",
]


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose.

    ``status_code`` is the HTTP status, ``code`` the stable machine code clients can
    branch on, ``type`` the OpenAI error type. The message says what to do next and
    never contains secrets or prompt text.
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "gateway_error"
    type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = dict(headers or {})
        if code is not None:
            self.code = code  # type: ignore[misc]


class BadRequest(GatewayError):
    status_code = 400
    code = "invalid_request"
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status_code = 401
    code = "invalid_api_key"
    type = "authentication_error"


class PermissionDenied(GatewayError):
    status_code = 403
    code = "permission_denied"
    type = "permission_error"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"
    type = "invalid_request_error"


class BudgetExceeded(GatewayError):
    """A key's, team's or user's window spend reached its budget (not retried by SDKs)."""

    status_code = 400
    code = "budget_exceeded"
    type = "budget_exceeded"


class CostLimitExceeded(GatewayError):
    status_code = 400
    code = "cost_limit_exceeded"
    type = "invalid_request_error"


class GuardrailBlocked(GatewayError):
    status_code = 400
    code = "guardrail_blocked"
    type = "invalid_request_error"


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limit_exceeded"
    type = "rate_limit_error"


class ServiceUnavailable(GatewayError):
    status_code = 503
    code = "service_unavailable"
    type = "api_error"


class ConfigError(GatewayError):
    """``config.yaml`` or the environment is wrong; raised at start, never per request."""

    code = "config_error"


class GatewayProxyException(ProxyException):
    """A ``ProxyException`` whose body ``code`` is the stable gateway code, not the status."""

    def __init__(self, err: GatewayError) -> None:
        super().__init__(
            message=err.message,
            type=err.type,
            param=err.param,
            code=err.status_code,
            headers=dict(err.headers),
            openai_code=err.code,
        )
        self.gateway_code = err.code

    def to_dict(self) -> dict[Any, Any]:
        body = super().to_dict()
        body["code"] = self.gateway_code
        return body


def to_proxy_exception(err: GatewayError) -> GatewayProxyException:
    """Adapt a :class:`GatewayError` for LiteLLM's exception handler."""
    return GatewayProxyException(err)
