"""Skip LiteLLM's per-chunk hook dispatch when no callback has a per-chunk hook.

LiteLLM 1.108.7 calls ``ProxyLogging.async_post_call_streaming_hook`` for every streamed
chat chunk as soon as *any* guardrail is configured, whether or not a callback overrides
``async_post_call_streaming_hook``. Per chunk that dispatch renders the chunk's text,
builds a pydantic ``Deployment`` (``check_and_merge_model_level_guardrails``), asks every
guardrail ``should_run_guardrail`` and then awaits each callback's hook, which for every
callback of ours is ``CustomLogger``'s empty default: on a 200-chunk stream it was about
14% of the gateway's samples, for no effect. Our guardrails mask streams in
``async_post_call_streaming_iterator_hook`` (one wrapper over the whole stream), which
this does not touch.

The gate LiteLLM consults (``proxy_logging_obj.needs_per_chunk_streaming_hook``, an
instance method it documents as overridable) is replaced on that one instance by the
condition under which the dispatch can do anything: some callback really overrides
``async_post_call_streaming_hook``. Add such a callback (a LiteLLM built-in guardrail
that edits chunks, say) and the dispatch runs exactly as before.
"""

from __future__ import annotations

import logging
from typing import Any

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services

__all__ = ["STEP", "install"]

log = logging.getLogger("gateway.streaming")


def install(proxy_logging: Any) -> bool:
    """Gate ``proxy_logging``'s per-chunk dispatch on a real per-chunk hook; False if the
    gate is not where LiteLLM 1.108.7 has it (then nothing changes)."""
    from litellm.proxy.utils import ProxyLogging

    if not callable(getattr(ProxyLogging, "needs_per_chunk_streaming_hook", None)) or not callable(
        getattr(ProxyLogging, "callback_capabilities", None)
    ):
        return False

    def needs_per_chunk_streaming_hook() -> bool:
        return bool(ProxyLogging.callback_capabilities().has_streaming_chunk_override)

    proxy_logging.needs_per_chunk_streaming_hook = needs_per_chunk_streaming_hook
    return True


async def _start(_svc: Services) -> None:
    from litellm.proxy import proxy_server

    if not install(proxy_server.proxy_logging_obj):
        log.warning("LiteLLM's per-chunk streaming gate was not found; streams use its default dispatch")


STEP = Step("stream-dispatch", _start)
