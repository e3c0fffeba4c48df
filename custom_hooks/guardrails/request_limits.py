"""Request limits: maximum messages and input tokens per request, per key tier.

config.yaml::

    guardrails:
      - guardrail_name: request_limits
        litellm_params:
          guardrail: custom_hooks.request_limits.RequestLimits
          mode: pre_call
          default_on: true
    gateway:
      guardrails:
        limits:
          default: {max_input_tokens: 200000, max_messages: 500}
          tiers: {free: {max_input_tokens: 8000, max_messages: 50}}

The tier comes from the caller's ``gateway_identity.tier``. Tokens are counted with
LiteLLM's counter and the tokenizer the cost router uses for the model (never one that
downloads), but only when the UTF-8 size of the text
could exceed the limit (a token is at least one byte), so small requests cost nothing.
config.yaml names its one-line re-export ``custom_hooks.request_limits.RequestLimits``; the decision is
:func:`limits_verdict` (pure, table-tested), the hook applies it with :func:`.base.enforce`.
"""

from __future__ import annotations

from typing import Any

import litellm
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.pricing import counting_tokenizer, process_catalog
from custom_hooks.core.record import identity_of
from custom_hooks.core.sections.guardrails import LimitsOptions, TierLimit, guardrails_config
from custom_hooks.guardrails.base import ALLOW, GuardrailVerdict, enforce, request_slots
from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.request_slots import TextSlot, chat_slots

__all__ = ["RequestLimits", "limits_verdict"]


def limits_verdict(
    limit: TierLimit, tier: str | None, messages: int, input_tokens: int | None
) -> GuardrailVerdict:
    """Block a request over its tier's message or input-token limit, messages first.

    ``input_tokens`` None: not counted (the text's UTF-8 size is within the limit, and a
    token is at least one byte).
    """
    tier_text = f"tier '{tier}'" if tier else "the default tier"
    if limit.max_messages is not None and messages > limit.max_messages:
        return GuardrailVerdict(
            "block",
            {("max_messages", "blocked"): 1},
            "max_messages",
            f"it has {messages} messages and {tier_text} allows {limit.max_messages}",
            "Trim or summarise the conversation history and retry.",
        )
    if (
        limit.max_input_tokens is not None
        and input_tokens is not None
        and input_tokens > limit.max_input_tokens
    ):
        return GuardrailVerdict(
            "block",
            {("max_input_tokens", "blocked"): 1},
            "max_input_tokens",
            f"it has about {input_tokens} input tokens and {tier_text} allows {limit.max_input_tokens}",
            "Shorten the prompt or split the work into several requests.",
        )
    return ALLOW


def _tokenizer(model: str) -> str:
    """The tokenizer the cost router counts ``model`` with: never a slow or downloading one."""
    try:
        spec = process_catalog()[1].get(model)
    except Exception:  # no readable config here: the router's choice for an unknown model
        spec = None
    return counting_tokenizer(spec)


def _input_tokens(data: dict[str, Any], slots: list[TextSlot], byte_size: int, call_type: str) -> int:
    """Chat messages with LiteLLM's message counter (it knows their overhead) plus every
    other slot (tool definitions, a smuggled ``system``) as text; other surfaces' slots
    (Responses items, Anthropic blocks, prompts) as text."""
    try:
        tokenizer = _tokenizer(str(data.get("model") or ""))
        messages = data.get("messages")
        rest = slots
        tokens = 0
        if call_type in ("acompletion", "completion") and isinstance(messages, list):
            tokens = int(litellm.token_counter(model=tokenizer, messages=messages))
            rest = slots[sum(1 for _ in chat_slots({"messages": messages})) :]
        if rest:
            tokens += int(litellm.token_counter(model=tokenizer, text="\n".join(s.text for s in rest)))
        return tokens
    except Exception:  # an unknown model or exotic content: fall back to the byte bound
        return byte_size


class RequestLimits(GatewayGuardrail):
    """Rejects requests with too many messages or input tokens for the caller's tier."""

    def __init__(self, *, options: LimitsOptions | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("guardrail_name", "request_limits")
        kwargs.setdefault("event_hook", GuardrailEventHooks.pre_call)
        kwargs["supported_event_hooks"] = [GuardrailEventHooks.pre_call]
        super().__init__(**kwargs)
        self._options = options

    @property
    def options(self) -> LimitsOptions:
        return self._options or guardrails_config().limits

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        ident = identity_of(user_api_key_dict)
        tier = ident.tier if ident is not None else None
        limit = self.options.for_tier(tier)
        messages = data.get("messages")
        if not isinstance(messages, list):  # a Responses item list counts as messages too
            messages = data.get("input") if call_type in ("aresponses", "responses") else None
        n = len(messages) if isinstance(messages, list) else 0
        tokens: int | None = None
        if limit.max_input_tokens is not None and (limit.max_messages is None or n <= limit.max_messages):
            slots = list(request_slots(data, call_type))
            size = sum(len(s.text.encode()) for s in slots)
            if size > limit.max_input_tokens:  # only then can the tokens exceed it: count them
                tokens = _input_tokens(data, slots, size, call_type)
        enforce(
            data, self.guardrail_name or "request_limits", limits_verdict(limit, tier, n, tokens), call_type
        )
        return data
