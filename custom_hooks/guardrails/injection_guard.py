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

config.yaml names its one-line re-export ``custom_hooks.injection_guard.InjectionGuard``; the decision is
:func:`injection_verdict` (pure, table-tested), the hook applies it with :func:`.base.enforce`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.sections.guardrails import InjectionOptions, guardrails_config
from custom_hooks.guardrails.base import GuardrailVerdict, enforce, request_slots
from custom_hooks.guardrails.detectors.injection import InjectionScore, score
from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.joined import groups

__all__ = ["InjectionGuard", "Scored", "injection_verdict"]

log = logging.getLogger("gateway.guardrails")


@dataclass(frozen=True, slots=True)
class Scored:
    """One group of a checked role and its highest injection score."""

    role: str
    kind: str
    result: InjectionScore


def injection_verdict(scored: Iterable[Scored], options: InjectionOptions) -> GuardrailVerdict:
    """Block the first group at or over the threshold (``action: block``), or flag every one.

    ``scored`` may be lazy: nothing after a block is consumed.
    """
    flagged: Counter[tuple[str | None, str]] = Counter()
    for s in scored:
        if s.result.score < options.threshold:
            continue
        entity = "indirect_prompt_injection" if s.role == "tool" else "prompt_injection"
        if options.action == "flag":
            flagged[(entity, "flagged")] += 1
            continue
        where = {"tool_definition": "a tool definition"}.get(
            s.kind, "a tool result" if s.role == "tool" else f"the {s.role} input"
        )
        return GuardrailVerdict(
            "block",
            {(entity, "blocked"): 1},
            entity,
            f"{where} looks like an attempt to override the system instructions"
            f" (score {s.result.score:.2f}, rules: {', '.join(s.result.rules)})",
            "Rephrase the request; if a tool returned this text, do not pass it to the model.",
        )
    return GuardrailVerdict("flag" if flagged else "allow", flagged)


class InjectionGuard(GatewayGuardrail):
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

    def scored(self, data: dict[str, Any], call_type: str | None = None) -> Iterator[Scored]:
        """Each group of a checked role, scored space-joined and (several slots) glued."""
        roles = set(self.options.roles)
        if "function" in roles:  # legacy name of the tool role
            roles.add("tool")
        for group in groups(request_slots(data, call_type)):
            if group.role not in roles:
                continue
            result = max(
                (score(group.joined(sep)[0]) for sep in ((" ", "") if len(group.slots) > 1 else (" ",))),
                key=lambda r: r.score,
            )
            yield Scored(group.role, group.kind, result)

    def check(self, data: dict[str, Any], call_type: str | None = None) -> None:
        verdict = injection_verdict(self.scored(data, call_type), self.options)
        enforce(data, self.guardrail_name or "injection_guard", verdict, call_type)

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        self.check(data, call_type)
        return data

    async def async_moderation_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, call_type: str
    ) -> None:
        self.check(data, call_type)
