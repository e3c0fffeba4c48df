"""Budget settlement reads the reservation from either metadata spelling, never from the client's."""

from __future__ import annotations

from typing import Any

import pytest
from litellm.caching.dual_cache import DualCache

from custom_hooks.governance.budgets import BudgetGuard, BudgetService
from tests.custom_hooks.governance.test_budget_guard import T0, auth, service

STAMP = {"user_api_key_hash": "kh1"}  # LiteLLM stamps its own metadata with the caller's key


pytestmark = pytest.mark.usefixtures("shipped_services")  # the guard asks the catalog "is it an agent"


def chat_request(estimate: float) -> dict[str, Any]:
    """/v1/chat/completions: LiteLLM's metadata is ``metadata``."""
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {**STAMP, "gateway": {"routing": {"estimated_cost": estimate}}},
    }


def messages_request(estimate: float) -> dict[str, Any]:
    """/v1/messages: ``metadata`` is Anthropic's own parameter, LiteLLM's is ``litellm_metadata``."""
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": "anthropic-user"},
        "litellm_metadata": {**STAMP, "gateway": {"routing": {"estimated_cost": estimate}}},
    }


def logging_payload(data: dict[str, Any], cost: float) -> dict[str, Any]:
    """The logging ``kwargs`` LiteLLM builds from that request (litellm_params carries both spellings)."""
    params: dict[str, Any] = {
        "metadata": data.get("metadata"),
        "litellm_metadata": data.get("litellm_metadata"),
    }
    return {"litellm_params": params, "standard_logging_object": {"response_cost": cost}}


async def spent(svc: BudgetService) -> float:
    user = auth(max_budget=1.0)
    [total] = await svc.counters.totals(
        svc.windows(user.metadata["gateway_identity"]["budgets"], T0 + 60), T0
    )
    return total


@pytest.mark.parametrize("build", [chat_request, messages_request], ids=["metadata", "litellm_metadata"])
async def test_a_stream_settles_its_reservation_in_either_spelling(build: Any) -> None:
    svc = service()
    guard = BudgetGuard(svc)
    data = await guard.async_pre_call_hook(auth(max_budget=1.0), DualCache(), build(0.5), "acompletion")
    assert await spent(svc) == pytest.approx(0.5)  # reserved
    await guard.async_log_success_event(logging_payload(data, 0.2), None, None, None)
    assert await spent(svc) == pytest.approx(0.2)  # the reservation is gone, the real cost counted


@pytest.mark.parametrize("build", [chat_request, messages_request], ids=["metadata", "litellm_metadata"])
async def test_a_failed_call_releases_its_reservation_in_either_spelling(build: Any) -> None:
    svc = service()
    guard = BudgetGuard(svc)
    data = await guard.async_pre_call_hook(auth(max_budget=1.0), DualCache(), build(0.5), "acompletion")
    await guard.async_log_failure_event(logging_payload(data, 0.0), None, None, None)
    assert await spent(svc) == 0.0


async def test_on_the_messages_route_the_reservation_never_enters_the_providers_metadata() -> None:
    guard = BudgetGuard(service())
    data = await guard.async_pre_call_hook(
        auth(max_budget=1.0), DualCache(), messages_request(0.5), "acompletion"
    )
    assert data["metadata"] == {"user_id": "anthropic-user"}  # sent upstream as is
    assert data["litellm_metadata"]["gateway"]["budget"]["reservation_id"]


async def test_a_reservation_named_in_the_clients_metadata_is_not_released() -> None:
    """Someone else's reservation id planted in the client's spelling settles nothing."""
    svc = service()
    guard = BudgetGuard(svc)
    victim = await guard.async_pre_call_hook(
        auth(max_budget=1.0), DualCache(), chat_request(0.5), "acompletion"
    )
    rid = victim["metadata"]["gateway"]["budget"]["reservation_id"]
    attack = messages_request(0.0)
    attack["litellm_metadata"]["gateway"] = {}
    attack["metadata"] = {"gateway": {"budget": {"reservation_id": rid}}}
    await guard.async_log_failure_event(logging_payload(attack, 0.0), None, None, None)
    await guard.async_post_call_failure_hook(attack, RuntimeError("x"), auth(max_budget=1.0))
    assert await spent(svc) == pytest.approx(0.5)  # the victim's reservation still holds
