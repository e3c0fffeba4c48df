"""One finished request, as the ledger, budget settlement, metrics, request log and traces see it.

LiteLLM hands every logging callback the same large ``kwargs`` dict; :func:`event_from_logging_kwargs`
narrows it to the fields we record, once per payload: the event is memoised on the payload
(under a private key, checked against the payload's ``standard_logging_object`` and
``litellm_params``), so five callbacks read one parse and cannot disagree. Where things come
from (verified on 1.108.7):

- our hooks' decisions: the :class:`~custom_hooks.core.record.GatewayRecord` in
  ``kwargs["litellm_params"]`` (either metadata spelling, see :mod:`custom_hooks.core.record`),
  the same dict the pre-call hooks wrote, on success *and* failure events, including
  requests a pre-call hook rejected;
- the caller: the :class:`~custom_hooks.core.identity.Identity` custom auth put in the metadata;
- cost, tokens, timings: ``kwargs["standard_logging_object"]``;
- the request id: ``kwargs["litellm_call_id"]``, which the request-id middleware made equal
  to the ``x-request-id`` returned to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from fastapi import HTTPException
from litellm.proxy._types import ProxyException

from custom_hooks.core.identity import Identity
from custom_hooks.core.record import (
    gateway_record,
    identity_from_metadata,
    identity_wire_from_metadata,
    litellm_metadata,
)

__all__ = [
    "RequestEvent",
    "classify_exception",
    "event_from_logging_kwargs",
    "gateway_identity_from_metadata",
    "gateway_metadata",
]

_STATUS_REASONS = {
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    429: "rate_limit_exceeded",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def gateway_metadata(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The raw ``gateway`` record of a logging payload (either metadata spelling; ``{}`` if none)."""
    return gateway_record(kwargs).as_dict()


def gateway_identity_from_metadata(md: Mapping[str, Any]) -> dict[str, Any]:
    """``gateway_identity`` as custom auth returned it (a dict; prefer ``identity_from_metadata``)."""
    return identity_wire_from_metadata(md) or {}


def _code_from_detail(detail: Any) -> str | None:
    if isinstance(detail, dict):
        err = detail.get("error")
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            return str(err["code"])
        if isinstance(detail.get("code"), str):
            return str(detail["code"])
    return None


def classify_exception(exc: BaseException) -> tuple[str, str, int]:
    """``(kind, reason, status)``: kind is "rejection" (the gateway refused) or "upstream".

    The reason is the stable gateway code when there is one (``budget_exceeded``,
    ``guardrail_blocked``, ...), else one derived from the HTTP status.
    """
    gateway_code = getattr(exc, "gateway_code", None)
    if isinstance(exc, ProxyException):
        status = int(exc.code) if str(exc.code).isdigit() else 500
        reason = gateway_code or exc.openai_code or exc.type or _STATUS_REASONS.get(status, f"http_{status}")
        if str(reason).isdigit():
            reason = _STATUS_REASONS.get(status, f"http_{status}")
        return "rejection", str(reason), status
    if isinstance(exc, HTTPException):
        status = int(exc.status_code)
        reason = _code_from_detail(exc.detail) or _STATUS_REASONS.get(status, f"http_{status}")
        return "rejection", reason, status
    status = int(getattr(exc, "status_code", 500) or 500)
    name = type(exc).__name__
    if name == "BudgetExceededError":  # LiteLLM's own budget checks
        return "rejection", "budget_exceeded", 400
    if isinstance(exc, openai.APIError) or type(exc).__module__.startswith("litellm"):
        return "upstream", name, status
    return "rejection", _STATUS_REASONS.get(status, "internal_error"), status


@dataclass
class RequestEvent:
    """What one LLM request did, without prompt or completion text (unless asked for)."""

    request_id: str | None
    status: str  # "success" | "failure"
    call_type: str | None = None
    key_alias: str | None = None
    key_hash: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    requested_model: str | None = None
    served_model: str | None = None
    provider: str | None = None
    response_model: str | None = None
    stream: bool = False
    cache_hit: bool = False
    latency_s: float | None = None
    time_to_first_token_s: float | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_type: str | None = None
    error_code: str | None = None
    rejected: bool = False  # refused by the gateway (a hook or limiter), not failed upstream
    reason: str | None = None  # stable reason code of a failure (budget_exceeded, guardrail_blocked, ...)
    # the request's GatewayRecord parts (RoutingRecord, GuardrailDecision, BudgetRecord,
    # AgentRunRecord in custom_hooks.core.record), as plain dicts for the reporters
    routing: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    budget: dict[str, Any] | None = None
    agent_run: dict[str, Any] | None = None
    run_id: str | None = None  # the agent run an inner call belongs to (from its run token)
    fallback: bool = False  # LiteLLM served this call from a fallback model group
    messages: Any = None
    response: Any = None
    identity: Identity | None = None  # the caller, as custom auth resolved them
    deployment: str | None = None  # LiteLLM's model id of the deployment that served it
    parent_request_id: str | None = None  # an inner call's agent request (from its run token)

    @property
    def is_agent_run(self) -> bool:
        return bool(self.agent_run)

    @property
    def reservation_id(self) -> str | None:
        """The budget reservation this request holds (None: nothing reserved)."""
        rid = (self.budget or {}).get("reservation_id")
        return str(rid) if rid else None

    @property
    def charged_cost(self) -> float:
        """What this request costs its budgets: 0 for failures, cache hits and an agent's outer request."""
        if (
            self.status != "success"
            or self.cache_hit
            or self.is_agent_run
            or (self.budget or {}).get("agent")
        ):
            return 0.0
        return self.cost_usd or 0.0


