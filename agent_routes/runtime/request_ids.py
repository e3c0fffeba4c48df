"""The thread id of an agent request, whichever channel the client used: one rule.

Clients put request metadata in different places, and LiteLLM moves it around by route
(chat completions merge the body's ``metadata`` and ``litellm_metadata`` into the request
metadata; ``/v1/messages`` and ``/v1/responses`` keep the body's ``metadata`` as the
provider's and copy it to ``requester_metadata``). The rule:

1. a ``thread_id`` in the request body's metadata, wherever LiteLLM put it: body
   ``metadata`` (OpenAI SDKs' ``metadata=``, LangChain ``model_kwargs={"metadata": ...}``,
   Anthropic ``extra_body={"metadata": ...}``), body ``litellm_metadata`` (the LiteLLM
   SDK's ``litellm_metadata=``), or ``metadata`` forwarded as a provider parameter;
2. else the ``x-thread-id`` request header.

A value must be 1-200 characters (else 400 naming ``metadata.thread_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_hooks.core.errors import BadRequest

__all__ = ["THREAD_HEADER", "request_thread_id"]

THREAD_HEADER = "x-thread-id"


def _in(container: Any) -> Any:
    if isinstance(container, Mapping):
        value = container.get("thread_id")
        if value not in (None, ""):
            return value
    return None


def request_thread_id(
    md: Mapping[str, Any],
    optional_params: Mapping[str, Any] | None = None,
    litellm_params: Mapping[str, Any] | None = None,
) -> str | None:
    """The request's thread id by the rule above; None when it names none."""
    optional_params = optional_params or {}
    litellm_params = litellm_params or {}
    candidates = (
        md,
        md.get("requester_metadata"),
        litellm_params.get("litellm_metadata"),
        optional_params.get("metadata"),
        optional_params.get("litellm_metadata"),
    )
    tid = next((v for v in map(_in, candidates) if v is not None), None)
    if tid is None:
        headers = md.get("headers") or {}
        if isinstance(headers, Mapping):
            tid = next((v for k, v in headers.items() if str(k).lower() == THREAD_HEADER), None)
    if tid is None:
        return None
    tid = str(tid).strip()
    if not tid or len(tid) > 200:
        raise BadRequest("thread_id must be 1-200 characters.", param="metadata.thread_id")
    return tid
