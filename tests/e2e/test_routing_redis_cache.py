"""The response cache in Redis: shared by gateway instances, and failing open when Redis is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.fake_upstream import FakeUpstream
from tests.harness.gateway import GatewayProcess
from tests.harness.services import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

KEY = "sk-route-premium"  # tests/e2e/routing_identities.py
OVERRIDES = {
    "general_settings": {"custom_auth": "tests.e2e.routing_identities.user_api_key_auth"},
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {"routing": {"cache": {"enabled": True, "backend": "redis"}}},
}


@pytest.fixture(scope="module")
def pair(gateway_factory: Any, redis_server: RedisServer) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    env = {"GATEWAY_REDIS_URL": redis_server.url}
    a = gateway_factory(config_overrides=OVERRIDES, env=env, name="cache-a")
    b = gateway_factory(config_overrides=OVERRIDES, env=env, name="cache-b")
    yield a, b


def cache_header(gw: GatewayProcess, messages: list[dict[str, Any]]) -> str:
    raw = gw.client(api_key=KEY).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, max_tokens=20
    )
    assert raw.parse().choices[0].message.content
    return str(raw.headers["x-gateway-cache"])


def test_an_answer_cached_by_one_instance_is_served_by_another(
    pair: tuple[GatewayProcess, GatewayProcess], fake_upstream: FakeUpstream
) -> None:
    a, b = pair
    messages = [{"role": "user", "content": f"shared {uuid.uuid4().hex}"}]
    assert cache_header(a, messages) == "miss"
    assert cache_header(b, messages) == "hit"
    assert len(fake_upstream.requests) == 1


def test_redis_down_means_no_cache_not_no_service(
    pair: tuple[GatewayProcess, GatewayProcess], fake_upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    a, b = pair
    messages = [{"role": "user", "content": f"while down {uuid.uuid4().hex}"}]
    redis_server.stop()
    try:
        assert cache_header(a, messages) == "miss"
        assert cache_header(b, messages) == "miss"  # nothing shared while Redis is away
        assert len(fake_upstream.requests) == 2
    finally:
        redis_server.start()