def _failure(slo: Mapping[str, Any], exc: Any) -> tuple[str | None, str | None, bool, str | None]:
    """``(error_type, status code, rejected, reason)`` of a failure event."""
    info = _dict(slo.get("error_information"))
    err_type = _str(info.get("error_class")) or (type(exc).__name__ if exc is not None else None)
    code = _str(info.get("error_code"))
    if isinstance(exc, BaseException):
        kind, reason, status = classify_exception(exc)
        return err_type, code or str(status), kind == "rejection", reason
    rejected = not _str(info.get("llm_provider"))
    return err_type, code, rejected, None


# Where the payload's event is memoised: (status, standard_logging_object, litellm_params, event).
_MEMO_KEY = "_gateway_request_event"


def event_from_logging_kwargs(kwargs: Mapping[str, Any], status: str) -> RequestEvent:
    """The :class:`RequestEvent` of a success or failure logging payload, built once per payload."""
    slo, params = kwargs.get("standard_logging_object"), kwargs.get("litellm_params")
    memo = kwargs.get(_MEMO_KEY)
    if (
        isinstance(memo, tuple)
        and len(memo) == 4
        and memo[0] == status
        and memo[1] is slo
        and memo[2] is params
        and isinstance(memo[3], RequestEvent)
    ):
        return memo[3]
    event = _build(kwargs, status)
    if isinstance(kwargs, dict):
        kwargs[_MEMO_KEY] = (status, slo, params, event)
    return event


def _requested_body_model(params: Mapping[str, Any]) -> str | None:
    body = _dict(_dict(params.get("proxy_server_request")).get("body"))
    return _str(body.get("model"))


def _build(kwargs: Mapping[str, Any], status: str) -> RequestEvent:
    slo = _dict(kwargs.get("standard_logging_object"))
    md = _dict(slo.get("metadata"))
    record = gateway_record(kwargs)
    params = _dict(kwargs.get("litellm_params"))
    raw_md = litellm_metadata(kwargs)
    ident = identity_from_metadata(raw_md)
    run = ident.run if ident is not None else None
    routing = record.routing
    start, end = _float(slo.get("startTime")), _float(slo.get("endTime"))
    first = _float(slo.get("completionStartTime"))
    err_type, err_code, rejected, reason = None, None, False, None
    if status != "success":
        err_type, err_code, rejected, reason = _failure(slo, kwargs.get("exception"))
    served = _str(slo.get("model_group")) or _str(raw_md.get("model_group")) or _str(kwargs.get("model"))
    requested = (
        (_str(routing.get("requested_model")) if routing else None)
        or _requested_body_model(params)
        or _str(raw_md.get("original_model_group"))
        or served
    )
    cost = _float(slo.get("response_cost"))
    return RequestEvent(
        request_id=record.request_id or _str(kwargs.get("litellm_call_id")) or _str(slo.get("id")),
        status=status,
        call_type=_str(slo.get("call_type")) or _str(kwargs.get("call_type")),
        key_alias=(ident and ident.key_alias) or _str(md.get("user_api_key_alias")),
        key_hash=(ident and ident.key_hash)
        or _str(md.get("user_api_key_hash"))
        or _str(raw_md.get("user_api_key_hash")),
        team_id=(ident and ident.team_id) or _str(md.get("user_api_key_team_id")),
        user_id=(ident and ident.user_id) or _str(md.get("user_api_key_user_id")),
        requested_model=requested,
        served_model=served,
        provider=_str(slo.get("custom_llm_provider")),
        response_model=_str(slo.get("model")),
        stream=bool(slo.get("stream") or kwargs.get("stream")),
        cache_hit=bool(slo.get("cache_hit") or kwargs.get("cache_hit")),
        latency_s=(end - start) if start is not None and end is not None else None,
        time_to_first_token_s=(first - start)
        if first is not None and start is not None and first > start
        else None,
        cost_usd=cost if cost is not None else _float(kwargs.get("response_cost")),
        prompt_tokens=_int(slo.get("prompt_tokens")),
        completion_tokens=_int(slo.get("completion_tokens")),
        error_type=err_type,
        error_code=err_code,
        rejected=rejected,
        reason=reason,
        routing=cast("dict[str, Any] | None", routing),
        guardrails=cast("list[dict[str, Any]]", record.guardrails),
        budget=cast("dict[str, Any] | None", record.budget),
        agent_run=cast("dict[str, Any] | None", record.agent_run),
        run_id=run.run_id if run is not None else None,
        fallback=bool(raw_md.get("attempted_fallbacks")),
        messages=slo.get("messages"),
        response=slo.get("response"),
        identity=ident,
        deployment=_str(slo.get("model_id")),
        parent_request_id=run.parent_request_id if run is not None else None,
    )
