"""One ledger row per request that reached a model (the ``spend_ledger`` logging callback).

What becomes a row, read from the payload's :class:`~custom_hooks.core.request_event.RequestEvent`
(built once per logging payload and shared with budget settlement, metrics, request log and
traces, so they cannot disagree):

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

``request_id`` is the request record's ``request_id`` when the observability hook set one,
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
from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.ledger import writer as _ledger

__all__ = ["SpendLedger", "ledger_row", "reached_a_model"]

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


def ledger_row(
    kwargs: dict[str, Any], start_time: Any, end_time: Any, *, failed: bool
) -> dict[str, Any] | None:
    """Build the ledger row for one logging event (None: not a model call)."""
    if failed and not reached_a_model(kwargs):
        return None
    ev = event_from_logging_kwargs(kwargs, "failure" if failed else "success")
    agent_run = ev.agent_run or {}
    status = "failure" if failed else ("cache_hit" if ev.cache_hit else "success")
    prompt, completion = ev.prompt_tokens or 0, ev.completion_tokens or 0
    cost = ev.cost_usd or 0.0
    if failed or ev.cache_hit:
        cost = 0.0
    if failed:
        prompt = completion = 0
    if agent_run:  # the outer request of an agent run: its inner calls carry the cost
        cost, prompt, completion = 0.0, 0, 0
    started, ended = _utc(start_time), _utc(end_time)
    if not ev.request_id:
        return None
    return {
        "request_id": ev.request_id,
        "created_at": started,
        "key_hash": ev.key_hash,
        "key_alias": ev.key_alias,
        "user_id": ev.user_id,
        "team_id": ev.team_id,
        "requested_model": ev.requested_model,
        "served_model": ev.served_model,
        "deployment": ev.deployment,
        "agent_run_id": agent_run.get("run_id") or ev.run_id,
        "parent_request_id": None if agent_run else ev.parent_request_id,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": cost,
        "latency_ms": max(0.0, (ended - started).total_seconds() * 1000.0),
        "status": status,
        "error_class": (ev.error_type or "Exception") if failed else None,
        "cache_hit": ev.cache_hit,
        "routing_reason": (ev.routing or {}).get("reason"),
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
