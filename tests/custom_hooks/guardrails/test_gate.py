"""Our guardrails decide whether to run exactly as LiteLLM's ``CustomGuardrail`` does.

``GatewayGuardrail.should_run_guardrail`` answers False early for an event the guardrail
has no hook for; LiteLLM's own method is the oracle, over every event, hook configuration,
``default_on`` and the request switches LiteLLM reads (requested guardrails, the global
opt-out, per-guardrail opt-outs), in the places a client or a key can put them.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.guardrails import GuardrailEventHooks as E

from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.injection_guard import InjectionGuard
from custom_hooks.guardrails.pii_guard import PiiGuard
from custom_hooks.guardrails.request_limits import RequestLimits
from custom_hooks.guardrails.secrets_guard import SecretsGuard
from custom_hooks.guardrails.topic_guard import TopicGuard

NAME = "pii_guard"
HOOKS: list[Any] = [
    None,
    E.pre_call,
    E.post_call,
    E.during_call,
    E.logging_only,
    [E.pre_call, E.post_call],
    [E.pre_call, E.during_call, E.post_call],
    ["pre_call", "post_call"],  # as config.yaml spells them
]


def requests() -> list[dict[str, Any]]:
    switches: list[dict[str, Any]] = [
        {},
        {"guardrails": [NAME]},
        {"guardrails": ["another_guard"]},
        {"guardrails": {NAME: {"extra_body": {}}}},
        {"disable_global_guardrail": True},
        {"disable_global_guardrail": False},
        {"opted_out_global_guardrails": [NAME]},
        {"opted_out_global_guardrails": ["another_guard"]},
        {"guardrails": [NAME], "opted_out_global_guardrails": [NAME]},
    ]
    out: list[dict[str, Any]] = [{"model": "demo", "messages": []}]
    for sw in switches[1:]:
        out.append({"model": "demo", **sw})  # in the body
        out.append({"model": "demo", "metadata": dict(sw)})  # in metadata
        out.append({"model": "demo", "litellm_metadata": dict(sw)})  # LiteLLM's own metadata
    return out


@pytest.mark.parametrize("hook", HOOKS, ids=repr)
@pytest.mark.parametrize("default_on", [True, False])
def test_same_answer_as_litellm(hook: Any, default_on: bool) -> None:
    guard = GatewayGuardrail(guardrail_name=NAME, event_hook=hook, default_on=default_on)
    checked = 0
    for data, event in itertools.product(requests(), list(E)):
        ours = guard.should_run_guardrail(data, event)
        theirs = CustomGuardrail.should_run_guardrail(guard, data, event)
        assert ours == theirs, (hook, default_on, data, event)
        checked += 1
    assert checked == len(requests()) * len(E)


@pytest.mark.parametrize(
    ("cls", "hook"),
    [
        (RequestLimits, "pre_call"),
        (SecretsGuard, ["pre_call", "post_call"]),
        (TopicGuard, "pre_call"),
        (InjectionGuard, "pre_call"),
        (PiiGuard, ["pre_call", "post_call"]),
    ],
)
def test_each_shipped_guardrail_as_configured(cls: type[GatewayGuardrail], hook: Any) -> None:
    guard = cls(guardrail_name=cls.__name__, event_hook=hook, default_on=True)
    assert isinstance(guard, GatewayGuardrail)
    runs = set()
    for data, event in itertools.product(requests(), list(E)):
        ours = guard.should_run_guardrail(data, event)
        assert ours == CustomGuardrail.should_run_guardrail(guard, data, event), (data, event)
        if ours:
            runs.add(event)
    wanted = {E(h) for h in ([hook] if isinstance(hook, str) else hook)}
    assert runs == wanted  # it still runs where it should, and only there
