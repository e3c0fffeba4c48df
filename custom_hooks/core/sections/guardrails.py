"""Guardrail options (``gateway.guardrails`` in config.yaml), validated at start.

One scheme: every option lives here, under ``gateway.guardrails.<guardrail>``. The
``guardrails:`` entries LiteLLM reads only name the class, its ``mode`` and
``default_on``; :func:`check_guardrail_entries` rejects anything else there (LiteLLM
would pass unknown keys to the constructor, or skip a mis-moded guardrail and start
without it, which is worse than not starting).

Example::

    gateway:
      guardrails:
        pii: {entities: {email: mask, credit_card: block}, reversible: true}
        secrets: {action: block}
        topics: {team_topics: {team-support: {legal_advice: ["lawsuit", "sue"]}}}
        injection: {threshold: 0.8, action: block}
        limits: {default: {max_messages: 200}, tiers: {free: {max_input_tokens: 8000}}}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "GUARD_CLASSES",
    "GuardrailsConfig",
    "InjectionOptions",
    "LimitsOptions",
    "PiiOptions",
    "SecretsOptions",
    "TierLimit",
    "TopicOptions",
    "check_guardrail_entries",
    "guardrails_config",
    "in_process_models",
]

Action = Literal["mask", "block", "allow"]
PiiEntity = Literal["email", "phone", "credit_card", "iban", "us_ssn", "ip_address"]
SecretEntity = Literal[
    "private_key",
    "connection_string",
    "jwt",
    "bearer_token",
    "openai_key",
    "anthropic_key",
    "aws_access_key",
    "aws_secret_key",
    "github_token",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_key",
    "google_api_key",
    "huggingface_token",
    "npm_token",
    "sendgrid_key",
    "azure_storage_key",
    "generic_api_key",
]
Role = Literal["system", "user", "assistant", "tool", "function", "developer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_PII_DEFAULTS: dict[PiiEntity, Action] = {
    "email": "mask",
    "phone": "mask",
    "credit_card": "mask",
    "iban": "mask",
    "us_ssn": "mask",
    "ip_address": "mask",
}


class PiiOptions(_Strict):
    """PII in requests (and responses): what to do per entity type."""

    entities: dict[PiiEntity, Action] = Field(default_factory=lambda: dict(_PII_DEFAULTS))
    reversible: bool = Field(
        default=True,
        description="Restore placeholders like [EMAIL_1] in the answer the caller receives.",
    )
    mask_output: bool = Field(default=True, description="Mask PII the model itself writes in its answer.")


class SecretsOptions(_Strict):
    """Credentials in requests (blocked or masked) and responses (always masked)."""

    action: Literal["mask", "block"] = "block"
    entities: dict[SecretEntity, Action] = Field(default_factory=dict, description="Per-entity overrides.")
    min_entropy: float = Field(
        default=3.0, ge=0.0, le=8.0, description="Bits/char for `api_key = ...` values."
    )
    mask_output: bool = True

    def action_for(self, entity: str) -> str:
        return str(self.entities.get(entity, self.action))  # type: ignore[call-overload]


class TopicOptions(_Strict):
    """Blocked topics: name -> terms, for everyone and per team (team_id)."""

    topics: dict[str, list[str]] = Field(default_factory=dict)
    team_topics: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    roles: list[Role] = Field(default_factory=lambda: list[Role](["user"]))

    @field_validator("topics")
    @classmethod
    def _non_empty_terms(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, terms in v.items():
            if not terms or any(not t.strip() for t in terms):
                raise ValueError(f"topic '{name}' needs a non-empty list of non-blank terms")
        return v


class InjectionOptions(_Strict):
    """Prompt-injection heuristics: a score in [0, 1] per message, compared to ``threshold``."""

    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    action: Literal["block", "flag"] = "block"
    roles: list[Role] = Field(default_factory=lambda: list[Role](["user", "tool"]))


class TierLimit(_Strict):
    max_input_tokens: int | None = Field(default=None, ge=1)
    max_messages: int | None = Field(default=None, ge=1)


class LimitsOptions(_Strict):
    """Per-request size limits; ``tiers`` (from the key's tier) override ``default`` field by field."""

    default: TierLimit = TierLimit(max_input_tokens=200_000, max_messages=500)
    tiers: dict[str, TierLimit] = Field(default_factory=dict)

    def for_tier(self, tier: str | None) -> TierLimit:
        override = self.tiers.get(tier or "")
        if override is None:
            return self.default
        return TierLimit(
            max_input_tokens=override.max_input_tokens or self.default.max_input_tokens,
            max_messages=override.max_messages or self.default.max_messages,
        )


class GuardrailsConfig(BaseModel):
    """Guardrail options shared by the guardrail hooks (gateway.guardrails)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pii: PiiOptions = PiiOptions()
    secrets: SecretsOptions = SecretsOptions()
    topics: TopicOptions = TopicOptions()
    injection: InjectionOptions = InjectionOptions()
    limits: LimitsOptions = LimitsOptions()
    stream_holdback_chars: int = Field(
        default=128,
        ge=64,
        le=4096,
        description="Streamed text held back so a secret split over chunks is still caught.",
    )


# guard class path -> (gateway.guardrails key, supported modes)
GUARD_CLASSES: Mapping[str, tuple[str, frozenset[str]]] = {
    "custom_hooks.pii_guard.PiiGuard": ("pii", frozenset({"pre_call", "post_call"})),
    "custom_hooks.secrets_guard.SecretsGuard": ("secrets", frozenset({"pre_call", "post_call"})),
    "custom_hooks.topic_guard.TopicGuard": ("topics", frozenset({"pre_call", "during_call"})),
    "custom_hooks.injection_guard.InjectionGuard": ("injection", frozenset({"pre_call", "during_call"})),
    "custom_hooks.request_limits.RequestLimits": ("limits", frozenset({"pre_call"})),
}
_ENTRY_KEYS = frozenset({"guardrail", "mode", "default_on"})


def check_guardrail_entries(raw: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Problems (key, problem, fix) in config.yaml ``guardrails:`` entries naming our classes."""
    for i, entry in enumerate(raw.get("guardrails") or []):
        params = (entry or {}).get("litellm_params") or {}
        target = params.get("guardrail")
        if not isinstance(target, str) or target not in GUARD_CLASSES:
            continue
        section, modes = GUARD_CLASSES[target]
        key = f"guardrails[{i}].litellm_params"
        for extra in sorted(set(params) - _ENTRY_KEYS):
            yield (
                f"{key}.{extra}",
                "unknown option for a gateway guardrail",
                f"move it under gateway.guardrails.{section} (only guardrail, mode, default_on go here)",
            )
        mode = params.get("mode")
        given = [mode] if isinstance(mode, str) else list(mode or [])
        bad = [m for m in given if m not in modes]
        if not given or bad:
            yield (
                f"{key}.mode",
                f"mode {mode!r} is not supported by {target.rsplit('.', 1)[1]}",
                "use one or a list of: " + ", ".join(sorted(modes)),
            )
        if not entry.get("guardrail_name"):
            yield (f"guardrails[{i}].guardrail_name", "missing", "name the guardrail, e.g. pii_guard")


@lru_cache(maxsize=1)
def in_process_models() -> frozenset[str]:
    """Model names served by an in-process agent (``model: agent/...``): their requests
    do not leave the gateway; the agent's own LLM calls come back through it and are
    guarded there."""
    from custom_hooks.core.catalog import agent_model_names
    from custom_hooks.core.lifecycle import current_config

    return frozenset(agent_model_names(current_config().model_list))


@lru_cache(maxsize=1)
def guardrails_config() -> GuardrailsConfig:
    """The process's ``gateway.guardrails`` (read once; hooks built without options use it)."""
    from custom_hooks.core.lifecycle import current_config

    return current_config().gateway.guardrails
