"""gateway.guardrails and the guardrails: entries naming our classes fail at start when wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from custom_hooks.core.sections.guardrails import GuardrailsConfig, check_guardrail_entries


def entry(**params: object) -> dict:
    return {"guardrails": [{"guardrail_name": "g", "litellm_params": params}]}


def test_defaults_are_sensible() -> None:
    cfg = GuardrailsConfig()
    assert cfg.pii.entities["email"] == "mask" and cfg.pii.reversible
    assert cfg.secrets.action == "block" and cfg.injection.threshold == 0.8


@pytest.mark.parametrize(
    "raw",
    [
        {"pii": {"entitys": {}}},
        {"pii": {"entities": {"passport": "mask"}}},
        {"secrets": {"action": "maybe"}},
        {"injection": {"threshold": 2}},
        {"limits": {"tiers": {"free": {"max_tokens": 5}}}},
        {"topics": {"topics": {"x": []}}},
        {"stream_holdback_chars": 8},
        {"colour": "red"},
    ],
)
def test_unknown_or_invalid_fields_fail(raw: dict) -> None:
    with pytest.raises(ValidationError):
        GuardrailsConfig.model_validate(raw)


def test_entries_only_name_class_mode_default_on() -> None:
    ok = entry(guardrail="custom_hooks.pii_guard.PiiGuard", mode=["pre_call", "post_call"], default_on=True)
    assert list(check_guardrail_entries(ok)) == []
    extra = entry(guardrail="custom_hooks.pii_guard.PiiGuard", mode="pre_call", entities={"email": "mask"})
    assert [p[0] for p in check_guardrail_entries(extra)] == ["guardrails[0].litellm_params.entities"]
    bad_mode = entry(guardrail="custom_hooks.request_limits.RequestLimits", mode="post_call")
    assert [p[0] for p in check_guardrail_entries(bad_mode)] == ["guardrails[0].litellm_params.mode"]
    foreign = entry(guardrail="presidio", mode="whatever", anything=1)
    assert list(check_guardrail_entries(foreign)) == []


def test_every_secret_entity_is_configurable() -> None:
    from typing import get_args

    from custom_hooks.core.sections.guardrails import SecretEntity
    from custom_hooks.guardrails.detectors.secrets import ALL_SECRETS

    assert set(get_args(SecretEntity)) == set(ALL_SECRETS)
