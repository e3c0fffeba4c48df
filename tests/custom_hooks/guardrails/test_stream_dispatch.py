"""LiteLLM's per-chunk hook dispatch runs only when a callback really hooks chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from litellm.caching.caching import DualCache
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy.utils import ProxyLogging

from custom_hooks.core.sections.guardrails import PiiOptions
from custom_hooks.guardrails.pii_guard import PiiGuard
from custom_hooks.guardrails.stream_dispatch import install
from custom_hooks.observability.metrics_logger import Metrics


class ChunkEditor(CustomLogger):
    """A callback that does edit chunks one by one (as some LiteLLM guardrails do)."""

    async def async_post_call_streaming_hook(self, user_api_key_dict: Any, response: str) -> Any:
        return None


@pytest.fixture
def callbacks() -> Iterator[list[Any]]:
    saved = list(litellm.callbacks)
    try:
        yield litellm.callbacks
    finally:
        litellm.callbacks[:] = saved


@pytest.fixture
def proxy_logging() -> ProxyLogging:
    obj = ProxyLogging(user_api_key_cache=DualCache())  # type: ignore[arg-type]
    assert install(obj)
    return obj


def test_our_guardrails_and_loggers_need_no_per_chunk_dispatch(
    callbacks: list[Any], proxy_logging: ProxyLogging
) -> None:
    callbacks[:] = [PiiGuard(guardrail_name="pii_guard", options=PiiOptions()), Metrics()]
    assert ProxyLogging.callback_capabilities().has_guardrail  # LiteLLM alone would dispatch per chunk
    assert proxy_logging.needs_per_chunk_streaming_hook() is False
    assert proxy_logging.needs_iterator_wrap() is True  # the stream masking wrapper still runs


def test_a_real_per_chunk_hook_keeps_the_dispatch(callbacks: list[Any], proxy_logging: ProxyLogging) -> None:
    callbacks[:] = [PiiGuard(guardrail_name="pii_guard", options=PiiOptions()), ChunkEditor()]
    assert proxy_logging.needs_per_chunk_streaming_hook() is True
