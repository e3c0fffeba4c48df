"""The run reporter's failure hook: clean agent error bodies, and hands off everything else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth

from agent_routes.runtime.errors import AgentStepLimit, from_inner_status_error, provider_error
from agent_routes.runtime.reporting import AGENT_MODELS, RunReporter, agent_models_of, is_agent_request
from custom_hooks.core.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    ClientFacingError,
    gateway_error_of,
    to_client_facing,
    to_proxy_exception,
)
from custom_hooks.core.services import GatewayStarting, Services, use_services


@pytest.fixture(autouse=True)
def _agent_models(shipped_services: Services) -> None:
    """What the agents step provides: the shipped config's agent model names."""
    shipped_services.provide(AGENT_MODELS, agent_models_of(shipped_services.config))


KEY = UserAPIKeyAuth(api_key="hash")


def _agent_request() -> dict[str, Any]:
    return {
        "model": "research",
        "metadata": {"gateway": {"agent_run": {"agent": "research", "run_id": "r1"}}},
    }


async def test_agent_errors_come_back_with_their_status_and_code() -> None:
    out = await RunReporter().async_post_call_failure_hook(
        _agent_request(), provider_error(AgentStepLimit("too many steps")), KEY
    )
    assert isinstance(out, ClientFacingError) and isinstance(out, HTTPException)
    assert out.status_code == 422
    assert out.to_dict()["code"] == "agent_step_limit" and out.to_dict()["type"] == "invalid_request_error"


async def test_plain_model_errors_are_left_alone() -> None:
    # a plain model's auth error, even one whose chain holds a GatewayError, is not rewritten
    try:
        try:
            raise AuthenticationFailed("bad key")
        except AuthenticationFailed as err:
            raise to_proxy_exception(err) from err
    except Exception as exc:
        wrapped = exc
    assert gateway_error_of(wrapped) is not None
    plain = {"model": "gpt-4o-mini", "metadata": {"gateway": {"request_id": "x"}}}
    assert await RunReporter().async_post_call_failure_hook(plain, wrapped, KEY) is None
    assert await RunReporter().async_post_call_failure_hook({}, wrapped, KEY) is None


def test_is_agent_request_by_run_or_model_name() -> None:
    agents = {"research": "research"}
    assert is_agent_request(_agent_request(), {})
    assert is_agent_request({"model": "research"}, agents)
    assert not is_agent_request({"model": "gpt-4o"}, agents)
    assert not is_agent_request({"model": None}, agents)


def test_inner_call_error_keeps_status_code_and_type() -> None:
    class _Status(Exception):
        status_code = 400
        body = {"error": {"message": "budget gone", "type": "budget_exceeded", "code": "budget_exceeded"}}

    err = from_inner_status_error(_Status())
    assert (err.status_code, err.code, err.type) == (400, "budget_exceeded", "budget_exceeded")
    assert "budget gone" in err.message
    body = to_client_facing(err).to_dict()
    assert body["code"] == "budget_exceeded"
    assert gateway_error_of(provider_error(BudgetExceeded("x"))).code == "budget_exceeded"  # type: ignore[union-attr]


async def test_before_the_agents_step_the_failure_hook_says_starting_not_plain() -> None:
    # No silent "nothing is an agent": without the agent model names the hook cannot decide.
    with use_services(Services()), pytest.raises(GatewayStarting):
        await RunReporter().async_post_call_failure_hook({"model": "research"}, RuntimeError("x"), KEY)
