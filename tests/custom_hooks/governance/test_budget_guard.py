"""The budget guard: check, reserve, settle, reset, rebuild from the ledger, failure policy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from litellm.caching.dual_cache import DualCache
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.errors import GatewayProxyException
from custom_hooks.core.sections.governance import FailurePolicy, SpendSettings
from custom_hooks.governance.budgets import BudgetGuard, BudgetService
from custom_hooks.governance.windows import InProcessCounters, RedisCounters, WindowCounters
from custom_hooks.store.store import Store

# Built explicitly: the shipped config (agent model names, guardrail options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, on an hour boundary
COST = 0.003


class Clock:
    def __init__(self, now: float = T0 + 60) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Response:
    """What the proxy hands post-call hooks: a response with LiteLLM's hidden params."""

    def __init__(self, cost: float) -> None:
        self._hidden_params = {"response_cost": cost}


def auth(max_budget: float | None = 0.01, duration: str | None = "1h", key: str = "kh1") -> UserAPIKeyAuth:
    identity = {
        "key_hash": key,
        "key_alias": "bot",
        "user_id": None,
        "team_id": "research",
        "budgets": [
            {"scope": "key", "id": key, "max_budget": max_budget, "duration": duration},
            {"scope": "team", "id": "research", "max_budget": None, "duration": None},
        ],
        "run": None,
    }
    return UserAPIKeyAuth(api_key=key, team_id="research", metadata={"gateway_identity": identity})


def request(estimate: float = COST) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"gateway": {"routing": {"estimated_cost": estimate}}},
    }


async def call(
    guard: BudgetGuard, user: UserAPIKeyAuth, cost: float = COST, estimate: float = COST
) -> dict[str, Any]:
    """One non-streaming call through the guard's hooks, in the proxy's order."""
    data = await guard.async_pre_call_hook(user, DualCache(), request(estimate), "acompletion")
    await guard.async_post_call_success_hook(data, user, Response(cost))
    return data


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    yield s
    await s.close()


def service(
    store: Store | None = None,
    counters: WindowCounters | None = None,
    clock: Clock | None = None,
    policy: FailurePolicy | None = None,
) -> BudgetService:
    return BudgetService(
        counters or InProcessCounters(),
        spend_since=store.spend_since if store is not None else None,  # type: ignore[arg-type]
        policy=policy or FailurePolicy(),
        clock=clock or Clock(),
    )


def rejection(exc_info: pytest.ExceptionInfo[GatewayProxyException]) -> dict[str, Any]:
    body = exc_info.value.to_dict()
    return {"status": int(exc_info.value.code or 0), **body}


async def test_budget_runs_out_after_the_expected_number_of_calls(store: Store) -> None:
    guard = BudgetGuard(service(store))
    user = auth(max_budget=0.01)
    for _ in range(4):  # 0, 0.003, 0.006, 0.009 are below 0.01
        await call(guard, user)
    with pytest.raises(GatewayProxyException) as exc_info:
        await call(guard, user)
    err = rejection(exc_info)
    assert err["status"] == 400 and err["code"] == "budget_exceeded"
    assert "$0.0100" in err["message"] and "$0.0120" in err["message"]  # budget and spend
    assert "2027-01-15T09:00:00Z" in err["message"]  # the reset time
    assert exc_info.value.headers["x-gateway-budget-remaining"] == "0.000000"


async def test_reservation_is_recorded_and_headers_report_what_is_left(store: Store) -> None:
    guard = BudgetGuard(service(store))
    user = auth(max_budget=0.01)
    data = await guard.async_pre_call_hook(user, DualCache(), request(), "acompletion")
    budget = data["metadata"]["gateway"]["budget"]
    assert budget["reserved"] == COST and budget["reservation_id"] and budget["scopes"] == ["key"]
    headers = await guard.async_post_call_response_headers_hook(data, user, None)
    assert headers is not None
    assert float(headers["x-gateway-budget-remaining"]) == pytest.approx(0.007)
    assert headers["x-gateway-budget-scope"] == "key"
    assert headers["x-gateway-budget-reset"].startswith("2027-01-15T09:00:00")


