"""The base of our guardrails: LiteLLM's ``should_run_guardrail``, answered early when the
event is not one of the guardrail's hooks.

LiteLLM asks every configured guardrail ``should_run_guardrail(data, event)`` at each of
its hook points: pre-call, during-call, post-call and again in its success logging, so
about twenty times per request for our five. About two thirds of those ask about an event
the guardrail has no hook for (none of ours runs during the call or as ``logging_only``;
three run only before it). LiteLLM's method still reads the request's metadata (requested
guardrails, the global opt-outs, the auto router's suppression list) before it concludes
False: 7-8 us per such call in-process, 0.6 us here (a call it runs costs ~1.7 us more), so
~0.1 ms per request.

Every path of LiteLLM's method that returns True first requires
``_event_hook_is_event_type(event)``, a pure check of ``event_hook``; so returning False
when that check fails gives the same answer on every input, and anything else is LiteLLM's
own decision. ``tests/custom_hooks/guardrails/test_gate.py`` compares the two over every
event, hook configuration and metadata switch, so a LiteLLM release that adds a path
which runs a guardrail on a foreign event fails it. LiteLLM's own vendor guardrails
override this method the same way.
"""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.guardrails import GuardrailEventHooks

__all__ = ["GatewayGuardrail"]


class GatewayGuardrail(CustomGuardrail):
    """A LiteLLM ``CustomGuardrail`` that skips LiteLLM's metadata reads for foreign events."""

    def should_run_guardrail(self, data: Any, event_type: GuardrailEventHooks) -> bool:
        if isinstance(event_type, GuardrailEventHooks) and not self._event_hook_is_event_type(event_type):
            return False  # what LiteLLM's method concludes on every path
        return bool(super().should_run_guardrail(data, event_type))
