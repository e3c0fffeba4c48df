"""The response cache the routing section switches on."""

from __future__ import annotations

import pytest
from litellm.caching.in_memory_cache import InMemoryCache
from litellm.caching.redis_cache import RedisCache

from custom_hooks.core.sections.routing import CacheConfig
from custom_hooks.routing.cache import build_cache


def test_disabled_means_no_cache() -> None:
    assert build_cache(CacheConfig(enabled=False), "redis://127.0.0.1:6379/0") is None


def test_in_process_by_default() -> None:
    cache = build_cache(CacheConfig(enabled=True, ttl_s=30), None)
    assert cache is not None and isinstance(cache.cache, InMemoryCache)
    assert cache.namespace == "gw-cache"


def test_redis_when_a_url_is_set() -> None:
    cache = build_cache(CacheConfig(enabled=True), "redis://127.0.0.1:1/0")  # no connection is made yet
    assert cache is not None and isinstance(cache.cache, RedisCache)


def test_local_can_be_forced_and_redis_required() -> None:
    cache = build_cache(CacheConfig(enabled=True, backend="local"), "redis://127.0.0.1:1/0")
    assert cache is not None and isinstance(cache.cache, InMemoryCache)
    with pytest.raises(ValueError, match="GATEWAY_REDIS_URL"):
        build_cache(CacheConfig(enabled=True, backend="redis"), None)