async def test_real_cost_replaces_the_estimate(store: Store) -> None:
    svc = service(store)
    guard = BudgetGuard(svc)
    user = auth(max_budget=0.01)
    for _ in range(10):  # estimate 0.009 each, real cost 0.0001: settlement frees the rest
        await call(guard, user, cost=0.0001, estimate=0.009)
    [total] = await svc.counters.totals(
        svc.windows(user.metadata["gateway_identity"]["budgets"], T0 + 60), T0
    )
    assert total == pytest.approx(0.001)


async def test_a_call_is_charged_once_and_a_failure_releases(store: Store) -> None:
    svc = service(store)
    guard = BudgetGuard(svc)
    user = auth(max_budget=1.0)
    data = await call(guard, user, cost=0.2)
    kwargs = {
        "litellm_params": {"metadata": data["metadata"]},
        "standard_logging_object": {"response_cost": 0.2},
    }
    await guard.async_log_success_event(kwargs, None, None, None)  # the logging event after the hook
    failed = await guard.async_pre_call_hook(user, DualCache(), request(0.5), "acompletion")
    await guard.async_post_call_failure_hook(failed, RuntimeError("upstream down"), user)
    windows = svc.windows(user.metadata["gateway_identity"]["budgets"], T0 + 60)
    assert await svc.counters.totals(windows, T0 + 60) == [pytest.approx(0.2)]


async def test_fallback_failure_then_success_charges_the_success(store: Store) -> None:
    svc = service(store)
    guard = BudgetGuard(svc)
    user = auth(max_budget=1.0)
    data = await guard.async_pre_call_hook(user, DualCache(), request(0.1), "acompletion")
    kwargs = {"litellm_params": {"metadata": data["metadata"]}, "standard_logging_object": {}}
    await guard.async_log_failure_event(kwargs, None, None, None)  # first deployment failed
    await guard.async_post_call_success_hook(data, user, Response(0.04))  # the fallback answered
    windows = svc.windows(user.metadata["gateway_identity"]["budgets"], T0 + 60)
    assert await svc.counters.totals(windows, T0 + 60) == [pytest.approx(0.04)]


async def test_budget_resets_when_its_window_ends(store: Store) -> None:
    clock = Clock(T0 + 3500)
    guard = BudgetGuard(service(store, clock=clock))
    user = auth(max_budget=0.005)
    await call(guard, user)
    await call(guard, user)
    with pytest.raises(GatewayProxyException):
        await call(guard, user)
    clock.now = T0 + 3600  # the next hour: a new window
    await call(guard, user)


async def test_lifetime_budget_never_resets(store: Store) -> None:
    clock = Clock()
    guard = BudgetGuard(service(store, clock=clock))
    user = auth(max_budget=0.002, duration=None)
    await call(guard, user)
    clock.now += 90 * 86400
    with pytest.raises(GatewayProxyException) as exc_info:
        await call(guard, user)
    assert "does not reset" in rejection(exc_info)["message"]


async def test_window_spend_is_rebuilt_from_the_ledger_after_a_restart(store: Store) -> None:
    in_window = datetime.fromtimestamp(T0 + 10, UTC)
    before = datetime.fromtimestamp(T0 - 10, UTC)
    await store.insert_ledger_rows(
        [
            {
                "request_id": "a",
                "created_at": in_window,
                "key_hash": "kh1",
                "status": "success",
                "cost": 0.006,
            },
            {
                "request_id": "b",
                "created_at": in_window,
                "key_hash": "kh1",
                "status": "success",
                "cost": 0.003,
            },
            {"request_id": "c", "created_at": before, "key_hash": "kh1", "status": "success", "cost": 5.0},
        ]
    )
    guard = BudgetGuard(service(store))  # a fresh process: empty counters
    user = auth(max_budget=0.01)
    await call(guard, user)  # 0.009 < 0.01: allowed, now 0.012
    with pytest.raises(GatewayProxyException):
        await call(guard, user)


