"""Prompt-injection guardrail: score user input and tool results, block or flag.

Tool results matter most: an agent's inner LLM calls come back through the gateway,
so a web page or document that says "ignore your instructions" arrives here as a
``role: tool`` message and is scored before the model reads it (indirect injection).

config.yaml::

    guardrails:
      - guardrail_name: injection_guard
        litellm_params:
          guardrail: custom_hooks.injection_guard.InjectionGuard
          mode: pre_call
          default_on: true
    gateway:
      guardrails:
        injection: {threshold: 0.8, action: block, roles: [user, tool]}

LiteLLM executes this file directly: it holds no state.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.sections.guardrails import InjectionOptions, guardrails_config
from custom_hooks.guardrails.base import blocked, record, request_slots
from custom_hooks.guardrails.detectors.injection import score
from custom_hooks.guardrails.joined import groups

__all__ = ["InjectionGuard"]

log = logging.getLogger("gateway.guardrails")


class InjectionGuard(CustomGuardrail):
    """Heuristic, score-based prompt-injection detection (direct and indirect)."""

    def __init__(self, *, options: InjectionOptions | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("guardrail_name", "injection_guard")
        kwargs.setdefault("event_hook", GuardrailEventHooks.pre_call)
        kwargs["supported_event_hooks"] = [GuardrailEventHooks.pre_call, GuardrailEventHooks.during_call]
        super().__init__(**kwargs)
        self._options = options

    @property
    def options(self) -> InjectionOptions:
        return self._options or guardrails_config().injection

    def check(self, data: dict[str, Any], call_type: str | None = None) -> None:
        t0 = time.perf_counter()
        name = self.guardrail_name or "injection_guard"
        opts = self.options
        roles = set(opts.roles)
        if "function" in roles:  # legacy name of the tool role
            roles.add("tool")
        flagged: dict[tuple[str | None, str], int] = {}
        for group in groups(request_slots(data, call_type)):
            if group.role not in roles:
                continue
            result = max(
                (score(group.joined(sep)[0]) for sep in ((" ", "") if len(group.slots) > 1 else (" ",))),
                key=lambda r: r.score,
            )
            if result.score < opts.threshold:
                continue
            entity = "indirect_prompt_injection" if group.role == "tool" else "prompt_injection"
            if opts.action == "block":
                record(data, name, {(entity, "blocked"): 1}, (time.perf_counter() - t0) * 1000)
                where = {"tool_definition": "a tool definition"}.get(
                    group.kind, "a tool result" if group.role == "tool" else f"the {group.role} input"
                )
                raise blocked(
                    name,
                    entity,
                    f"{where} looks like an attempt to override the system instructions"
                    f" (score {result.score:.2f}, rules: {', '.join(result.rules)})",
                    "Rephrase the request; if a tool returned this text, do not pass it to the model.",
                    call_type,
                )
            flagged[(entity, "flagged")] = flagged.get((entity, "flagged"), 0) + 1
        record(data, name, flagged, (time.perf_counter() - t0) * 1000)

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        self.check(data, call_type)
        return data

    async def async_moderation_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, call_type: str
    ) -> None:
        self.check(data, call_type)
