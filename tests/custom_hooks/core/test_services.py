"""The services object: a service reached before its step ran is a 503, never a default."""

from __future__ import annotations

import pytest
from fastapi import Request

from custom_hooks.auth.authenticator import get_authenticator
from custom_hooks.auth.custom_auth import user_api_key_auth
from custom_hooks.core.errors import GatewayProxyException, ServiceUnavailable
from custom_hooks.core.services import GatewayStarting, Services, Slot, services, use_services
from custom_hooks.governance.budgets import get_budget_service
from custom_hooks.ledger.writer import enqueue
from custom_hooks.store.redis_recovery import RECOVERY, get_recovery
from custom_hooks.store.store import get_store, store_started
from tests.harness.built_services import shipped_config

THING: Slot[list[str]] = Slot("thing", "the thing")


def test_a_slot_no_step_filled_raises_gateway_starting_in_openai_format() -> None:
    svc = Services()
    with pytest.raises(GatewayStarting) as caught:
        svc.get(THING)
    err = caught.value
    assert isinstance(err, ServiceUnavailable) and err.status_code == 503
    assert err.body() == {
        "error": {"message": err.message, "type": "api_error", "param": None, "code": "gateway_starting"}
    }
    assert "the thing" in err.message and "retry" in err.message


def test_settings_and_config_are_not_defaulted_either() -> None:
    svc = Services()
    with pytest.raises(GatewayStarting):
        _ = svc.config
    with pytest.raises(GatewayStarting):
        _ = svc.settings
    assert not svc.has_config()
    svc.config = shipped_config()
    assert svc.config is shipped_config()


def test_provide_get_take() -> None:
    svc = Services()
    value = ["a"]
    svc.provide(THING, value)
    assert svc.get(THING) is value and svc.started(THING) and svc.names() == ["thing"]
    assert svc.take(THING) is value
    with pytest.raises(GatewayStarting):  # closed: starting or stopping, not an empty default
        svc.get(THING)
    assert svc.take(THING) is None  # a second stop is harmless


def test_absent_is_not_the_same_as_not_started() -> None:
    svc = Services()
    with pytest.raises(GatewayStarting):
        svc.optional(THING)  # its step has not run: nobody knows yet
    svc.provide(THING, None)  # the step ran: this deployment has none
    assert svc.optional(THING) is None and not svc.started(THING)
    with pytest.raises(GatewayStarting):
        svc.get(THING)  # a caller that needs it still gets the typed error


def test_use_services_puts_the_previous_ones_back() -> None:
    before = services()
    inner = Services()
    with use_services(inner) as got:
        assert got is inner and services() is inner
        with use_services(Services()):
            assert services() is not inner
        assert services() is inner
    assert services() is before


def test_use_services_restores_even_when_the_block_fails() -> None:
    before = services()
    with pytest.raises(RuntimeError), use_services(Services()):
        raise RuntimeError("boom")
    assert services() is before


@pytest.mark.parametrize(
    "reach",
    [get_store, get_authenticator, get_budget_service, lambda: enqueue({"request_id": "r1"}), get_recovery],
    ids=["store", "authenticator", "budgets", "ledger", "redis-recovery"],
)
def test_every_service_accessor_refuses_before_start(reach: object) -> None:
    with use_services(Services(config=shipped_config())), pytest.raises(GatewayStarting):
        reach()  # type: ignore[operator]


def test_store_started_is_false_before_the_store_step() -> None:
    with use_services(Services()):
        assert not store_started()


def test_redis_recovery_without_redis_is_none_once_budgets_started() -> None:
    svc = Services()
    svc.provide(RECOVERY, None)
    with use_services(svc):
        assert get_recovery() is None


def _request() -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer sk-gw-whatever")],
        "query_string": b"",
    }
    return Request(scope)


async def test_custom_auth_before_start_is_a_503_gateway_starting_for_the_client() -> None:
    with use_services(Services()), pytest.raises(GatewayProxyException) as caught:
        await user_api_key_auth(_request(), "sk-gw-whatever")
    exc = caught.value
    assert str(exc.code) == "503"
    body = exc.to_dict()
    assert body["code"] == "gateway_starting" and body["type"] == "api_error"
    assert "sk-gw" not in body["message"]  # no key text in the error
