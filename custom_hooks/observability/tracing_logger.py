"""The tracing callback: LiteLLM's request events name and describe the request spans.

Not listed in ``config.yaml``: :mod:`custom_hooks.observability.tracing` registers ``tracing`` with
LiteLLM on the first traced request, only when tracing is on, so a gateway without the
``OTEL_*`` variables runs no tracing code at all. Stateless: spans live in
:class:`custom_hooks.observability.tracing.GatewayTracing`.
"""

from __future__ import annotations

import logging
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.errors import gateway_error_of
from custom_hooks.core.request_event import classify_exception, event_from_logging_kwargs
from custom_hooks.observability.request_context import current_request_id
from custom_hooks.observability.tracing import active
from custom_hooks.observability.tracing_attrs import request_attributes, span_name

__all__ = ["TracingLogger", "tracing"]

log = logging.getLogger("gateway.tracing")


def _gateway_code(exc: Any) -> str | None:
    """The stable code of the gateway error behind an exception LiteLLM may have wrapped."""
    err = gateway_error_of(exc) if isinstance(exc, BaseException) else None
    return err.code if err is not None else None


class TracingLogger(CustomLogger):
    """Feeds request spans from LiteLLM's success/failure events and failure hook."""

    def _record(self, kwargs: Any, response_obj: Any, status: str) -> None:
        t = active()
        if t is None or not isinstance(kwargs, dict):
            return
        try:
            event = event_from_logging_kwargs(kwargs, status)
            op = t.operation_of(event.request_id)
            if op is None or event.request_id is None:
                return
            params = kwargs.get("optional_params")
            attrs = request_attributes(
                event,
                operation=op,
                params=params if isinstance(params, dict) else None,
                response=response_obj,
                policy=t.policy,
            )
            code = _gateway_code(kwargs.get("exception"))
            if status != "success" and code:  # e.g. agent_step_limit behind LiteLLM's wrapper
                attrs["error.type"] = code
            t.on_event(
                event.request_id,
                name=span_name(op, event.requested_model),
                attributes=attrs,
                success=status == "success",
            )
        except Exception:  # tracing must never break a response
            log.exception("recording a span failed")

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, response_obj, "success")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, None, "failure")

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        """A refused request; auth failures get no logging event, so this is all they get."""
        t = active()
        if t is None:
            return
        try:
            _kind, reason, _status = classify_exception(original_exception)
            reason = _gateway_code(original_exception) or reason
            model = request_data.get("model")
            t.on_rejection(
                current_request_id(),
                error_type=reason,
                model=model if isinstance(model, str) else None,
                event_follows=bool(request_data.get("litellm_call_id")),
            )
        except Exception:
            log.exception("recording a rejected request's span failed")


tracing = TracingLogger()
