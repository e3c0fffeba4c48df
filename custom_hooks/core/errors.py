"""Gateway errors: each carries its HTTP status and a stable machine-readable code.

Hooks and routes raise these; :func:`to_proxy_exception` turns one into LiteLLM's
``ProxyException`` so the client gets an OpenAI-shaped body::

    {"error": {"message": "...", "type": "budget_exceeded", "param": null, "code": "budget_exceeded"}}

The OpenAI SDK retries 408, 409, 429 and 5xx on its own; errors that should not be
retried (budgets, guardrails) therefore use 400/403.

Where the error is raised decides the adapter:

- from custom auth, a pre-call hook or a route: ``raise to_proxy_exception(err)``;
- from ``async_post_call_failure_hook`` (turning an exception LiteLLM already mapped back
  into our body): ``return to_client_facing(err)``. LiteLLM keeps a hook's result only
  when it is an ``HTTPException``, so this one is both; :func:`gateway_error_of` finds
  the :class:`GatewayError` behind an exception LiteLLM wrapped (``.gateway_error``,
  ``original_exception``, ``__cause__``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from litellm.proxy._types import ProxyException

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "ClientFacingError",
    "ConfigError",
    "CostLimitExceeded",
    "GatewayError",
    "GatewayProxyException",
    "GuardrailBlocked",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "error_response",
    "gateway_error_of",
    "to_client_facing",
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

    def body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


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


class ClientFacingError(GatewayProxyException, HTTPException):  # type: ignore[misc]
    """A gateway error as a failure hook returns it: a ProxyException that is an HTTPException."""

    def __init__(self, err: GatewayError) -> None:
        GatewayProxyException.__init__(self, err)
        self.status_code = err.status_code
        self.detail = err.message


def error_response(err: GatewayError) -> JSONResponse:
    """A route's response for ``err``: its status, headers and :meth:`GatewayError.body`."""
    return JSONResponse(err.body(), status_code=err.status_code, headers=err.headers or None)


def to_client_facing(err: GatewayError) -> ClientFacingError:
    """Adapt a :class:`GatewayError` for ``async_post_call_failure_hook``'s return value."""
    return ClientFacingError(err)


def gateway_error_of(exc: BaseException) -> GatewayError | None:
    """The :class:`GatewayError` behind an exception LiteLLM may have wrapped, if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        found = getattr(cur, "gateway_error", None)
        if isinstance(found, GatewayError):
            return found
        if isinstance(cur, GatewayError):
            return cur
        nxt = getattr(cur, "original_exception", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return None
