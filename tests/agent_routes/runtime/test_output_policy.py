"""Agent text on the mounted routes gets the chat route's output policy."""

from __future__ import annotations

import pytest

from agent_routes.runtime.output_policy import agent_text_out

# Built explicitly: the shipped config (agent model names, guardrail options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")


def test_credentials_are_masked_and_the_callers_own_data_is_not() -> None:
    key = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7k"
    out = agent_text_out(f"Approval needed: email bob@example.com the key {key} now")
    assert key not in out and "[REDACTED_" in out
    assert "bob@example.com" in out and out.startswith("Approval needed: email bob@example.com the key ")
    assert agent_text_out("") == "" and agent_text_out("plain") == "plain"