async def test_keys_without_budgets_pass_untouched(store: Store) -> None:
    guard = BudgetGuard(service(store))
    data = await guard.async_pre_call_hook(auth(max_budget=None), DualCache(), request(), "acompletion")
    assert "budget" not in data["metadata"]["gateway"]
    admin = UserAPIKeyAuth(api_key="admin")
    assert (
        "budget"
        not in (await guard.async_pre_call_hook(admin, DualCache(), request(), "x"))["metadata"]["gateway"]
    )


async def test_agent_outer_request_is_checked_but_never_charged(store: Store) -> None:
    svc = service(store)
    guard = BudgetGuard(svc, is_agent=lambda model: model == "research")
    user = auth(max_budget=0.01)
    data = request(0.5)
    data["model"] = "research"
    data = await guard.async_pre_call_hook(user, DualCache(), data, "acompletion")
    assert data["metadata"]["gateway"]["budget"]["reserved"] == 0.0
    await guard.async_post_call_success_hook(data, user, Response(0.5))  # the run's summed cost
    for _ in range(4):  # the inner calls are what counts
        await call(guard, user)
    with pytest.raises(GatewayProxyException):
        await guard.async_pre_call_hook(user, DualCache(), {**request(), "model": "research"}, "acompletion")


# --- failure policy: Redis down, store down ----------------------------------------


def dead_redis() -> RedisCounters:
    from tests.harness.gateway import free_port

    return RedisCounters(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2, prefix=f"t:{uuid.uuid4().hex}:")


async def test_redis_down_fails_open_by_default(store: Store) -> None:
    counters = dead_redis()
    guard = BudgetGuard(service(store, counters=counters))
    data = await call(guard, auth())
    assert data["metadata"]["gateway"]["budget"]["degraded"] == "budget_counters_unavailable"
    await counters.close()


async def test_redis_down_fails_closed_when_configured(store: Store) -> None:
    counters = dead_redis()
    guard = BudgetGuard(service(store, counters=counters, policy=FailurePolicy(budget_counters="closed")))
    with pytest.raises(GatewayProxyException) as exc_info:
        await call(guard, auth())
    err = rejection(exc_info)
    assert err["status"] == 503 and err["code"] == "service_unavailable"
    await counters.close()


class DownStore:
    """A store whose database is unreachable."""

    async def spend_since(self, scope: str, scope_id: str, since: datetime) -> float:
        raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError("db down"))


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_store_down_during_rebuild_follows_the_policy(mode: str) -> None:
    svc = BudgetService(
        InProcessCounters(),
        spend_since=DownStore().spend_since,
        policy=FailurePolicy(budget_rebuild=mode),  # type: ignore[arg-type]
        clock=Clock(),
    )
    guard = BudgetGuard(svc)
    if mode == "open":
        data = await call(guard, auth())
        assert data["metadata"]["gateway"]["budget"]["degraded"] == "budget_rebuild_unavailable"
    else:
        with pytest.raises(GatewayProxyException) as exc_info:
            await call(guard, auth())
        assert rejection(exc_info)["status"] == 503


async def test_disabled_enforcement_checks_nothing(store: Store) -> None:
    svc = service(store)
    svc.settings = SpendSettings(enforce_budgets=False)
    guard = BudgetGuard(svc)
    for _ in range(10):
        await call(guard, auth(max_budget=0.001))


async def test_budget_guard_works_against_real_redis(store: Store, redis_server: Any) -> None:
    counters = RedisCounters(redis_server.url, prefix=f"t:{uuid.uuid4().hex}:")
    guard = BudgetGuard(service(store, counters=counters))
    user = auth(max_budget=0.01, key=uuid.uuid4().hex)
    for _ in range(4):
        await call(guard, user)
    with pytest.raises(GatewayProxyException):
        await call(guard, user)
    await counters.close()
