"""The request log: one JSON line per request, on logger ``gateway.requests``.

Configured as ``custom_hooks.request_log.request_log`` in ``litellm_settings.callbacks``.
A line looks like::

    {"ts": "2026-01-01T12:00:00.123Z", "event": "request", "request_id": "3f0c…",
     "status": "success", "key_alias": "web-app", "team_id": "search",
     "requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "latency_ms": 812.4,
     "cost_usd": 0.00021, "prompt_tokens": 120, "completion_tokens": 48,
     "routing": {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "..."},
     "guardrails": [{"guardrail": "pii_guard", "entity": "EMAIL_ADDRESS", "action": "masked", "count": 1}],
     "guardrails_passed": ["secrets_guard", "topic_guard"]}

``status`` is ``success``, ``rejected`` (the gateway refused: ``reason`` says why) or
``error`` (the upstream failed). No prompt or completion text unless
``gateway.observability.request_log.include_content: true``; never a raw key (only the
key alias; LiteLLM's ``user_api_key_hash`` is not logged either).

One line per request: LiteLLM emits one success or failure logging event per request,
rejected ones included; only requests refused before they had a call id (authentication
failures) are logged from ``async_post_call_failure_hook``. ``http_status`` is the status
the client got (a :class:`~custom_hooks.core.errors.GatewayError`'s own status when one is
behind the exception, e.g. 503 for an unreachable key store).

Expected rejections are not errors: LiteLLM's proxy logger (``LiteLLM Proxy``) writes
every 4xx the proxy itself raised (budget 400, rpm 429, bad key 401) at ERROR from its
exception handlers. :func:`install_rejection_log_filter` (installed when this callback
is built) rewrites those records to INFO; upstream failures and 5xx stay at ERROR.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

from custom_hooks.core.errors import gateway_error_of
from custom_hooks.core.request_event import RequestEvent, classify_exception, event_from_logging_kwargs
from custom_hooks.core.sections.observability import RequestLogConfig
from custom_hooks.observability.request_context import client_request_id

__all__ = [
    "RejectionLogFilter",
    "RequestLog",
    "client_status",
    "install_rejection_log_filter",
    "log_line",
    "request_logger",
]

log = logging.getLogger("gateway.metrics")
_LOGGER_NAME = "gateway.requests"


class _JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the message as is (already JSON), one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def request_logger(cfg: RequestLogConfig) -> logging.Logger:
    """The ``gateway.requests`` logger with one JSON-line handler (set up once per process)."""
    logger = logging.getLogger(_LOGGER_NAME)
    if not getattr(logger, "_gateway_configured", False):
        handler: logging.Handler
        if cfg.destination == "file" and cfg.file is not None:
            handler = logging.FileHandler(cfg.file, encoding="utf-8")
            handler.format = _JsonLineHandler.format.__get__(handler)  # type: ignore[method-assign]
        else:
            handler = _JsonLineHandler(sys.stdout if cfg.destination == "stdout" else sys.stderr)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger._gateway_configured = True  # type: ignore[attr-defined]
    return logger


# LiteLLM's proxy logs every rejected request from these two places (1.108.7).
_REJECTION_MESSAGES = (
    "litellm.proxy.proxy_server._handle_llm_api_exception(): Exception occured",
    "litellm.proxy.proxy_server.user_api_key_auth(): Exception occured",
)


def _is_expected_rejection(exc: object) -> bool:
    from litellm.litellm_core_utils.core_helpers import is_expected_client_error

    if not isinstance(exc, BaseException):
        return False
    err = gateway_error_of(exc)
    if err is not None:
        return 400 <= err.status_code < 500
    return is_expected_client_error(exc)


class RejectionLogFilter(logging.Filter):
    """Rewrites LiteLLM's ERROR records for expected client rejections (4xx we raised) to INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not isinstance(record.msg, str):
            return True
        if not record.msg.startswith(_REJECTION_MESSAGES):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        excs = [a for a in args if isinstance(a, BaseException)]
        if excs:
            expected = all(_is_expected_rejection(e) for e in excs)
        else:  # the auth handler logs a message, with a traceback only when unexpected
            expected = not record.exc_info
        if expected:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = None
        return True


def install_rejection_log_filter() -> None:
    """Install :class:`RejectionLogFilter` on LiteLLM's proxy logger (once per process)."""
    logger = logging.getLogger("LiteLLM Proxy")
    if not any(isinstance(f, RejectionLogFilter) for f in logger.filters):
        logger.addFilter(RejectionLogFilter())


