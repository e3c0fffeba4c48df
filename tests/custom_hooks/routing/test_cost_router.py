"""The cost router hook, called directly as LiteLLM calls it, with real cheap collaborators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import litellm
import pytest
from litellm.caching.caching import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse

from custom_hooks.core.config import resolve_dotted
from custom_hooks.core.errors import GatewayProxyException
from custom_hooks.core.pricing import ModelCatalog
from custom_hooks.core.sections.routing import RoutingConfig
from custom_hooks.core.services import Services
from custom_hooks.governance.budgets import BUDGETS, BudgetService
from custom_hooks.governance.windows import InProcessCounters
from custom_hooks.routing.cost_router import (
    HEADER_NAMES,
    CostRouter,
    format_cost,
    remaining_from_budget_service,
)
from custom_hooks.routing.policy import BudgetState


def _priced(name: str, inp: float, out: float) -> dict[str, Any]:
    info = {"input_cost_per_token": inp, "output_cost_per_token": out, "supports_function_calling": True}
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}"}, "model_info": info}


MODEL_LIST = [
    _priced("gpt-4o", 2.5e-6, 1e-5),
    _priced("gpt-4o-mini", 1.5e-7, 6e-7),
    {"model_name": "agent/research", "litellm_params": {"model": "agent/research"}},
]
CEILING = {"chains": {"gpt-4o": ["gpt-4o-mini"]}, "default": {"max_cost_per_request": 0.001}}


def router(routing: dict[str, Any] | None = None, **kw: Any) -> CostRouter:
    cfg = RoutingConfig.model_validate(routing or {})
    return CostRouter(config=cfg, catalog=ModelCatalog.from_model_list(MODEL_LIST, cfg), **kw)


def caller(
    *,
    models: Sequence[str] = (),
    team: str | None = "research",
    tier: str | None = "free",
    budgets: list | None = None,
) -> UserAPIKeyAuth:
    ident = {"key_hash": "h1", "team_id": team, "tier": tier, "budgets": budgets or [], "run": None}
    return UserAPIKeyAuth(
        api_key="h1", team_id=team, models=list(models), metadata={"gateway_identity": ident}
    )


def chat(model: str = "gpt-4o", max_tokens: int = 200, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": max_tokens,
        **extra,
    }


async def call(
    r: CostRouter, data: dict[str, Any], user: UserAPIKeyAuth | None = None, ct: str = "acompletion"
):
    return await r.async_pre_call_hook(user or caller(), DualCache(), data, ct)


def test_liteLLM_sees_the_hooks_on_the_class_itself_and_the_config_path_resolves() -> None:
    for name in ("async_pre_call_hook", "async_post_call_response_headers_hook"):
        assert name in vars(CostRouter)
    instance = resolve_dotted("custom_hooks.cost_router.cost_router")
    assert type(instance).__name__ == "CostRouter"


async def test_reroute_sets_the_model_and_records_the_decision() -> None:
    data = await call(router(CEILING), chat(metadata={"user_note": "kept"}))
    assert data["model"] == "gpt-4o-mini"
    routing = data["metadata"]["gateway"]["routing"]
    assert routing["requested_model"] == "gpt-4o" and routing["served_model"] == "gpt-4o-mini"
    assert routing["reason"] == "cost_ceiling" and 0 < routing["estimated_cost"] <= 0.001
    assert data["metadata"]["user_note"] == "kept"


async def test_keep_records_too_and_leaves_the_model() -> None:
    data = await call(router(), chat())
    assert data["model"] == "gpt-4o"
    assert data["metadata"]["gateway"]["routing"]["reason"] == "within_policy"


async def test_rejection_is_a_400_with_a_stable_code_headers_and_a_recorded_decision() -> None:
    data = chat(max_tokens=5000)
    with pytest.raises(GatewayProxyException) as info:
        await call(router(CEILING), data)
    exc = info.value
    assert exc.code == "400" and exc.to_dict()["code"] == "cost_limit_exceeded"
    assert "Estimated cost $" in exc.message
    assert exc.headers["x-gateway-route-reason"] == "cost_ceiling"
    assert float(exc.headers["x-gateway-estimated-cost"]) > 0.001
    assert data["metadata"]["gateway"]["routing"]["reason"] == "cost_ceiling"  # failure logs see it


async def test_the_keys_model_list_is_rechecked() -> None:
    with pytest.raises(GatewayProxyException) as info:
        await call(router(CEILING), chat(), caller(models=["gpt-4o"]))
    assert "gpt-4o-mini would fit, but this key may not use it" in info.value.message


async def test_strict_comes_from_request_metadata() -> None:
    with pytest.raises(GatewayProxyException):
        await call(router(CEILING), chat(metadata={"routing": "strict"}))


async def test_policy_is_chosen_by_tier_from_the_identity() -> None:
    routing = {
        **CEILING,
        "default": {},
        "policies": [{"match": {"tier": "free"}, "max_cost_per_request": 0.001}],
    }
    assert (await call(router(routing), chat(), caller(tier="free")))["model"] == "gpt-4o-mini"
    assert (await call(router(routing), chat(), caller(tier="premium")))["model"] == "gpt-4o"


class FakeBudgets:
    """Remaining budget as the spend area would report it."""

    def __init__(self, remaining: float | None = None, error: Exception | None = None) -> None:
        self.remaining, self.error = remaining, error
        self.calls: list[list[Mapping[str, Any]]] = []

    async def __call__(self, user: UserAPIKeyAuth, budgets: Sequence[Mapping[str, Any]]) -> list[BudgetState]:
        self.calls.append(list(budgets))
        if self.error is not None:
            raise self.error
        return [BudgetState(str(b["scope"]), float(b["max_budget"]), self.remaining) for b in budgets]


KEY_BUDGET = [{"scope": "key", "id": "h1", "max_budget": 10.0, "duration": "30d"}]
LOW = {
    "chains": {"gpt-4o": ["gpt-4o-mini"]},
    "default": {"downgrade_below_remaining": 1.0, "reject_over_budget": True},
}


async def test_remaining_budget_comes_from_the_injected_lookup() -> None:
    budgets = FakeBudgets(remaining=0.5)
    data = await call(router(LOW, remaining_budgets=budgets), chat(), caller(budgets=KEY_BUDGET))
    assert data["model"] == "gpt-4o-mini" and data["metadata"]["gateway"]["routing"]["reason"] == "budget_low"
    assert budgets.calls == [KEY_BUDGET]


async def test_no_lookup_without_budgets() -> None:
    budgets = FakeBudgets(remaining=0.5)
    unlimited = [{"scope": "key", "id": "h1", "max_budget": None, "duration": None}]
    await call(router(LOW, remaining_budgets=budgets), chat(), caller(budgets=unlimited))
    assert budgets.calls == []


async def test_exhausted_budget_is_budget_exceeded() -> None:
    budgets = FakeBudgets(remaining=0.0)
    with pytest.raises(GatewayProxyException) as info:
        await call(router(LOW, remaining_budgets=budgets), chat(), caller(budgets=KEY_BUDGET))
    assert info.value.to_dict()["code"] == "budget_exceeded" and info.value.code == "400"


async def test_budget_lookup_failure_fails_open_by_default() -> None:
    budgets = FakeBudgets(error=ConnectionError("redis down"))
    data = await call(router(LOW, remaining_budgets=budgets), chat(), caller(budgets=KEY_BUDGET))
    assert data["model"] == "gpt-4o" and budgets.calls


async def test_budget_lookup_failure_can_fail_closed() -> None:
    budgets = FakeBudgets(error=TimeoutError())
    r = router({**LOW, "on_budget_lookup_error": "closed"}, remaining_budgets=budgets)
    with pytest.raises(GatewayProxyException) as info:
        await call(r, chat(), caller(budgets=KEY_BUDGET))
    assert info.value.code == "503" and info.value.to_dict()["code"] == "service_unavailable"


async def test_agents_are_never_cached_nor_rerouted() -> None:
    data = await call(router(CEILING), chat("agent/research", cache={"no-cache": False}))
    assert data["model"] == "agent/research"
    assert data["cache"] == {"no-cache": True, "no-store": True}
    assert data["metadata"]["gateway"]["routing"]["reason"] == "agent"


async def test_calls_inside_an_agent_run_are_never_cached() -> None:
    user = caller()
    user.metadata["gateway_identity"]["run"] = {"run_id": "r1", "agent": "research", "depth": 1}
    data = await call(router({"cache": {"enabled": True}}), chat("gpt-4o-mini"), user)
    assert data["model"] == "gpt-4o-mini" and data["cache"] == {"no-cache": True, "no-store": True}


@pytest.mark.parametrize(
    ("scope", "team", "namespace"),
    [
        ("team", "research", "gw-cache:team:research"),
        ("team", None, "gw-cache:key:h1"),
        ("key", "research", "gw-cache:key:h1"),
        ("global", "research", None),
    ],
)
async def test_cache_entries_are_namespaced_by_scope(
    scope: str, team: str | None, namespace: str | None
) -> None:
    r = router({"cache": {"enabled": True, "scope": scope}})
    data = await call(r, chat(cache={"no-cache": True}), caller(team=team))
    if namespace is None:
        assert data["cache"] == {"no-cache": True}
    else:
        assert data["cache"] == {"no-cache": True, "namespace": namespace}  # the client's controls are kept


async def test_disabled_routing_and_other_call_types_pass_through() -> None:
    data = chat(max_tokens=5000)
    assert (await call(router({**CEILING, "enabled": False}), data))["model"] == "gpt-4o"
    image = {"model": "gpt-4o", "prompt": "a cat"}
    assert await call(router(CEILING), image, ct="image_generation") == {"model": "gpt-4o", "prompt": "a cat"}


async def test_embeddings_are_estimated() -> None:
    data = await call(router(), {"model": "gpt-4o", "input": ["hello world"] * 4}, ct="aembedding")
    assert data["metadata"]["gateway"]["routing"]["estimated_cost"] > 0


def response(cost: float | None = None, cache_hit: bool | None = None) -> ModelResponse:
    resp = ModelResponse()
    resp._hidden_params = {"response_cost": cost, "cache_hit": cache_hit}
    return resp


async def headers(data: dict[str, Any], resp: Any) -> dict[str, str] | None:
    return await router().async_post_call_response_headers_hook(data, caller(), resp)


async def test_headers_report_the_decision_and_actual_cost() -> None:
    data = await call(router(CEILING), chat())
    h = await headers(data, response(cost=0.000123))
    assert h is not None
    assert h["x-gateway-requested-model"] == "gpt-4o" and h["x-gateway-served-model"] == "gpt-4o-mini"
    assert h["x-gateway-route-reason"] == "cost_ceiling"
    assert float(h["x-gateway-estimated-cost"]) == pytest.approx(
        data["metadata"]["gateway"]["routing"]["estimated_cost"]
    )
    assert h["x-gateway-actual-cost"] == "0.000123"
    assert set(h) <= set(HEADER_NAMES)


async def test_headers_on_a_cache_hit_say_hit_and_zero_cost() -> None:
    data = await call(router(), chat())
    h = await headers(data, response(cost=0.5, cache_hit=True))
    assert h is not None and h["x-gateway-cache"] == "hit" and h["x-gateway-actual-cost"] == "0"


async def test_cache_miss_and_bypass() -> None:
    data = await call(router(), chat())
    previous = litellm.cache
    try:
        litellm.cache = None
        h = await headers(data, response(cost=0.1))
        assert h is not None and h["x-gateway-cache"] == "bypass"
        litellm.cache = litellm.Cache(type="local")  # type: ignore[arg-type]
        h = await headers(data, response(cost=0.1))
        assert h is not None and h["x-gateway-cache"] == "miss"
        h = await headers({**data, "cache": {"no-cache": True}}, response(cost=0.1))
        assert h is not None and h["x-gateway-cache"] == "bypass"
    finally:
        litellm.cache = previous


async def test_streaming_headers_have_no_actual_cost_yet() -> None:
    data = await call(router(), chat(stream=True))
    h = await headers(data, object())  # a stream wrapper: no usage until the end
    assert h is not None and "x-gateway-actual-cost" not in h and "x-gateway-estimated-cost" in h


async def test_no_decision_no_headers() -> None:
    assert await headers(chat(), response(cost=1.0)) is None
    data = await call(router(), chat())
    h = await headers(data, None)  # failure after routing
    assert h is not None and "x-gateway-cache" not in h


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0"), (0.00012, "0.00012"), (1.5, "1.5"), (2e-10, "0.0000000002")]
)
def test_format_cost(value: float, text: str) -> None:
    assert format_cost(value) == text


async def test_the_default_lookup_reads_the_spend_areas_window_counters(shipped_services: Services) -> None:
    service = BudgetService(counters=InProcessCounters())
    budgets = [{"scope": "key", "id": "h1", "max_budget": 1.0, "duration": "1d"}]
    shipped_services.provide(BUDGETS, service)
    assert await remaining_from_budget_service(caller(), budgets) == [BudgetState("key", 1.0, None)]
    res = await service.reserve(budgets, 0.1)
    assert res is not None and res.action == "admit" and res.reservation_id
    await service.charge(res.reservation_id, 0.75)
    assert await remaining_from_budget_service(caller(), budgets) == [BudgetState("key", 1.0, 0.25)]
    data = await call(router(LOW), chat(), caller(budgets=budgets))  # the default lookup, wired
    assert data["model"] == "gpt-4o-mini" and data["metadata"]["gateway"]["routing"]["reason"] == "budget_low"


async def test_content_the_token_counter_cannot_read_is_estimated_approximately() -> None:
    odd = {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": 42}]}]}
    data = await call(router(), odd)
    assert data["metadata"]["gateway"]["routing"]["estimated_cost"] > 0
