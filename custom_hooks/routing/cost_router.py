"""The cost router hook: estimate, decide (keep / reroute / reject), record, explain in headers.

Configured as ``custom_hooks.cost_router.cost_router`` in ``litellm_settings.callbacks``
(first, so later hooks see the served model). The decision itself is
:func:`custom_hooks.routing.policy.decide`; this class only gathers facts, applies the
decision to LiteLLM's request ``data`` and reports it:

- ``data["model"]`` is set to the served model (LiteLLM then routes to that group);
- the request's ``GatewayRecord.routing`` = requested/served model, reason, estimate;
- response headers ``x-gateway-requested-model``, ``-served-model``, ``-route-reason``,
  ``-estimated-cost``, ``-actual-cost`` (non-streaming) and ``x-gateway-cache``;
- agent models are never cached; with ``cache.scope`` team/key, cache entries are namespaced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from redis.exceptions import RedisError

from custom_hooks.core.errors import (
    BadRequest,
    BudgetExceeded,
    CostLimitExceeded,
    GatewayError,
    PermissionDenied,
    ServiceUnavailable,
    to_proxy_exception,
)
from custom_hooks.core.pricing import (
    ModelCatalog,
    RequestShape,
    counting_tokenizer,
    process_catalog,
    request_kind,
    request_shape,
)
from custom_hooks.core.record import Identity, gateway_record, identity_of, request_metadata
from custom_hooks.core.sections.routing import RoutingConfig
from custom_hooks.governance.budgets import get_budget_service
from custom_hooks.routing.policy import BudgetState, Decision, IdentityFacts, RequestFacts, decide

__all__ = ["HEADER_NAMES", "CostRouter", "RemainingBudgets", "format_cost", "remaining_from_budget_service"]

log = logging.getLogger("gateway.routing")

RemainingBudgets = Callable[
    [UserAPIKeyAuth, Sequence[Mapping[str, Any]]], Awaitable[Sequence[BudgetState] | None]
]
"""``(caller, identity budgets) -> what remains of each`` (None = unknown)."""

H_REQUESTED = "x-gateway-requested-model"
H_SERVED = "x-gateway-served-model"
H_REASON = "x-gateway-route-reason"
H_ESTIMATED = "x-gateway-estimated-cost"
H_ACTUAL = "x-gateway-actual-cost"
H_CACHE = "x-gateway-cache"
HEADER_NAMES = (H_REQUESTED, H_SERVED, H_REASON, H_ESTIMATED, H_ACTUAL, H_CACHE)

_ERRORS: dict[str, type[GatewayError]] = {
    "cost_limit_exceeded": CostLimitExceeded,
    "budget_exceeded": BudgetExceeded,
    "model_not_allowed": PermissionDenied,
    "no_suitable_model": BadRequest,
}
_NO_CACHE = {"no-cache": True, "no-store": True}


def format_cost(value: float) -> str:
    """USD as a plain decimal string for headers (``0.00012``)."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


async def remaining_from_budget_service(
    user: UserAPIKeyAuth, budgets: Sequence[Mapping[str, Any]]
) -> Sequence[BudgetState] | None:
    """What remains of each budget window: the spend area's counters (settled + reserved).

    A window whose counter is not seeded yet (the first call of a window after a start)
    has ``remaining=None`` (unknown); :class:`GatewayStarting` before the budgets started.
    """
    service = get_budget_service()
    now = service.clock()
    windows = service.windows(budgets, now)
    if not windows:
        return None
    totals = await service.counters.totals(windows, now)
    return [
        BudgetState(w.scope, w.limit, None if spent is None else w.limit - spent)
        for w, spent in zip(windows, totals, strict=True)
    ]


