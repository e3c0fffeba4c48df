"""Topic guardrail: refuse requests that touch a blocked topic, per team.

config.yaml::

    guardrails:
      - guardrail_name: topic_guard
        litellm_params: {guardrail: custom_hooks.topic_guard.TopicGuard, mode: pre_call, default_on: true}
    gateway:
      guardrails:
        topics:
          topics: {weapons: ["build a bomb", "make a bomb"]}        # every team
          team_topics: {team-support: {legal_advice: ["lawsuit", "sue us"]}}

The team comes from the caller's ``gateway_identity.team_id``. Matching is whole-word,
case-insensitive and Unicode-aware (:mod:`.detectors.topics`).
config.yaml names its one-line re-export ``custom_hooks.topic_guard.TopicGuard``; the decision is
:func:`topic_verdict` (pure, table-tested), the hook applies it with :func:`.base.enforce`.
"""

from __future__ import annotations

from typing import Any

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.record import identity_of
from custom_hooks.core.sections.guardrails import TopicOptions, guardrails_config
from custom_hooks.guardrails.base import ALLOW, GuardrailVerdict, enforce, request_slots
from custom_hooks.guardrails.detectors.topics import TopicMatcher
from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.joined import groups

__all__ = ["TopicGuard", "topic_verdict"]


def topic_verdict(topic: str | None) -> GuardrailVerdict:
    """Block the first blocked topic the request touches (None: allow)."""
    if topic is None:
        return ALLOW
    return GuardrailVerdict(
        "block",
        {(f"topic:{topic}", "blocked"): 1},
        f"topic:{topic}",
        f"it touches the topic '{topic}', which is not allowed for your team",
        "Rephrase the request without it, or ask your gateway administrator.",
    )


class TopicGuard(GatewayGuardrail):
    """Blocks requests mentioning operator-defined topics and terms."""

    def __init__(self, *, options: TopicOptions | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("guardrail_name", "topic_guard")
        kwargs.setdefault("event_hook", GuardrailEventHooks.pre_call)
        kwargs["supported_event_hooks"] = [GuardrailEventHooks.pre_call, GuardrailEventHooks.during_call]
        super().__init__(**kwargs)
        self._options = options
        self._matchers: dict[str, TopicMatcher] = {}

    @property
    def options(self) -> TopicOptions:
        return self._options or guardrails_config().topics

    def matcher(self, team_id: str | None) -> TopicMatcher:
        """Global topics plus the team's own, compiled once per team."""
        opts = self.options
        key = team_id if team_id in opts.team_topics else ""
        found = self._matchers.get(key)
        if found is None:
            merged = {k: list(v) for k, v in opts.topics.items()}
            for topic, terms in opts.team_topics.get(key, {}).items():
                merged[topic] = merged.get(topic, []) + list(terms)
            found = self._matchers[key] = TopicMatcher(merged)
        return found

    def first_topic(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, call_type: str | None = None
    ) -> str | None:
        """The first blocked topic in the roles checked (each group space-joined, then glued)."""
        ident = identity_of(user_api_key_dict)
        # without a gateway identity (e.g. the master key), LiteLLM's own team id
        matcher = self.matcher(ident.team_id if ident is not None else user_api_key_dict.team_id)
        if not matcher:
            return None
        roles = set(self.options.roles)
        for group in groups(request_slots(data, call_type)):
            if group.role not in roles:
                continue
            topic = matcher.first(group.joined(" ")[0])
            if topic is None and len(group.slots) > 1:
                topic = matcher.first(group.joined("")[0])
            if topic is not None:
                return topic
        return None

    def check(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, call_type: str | None = None
    ) -> None:
        verdict = topic_verdict(self.first_topic(data, user_api_key_dict, call_type))
        enforce(data, self.guardrail_name or "topic_guard", verdict, call_type)

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        self.check(data, user_api_key_dict, call_type)
        return data

    async def async_moderation_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, call_type: str
    ) -> None:
        self.check(data, user_api_key_dict, call_type)
