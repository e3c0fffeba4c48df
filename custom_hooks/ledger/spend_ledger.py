"""One ledger row per request that reached a model (the ``spend_ledger`` logging callback).

What becomes a row, read from LiteLLM's logging payload
(``kwargs["standard_logging_object"]`` and ``kwargs["litellm_params"]["metadata"]``):

- success, streaming included: tokens and cost as LiteLLM computed them from the
  upstream's reported usage;
- cache hit: status ``cache_hit``, cost 0 (tokens as cached);
- failure: status ``failure``, cost 0, tokens 0, ``error_class`` (e.g.
  ``InternalServerError``), only when a model call was attempted. A request refused
  before any model was called is NOT a row (it is in the metrics and the request log):
  authentication failures (store down included), rate limits, budget, guardrail and
  validation rejections (a ``ProxyException``/``HTTPException``/:class:`GatewayError`,
  or LiteLLM's ``litellm_no_upstream_llm_call`` / ``proxy_rejected_before_routing``
  markers on a proxy-only failure), and router refusals with every deployment cooling
  down (``RouterRateLimitError``). A failure followed by a successful fallback is one
  ``success`` row;
- inner calls of an agent run: the caller's key/team/user, ``agent_run_id`` and
  ``parent_request_id`` (from the run token's identity);
- the OUTER agent request: ``agent_run_id`` set, cost 0 and tokens 0, so summing the
  ledger never counts a run twice: a run costs the sum of its inner rows
  (``WHERE agent_run_id = ...``).

``request_id`` is ``metadata.gateway.request_id`` when the observability hook set one,
else LiteLLM's call id; ``created_at`` is when the request started (the budget window it
was charged to).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from custom_hooks.core.errors import GatewayError
from custom_hooks.core.request_event import gateway_identity_from_metadata
from custom_hooks.ledger import writer as _ledger

__all__ = ["SpendLedger", "gateway_identity_from_metadata", "ledger_row", "reached_a_model"]

log = logging.getLogger("gateway.ledger")

# Rejections by the proxy itself: no model was called, nothing to record.
_NOT_A_MODEL_CALL: tuple[type[BaseException], ...] = (ProxyException, HTTPException, GatewayError)
# Raised by the router before any deployment is called (all of them cooling down).
_REFUSED_BY_ROUTER = frozenset({"RouterRateLimitError", "RouterRateLimitErrorBasic"})
# LiteLLM marks a proxy-only failure (auth, pre-call rejections) on the logging payload.
_NO_UPSTREAM_MARKERS = ("litellm_no_upstream_llm_call", "proxy_rejected_before_routing")


def reached_a_model(kwargs: dict[str, Any]) -> bool:
    """Whether a failure event is for a call that was sent (or about to be sent) to a model."""
    exc = kwargs.get("exception")
    if isinstance(exc, BaseException):
        # Not gateway_error_of(): an agent run that failed mid-way (timeout, step limit) wraps a
        # GatewayError in a provider error, and that run did call models: it stays a row.
        if isinstance(exc, _NOT_A_MODEL_CALL) or type(exc).__name__ in _REFUSED_BY_ROUTER:
            return False
    params = kwargs.get("litellm_params") or {}
    for marker in _NO_UPSTREAM_MARKERS:
        if kwargs.get(marker) or (isinstance(params, dict) and params.get(marker)):
            return False
    slo: dict[str, Any] = kwargs.get("standard_logging_object") or {}
    info = slo.get("error_information") or {}
    return str(info.get("error_class") or "") not in _REFUSED_BY_ROUTER


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)  # a naive value is local time (LiteLLM's datetime.now())
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return datetime.now(UTC)


def _requested_model(gw: dict[str, Any], kwargs: dict[str, Any], slo: dict[str, Any]) -> Any:
    routing = gw.get("routing") or {}
    if routing.get("requested_model"):
        return routing["requested_model"]
    body = ((kwargs.get("litellm_params") or {}).get("proxy_server_request") or {}).get("body") or {}
    return body.get("model") or slo.get("model_group") or kwargs.get("model")


def ledger_row(
    kwargs: dict[str, Any], start_time: Any, end_time: Any, *, failed: bool
) -> dict[str, Any] | None:
    """Build the ledger row for one logging event (None: not a model call)."""
    if failed and not reached_a_model(kwargs):
        return None
    slo: dict[str, Any] = kwargs.get("standard_logging_object") or {}
    md: dict[str, Any] = (kwargs.get("litellm_params") or {}).get("metadata") or {}
    gw: dict[str, Any] = md.get("gateway") or {}
    ident = gateway_identity_from_metadata(md)
    slo_md: dict[str, Any] = slo.get("metadata") or {}
    run = ident.get("run") or {}
    agent_run = gw.get("agent_run") or {}

    cache_hit = bool(kwargs.get("cache_hit") or slo.get("cache_hit"))
    status = "failure" if failed else ("cache_hit" if cache_hit else "success")
    prompt = int(slo.get("prompt_tokens") or 0)
    completion = int(slo.get("completion_tokens") or 0)
    cost = float(slo.get("response_cost") or kwargs.get("response_cost") or 0.0)
    if failed or cache_hit:
        cost = 0.0
    if failed:
        prompt = completion = 0
    if agent_run:  # the outer request of an agent run: its inner calls carry the cost
        cost, prompt, completion = 0.0, 0, 0

    error_class = None
    if failed:
        info = slo.get("error_information") or {}
        exc = kwargs.get("exception")
        error_class = info.get("error_class") or (type(exc).__name__ if exc is not None else "Exception")

    started, ended = _utc(start_time), _utc(end_time)
    request_id = gw.get("request_id") or kwargs.get("litellm_call_id") or slo.get("id")
    if not request_id:
        return None
    return {
        "request_id": str(request_id),
        "created_at": started,
        "key_hash": ident.get("key_hash") or slo_md.get("user_api_key_hash") or md.get("user_api_key_hash"),
        "key_alias": ident.get("key_alias") or slo_md.get("user_api_key_alias"),
        "user_id": ident.get("user_id") or slo_md.get("user_api_key_user_id"),
        "team_id": ident.get("team_id") or slo_md.get("user_api_key_team_id"),
        "requested_model": _requested_model(gw, kwargs, slo),
        "served_model": slo.get("model_group") or kwargs.get("model"),
        "deployment": slo.get("model_id") or None,
        "agent_run_id": agent_run.get("run_id") or run.get("run_id"),
        "parent_request_id": None if agent_run else run.get("parent_request_id"),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": cost,
        "latency_ms": max(0.0, (ended - started).total_seconds() * 1000.0),
        "status": status,
        "error_class": error_class,
        "cache_hit": cache_hit,
        "routing_reason": (gw.get("routing") or {}).get("reason"),
    }


class SpendLedger(CustomLogger):
    """Queues one ledger row per model call; the batch writer in ``_ledger`` stores it."""

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, start_time, end_time, failed=False)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, start_time, end_time, failed=True)

    @staticmethod
    def _record(kwargs: Any, start_time: Any, end_time: Any, *, failed: bool) -> None:
        try:
            row = ledger_row(kwargs, start_time, end_time, failed=failed)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.exception("ledger: could not build a row from a logging event")
            return
        if row is not None:
            _ledger.enqueue(row)


spend_ledger = SpendLedger()