class CostRouter(CustomLogger):
    """Pre-call cost router and transparency headers (stateless; see module docstring).

    Example (tests)::

        router = CostRouter(config=RoutingConfig(...), catalog=ModelCatalog.from_model_list(models))
        data = await router.async_pre_call_hook(user, DualCache(), {"model": "gpt-4o", ...}, "completion")
    """

    def __init__(
        self,
        *,
        config: RoutingConfig | None = None,
        catalog: ModelCatalog | None = None,
        remaining_budgets: RemainingBudgets | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._catalog = catalog
        self._remaining_budgets = remaining_budgets or remaining_from_budget_service

    def _policy(self) -> tuple[RoutingConfig, ModelCatalog]:
        if self._config is not None and self._catalog is not None:
            return self._config, self._catalog
        cfg, catalog = process_catalog()
        return self._config or cfg, self._catalog or catalog

    async def _budget_states(
        self, cfg: RoutingConfig, user: UserAPIKeyAuth, ident: Identity | None
    ) -> tuple[BudgetState, ...] | None:
        budgets = [dict(b) for b in ident.enforced_budgets] if ident is not None else []
        if not budgets or not cfg.needs_budget_lookup:
            return None
        try:
            states = await asyncio.wait_for(
                self._remaining_budgets(user, budgets), cfg.budget_lookup_timeout_s
            )
        except (OSError, TimeoutError, RedisError, ServiceUnavailable) as exc:
            if cfg.on_budget_lookup_error == "closed":
                raise to_proxy_exception(
                    ServiceUnavailable(
                        "Remaining budget cannot be checked right now, and routing is set to fail closed. "
                        "To proceed: retry shortly."
                    )
                ) from exc
            log.warning("remaining budget unavailable (%s); routing without it", type(exc).__name__)
            return None
        return None if states is None else tuple(states)

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Decide and apply: reroute by setting ``data["model"]``, or reject with a stable code."""
        model = data.get("model")
        if not isinstance(model, str) or not model:
            return data
        cfg, catalog = self._policy()
        ident = identity_of(user_api_key_dict)
        if not cfg.enabled:
            self._apply_cache_controls(data, model, cfg, catalog, user_api_key_dict, ident)
            return data
        kind = request_kind(str(call_type), data)
        if kind == "other":
            return data

        spec = catalog.get(model)
        if spec is not None and spec.is_agent:
            shape = RequestShape(kind=kind, prompt_tokens=0)  # agents use a fixed estimate
        elif spec is None and model != cfg.auto.model_name:
            # decide() keeps an unpriced model without reading the shape: don't tokenize
            shape = RequestShape(kind=kind, prompt_tokens=0)
        else:
            tokenizer = counting_tokenizer(spec)
            try:
                shape = request_shape(data, kind, tokenizer, approx=cfg.token_counting == "approx")
            except (ValueError, TypeError, KeyError, AttributeError):  # content the counter can't read
                shape = request_shape(data, kind, tokenizer, approx=True)
        md = request_metadata(data)
        strict = str(md.get("routing") or "").strip().lower() == "strict"
        facts = IdentityFacts(
            team_id=(ident.team_id if ident else None) or user_api_key_dict.team_id,
            tier=ident.tier if ident else None,
            models=tuple(user_api_key_dict.models or ()),
            team_models=tuple(user_api_key_dict.team_models or ()),
            budgets=await self._budget_states(cfg, user_api_key_dict, ident),
        )
        decision = decide(RequestFacts(model=model, shape=shape, strict=strict), facts, cfg, catalog)
        gateway_record(data).routing = {
            "requested_model": decision.requested_model,
            "served_model": decision.model,
            "reason": decision.reason,
            "estimated_cost": decision.estimated_cost,
        }
        if decision.action == "reject":
            raise to_proxy_exception(self._error(decision))
        if decision.action == "reroute":
            data["model"] = decision.model
        self._apply_cache_controls(data, decision.model, cfg, catalog, user_api_key_dict, ident)
        return data

    @staticmethod
    def _error(decision: Decision) -> GatewayError:
        cls = _ERRORS.get(decision.code or "", CostLimitExceeded)
        headers = {
            H_REQUESTED: decision.requested_model,
            H_REASON: decision.reason,
            H_ESTIMATED: format_cost(decision.estimated_cost),
        }
        return cls(decision.message, headers=headers, code=decision.code)

    @staticmethod
    def _apply_cache_controls(
        data: dict[str, Any],
        served: str,
        cfg: RoutingConfig,
        catalog: ModelCatalog,
        user: UserAPIKeyAuth,
        ident: Identity | None,
    ) -> None:
        spec = catalog.get(served)
        if (spec is not None and spec.is_agent) or (ident is not None and ident.run is not None):
            # An agent run, and every call made inside one, is never served from (or stored in)
            # the cache: a run replayed from cached steps would not be a run.
            data["cache"] = dict(_NO_CACHE)
            return
        cc = cfg.cache
        if not cc.enabled or cc.scope == "global":
            return
        team = (ident.team_id if ident else None) or user.team_id
        key = (ident.key_hash if ident else None) or user.api_key or "anonymous"
        owner = f"team:{team}" if cc.scope == "team" and team else f"key:{key}"
        client = data.get("cache")
        data["cache"] = {
            **(client if isinstance(client, dict) else {}),
            "namespace": f"{cc.namespace}:{owner}",
        }

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: UserAPIKeyAuth,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """The routing decision and the cost, as response headers (streaming: no actual cost)."""
        routing = gateway_record(data).routing
        if routing is None:
            return None
        headers = {
            H_REQUESTED: str(routing.get("requested_model", "")),
            H_SERVED: str(routing.get("served_model", "")),
            H_REASON: str(routing.get("reason", "")),
            H_ESTIMATED: format_cost(float(routing.get("estimated_cost") or 0.0)),
        }
        if response is None:
            return headers
        hidden = getattr(response, "_hidden_params", None)
        hidden = hidden if isinstance(hidden, dict) else {}
        hit = bool(hidden.get("cache_hit"))
        cache_ctl = data.get("cache")
        client_cache: dict[str, Any] = cache_ctl if isinstance(cache_ctl, dict) else {}
        if hit:
            headers[H_CACHE] = "hit"
        elif litellm.cache is None or client_cache.get("no-cache") or client_cache.get("no-store"):
            headers[H_CACHE] = "bypass"
        else:
            headers[H_CACHE] = "miss"
        if hit:
            headers[H_ACTUAL] = "0"
        elif not data.get("stream"):
            cost = hidden.get("response_cost")
            if isinstance(cost, int | float):
                headers[H_ACTUAL] = format_cost(float(cost))
        return headers


cost_router = CostRouter()