def client_status(exc: BaseException, *, auth_path: bool) -> int | None:
    """The HTTP status the client got for ``exc`` when LiteLLM's logging payload would misstate it.

    A :class:`GatewayError` (also when wrapped) has its own status; an exception custom auth
    raised because the key store is unreachable reaches the client as 503 (LiteLLM's auth
    handler maps database outages so), though the logging payload carries the raw error.
    """
    err = gateway_error_of(exc)
    if err is not None:
        return err.status_code
    if not auth_path or isinstance(exc, ProxyException | HTTPException) or not isinstance(exc, Exception):
        return None
    from litellm.proxy.db.exception_handler import PrismaDBExceptionHandler

    return 503 if PrismaDBExceptionHandler.is_database_service_unavailable_error(exc) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def _decision(g: dict[str, Any]) -> dict[str, Any]:
    return {k: g[k] for k in ("guardrail", "entity", "action", "count", "phase") if g.get(k) is not None}


def log_line(event: RequestEvent, *, include_content: bool = False) -> dict[str, Any]:
    """The JSON object logged for one request (None fields dropped)."""
    status = "success" if event.status == "success" else ("rejected" if event.rejected else "error")
    agent = event.agent_run or {}
    charged = status == "success" or bool(event.cost_usd)
    line: dict[str, Any] = {
        "ts": _now(),
        "event": "request",
        "request_id": event.request_id,
        "client_request_id": client_request_id(event.request_id, pop=True),
        "status": status,
        "reason": event.reason if status != "success" else None,
        "error_type": event.error_type,
        "http_status": event.error_code,
        "key_alias": event.key_alias,
        "team_id": event.team_id,
        "user_id": event.user_id,
        "call_type": event.call_type,
        "requested_model": event.requested_model,
        "served_model": event.served_model,
        "provider": event.provider,
        "stream": event.stream or None,
        "cache_hit": event.cache_hit or None,
        "latency_ms": _ms(event.latency_s),
        "ttft_ms": _ms(event.time_to_first_token_s) if event.stream else None,
        "cost_usd": event.cost_usd if charged else None,
        "prompt_tokens": event.prompt_tokens if charged else None,
        "completion_tokens": event.completion_tokens if charged else None,
        "fallback": True if event.fallback else None,
        "agent": agent.get("agent"),
        "agent_run_id": agent.get("run_id") or event.run_id,
        "agent_outcome": agent.get("outcome"),
        "routing": event.routing,
        "guardrails": [_decision(g) for g in event.guardrails if g.get("action") != "allowed"] or None,
        "guardrails_passed": sorted(
            {str(g.get("guardrail")) for g in event.guardrails if g.get("action") == "allowed"}
        )
        or None,
        "budget": event.budget,
    }
    if include_content:
        line["messages"] = event.messages
        line["response"] = event.response
    return {k: v for k, v in line.items() if v is not None}


class RequestLog(CustomLogger):
    """Writes the request log. Stateless; the logger is set up once per process."""

    def __init__(self, config: RequestLogConfig | None = None) -> None:
        super().__init__()
        self._config = config
        install_rejection_log_filter()

    @property
    def config(self) -> RequestLogConfig:
        if self._config is not None:
            return self._config
        from custom_hooks.core.services import services

        return services().config.gateway.observability.request_log

    def _emit(self, line: dict[str, Any]) -> None:
        cfg = self.config
        if cfg.enabled:
            request_logger(cfg).info(json.dumps(line, default=str, separators=(",", ":")))

    def _from_event(self, kwargs: Any, status: str) -> None:
        try:
            if not isinstance(kwargs, dict):
                return
            event = event_from_logging_kwargs(kwargs, status)
            exc = kwargs.get("exception")
            if status != "success" and isinstance(exc, BaseException):
                # LiteLLM's error_information may say 500 for what the client got as 503
                real = client_status(exc, auth_path=bool(kwargs.get("litellm_no_upstream_llm_call")))
                if real is not None:  # a copy: the event is shared with the payload's other callbacks
                    reason = event.reason
                    if real == 503 and reason in (None, "internal_error"):
                        reason = "service_unavailable"
                    event = dataclasses.replace(event, error_code=str(real), reason=reason)
            line = log_line(event, include_content=self.config.include_content)
            self._emit(line)
        except Exception:  # logging must never break a response
            log.exception("writing the request log failed")

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._from_event(kwargs, "success")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._from_event(kwargs, "failure")

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        """Log requests refused before LiteLLM gave them a call id (no logging event follows)."""
        if request_data.get("litellm_call_id"):
            return
        try:
            from custom_hooks.observability.request_context import current

            kind, reason, status = classify_exception(original_exception)
            err = gateway_error_of(original_exception)
            if err is not None:
                reason = err.code
            status = client_status(original_exception, auth_path=True) or status
            ctx = current()
            line = {
                "ts": _now(),
                "event": "request",
                "request_id": ctx.request_id if ctx is not None else None,
                "client_request_id": ctx.client_request_id if ctx is not None else None,
                "status": "rejected" if kind == "rejection" else "error",
                "reason": reason,
                "http_status": str(status),
                "key_alias": user_api_key_dict.key_alias,
                "team_id": user_api_key_dict.team_id,
            }
            self._emit({k: v for k, v in line.items() if v is not None})
        except Exception:
            log.exception("writing the request log failed")


request_log = RequestLog()
