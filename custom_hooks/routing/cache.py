"""LiteLLM's exact-match response cache, switched on from ``gateway.routing.cache``.

In-process by default; Redis (shared by every instance) when ``GATEWAY_REDIS_URL`` is set
and ``backend`` is ``auto`` or ``redis``. Redis errors never fail a request: LiteLLM's
Redis cache logs them, trips a circuit breaker and the call goes to the model (fail open).
An operator who configured ``litellm_settings.cache`` themselves keeps theirs.

Per request, LiteLLM's own controls apply (``cache: {"no-cache": true}`` skips the lookup,
``"no-store": true`` skips storing); the cost router forces both for agent models.
"""

from __future__ import annotations

import logging

import litellm
from litellm.caching.caching import Cache, LiteLLMCacheType

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.sections.routing import CacheConfig
from custom_hooks.core.services import Services, Slot

__all__ = ["RESPONSE_CACHE", "STEP", "build_cache"]

log = logging.getLogger("gateway.cache")

_CALL_TYPES = ["completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding"]


def build_cache(cfg: CacheConfig, redis_url: str | None) -> Cache | None:
    """The LiteLLM ``Cache`` this config asks for (None when disabled)."""
    if not cfg.enabled:
        return None
    use_redis = cfg.backend == "redis" or (cfg.backend == "auto" and bool(redis_url))
    if use_redis:
        if not redis_url:
            raise ValueError("gateway.routing.cache.backend is 'redis' but GATEWAY_REDIS_URL is not set")
        return Cache(
            type=LiteLLMCacheType.REDIS,
            url=redis_url,
            ttl=cfg.ttl_s,
            namespace=cfg.namespace,
            max_messages=cfg.max_messages,
            supported_call_types=_CALL_TYPES,  # type: ignore[arg-type]
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
    return Cache(
        type=LiteLLMCacheType.LOCAL,
        ttl=cfg.ttl_s,
        default_in_memory_ttl=cfg.ttl_s,
        namespace=cfg.namespace,
        max_messages=cfg.max_messages,
        supported_call_types=_CALL_TYPES,  # type: ignore[arg-type]
    )


# The cache this gateway installed as ``litellm.cache`` (None: off, or the operator's own).
RESPONSE_CACHE: Slot[Cache] = Slot("response-cache", "the response cache")


def _switch_on_router_caching() -> None:
    """LiteLLM's router passes ``caching=<its flag>`` on every call; the flag was set before us."""
    from litellm.proxy import proxy_server

    router = getattr(proxy_server, "llm_router", None)
    if router is not None:
        router.cache_responses = True


async def _start(svc: Services) -> None:
    cfg = svc.config.gateway.routing.cache
    svc.provide(RESPONSE_CACHE, None)
    if not cfg.enabled:
        return
    if litellm.cache is not None:
        log.info("litellm_settings.cache is configured; the gateway keeps it")
        return
    cache = build_cache(cfg, svc.settings.redis_url)
    litellm.cache = cache
    if cache is not None:
        svc.provide(RESPONSE_CACHE, cache)
        _switch_on_router_caching()
        log.info("response cache on (%s, ttl %ss)", type(cache.cache).__name__, cfg.ttl_s)


async def _stop(svc: Services) -> None:
    cache = svc.take(RESPONSE_CACHE)
    if cache is None:
        return
    if litellm.cache is cache:
        litellm.cache = None
    disconnect = getattr(cache, "disconnect", None)
    if disconnect is not None:
        try:
            await disconnect()
        except (OSError, ConnectionError):
            log.warning("closing the cache connection failed")


STEP = Step("response-cache", _start, _stop)
