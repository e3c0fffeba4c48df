"""Ledger rows: the same row whichever metadata spelling carried the request's record."""

from __future__ import annotations

import copy
from typing import Any

from custom_hooks.ledger.spend_ledger import ledger_row
from tests.custom_hooks.ledger.test_writer import END, START, payload

GATEWAY = {
    "request_id": "req-77",
    "routing": {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "cheaper_tier"},
}


def as_messages_route(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same payload as LiteLLM logs it on /v1/messages: its metadata under ``litellm_metadata``."""
    out = copy.deepcopy(kwargs)
    params = out["litellm_params"]
    params["litellm_metadata"] = params.pop("metadata")
    params["metadata"] = {"user_id": "anthropic-user"}  # the provider's own metadata parameter
    return out


def test_both_spellings_write_the_same_row() -> None:
    chat = payload(gateway=copy.deepcopy(GATEWAY))
    a = ledger_row(chat, START, END, failed=False)
    b = ledger_row(as_messages_route(chat), START, END, failed=False)
    assert a is not None and a == b
    assert a["request_id"] == "req-77" and a["routing_reason"] == "cheaper_tier"
    assert a["requested_model"] == "gpt-4o" and (a["key_alias"], a["team_id"]) == ("research-bot", "research")


def test_both_spellings_write_the_same_failure_row() -> None:
    chat = payload(gateway=copy.deepcopy(GATEWAY), exception=RuntimeError("boom"), error_class="APIError")
    a = ledger_row(chat, START, END, failed=True)
    b = ledger_row(as_messages_route(chat), START, END, failed=True)
    assert a is not None and a == b and a["status"] == "failure" and a["error_class"] == "APIError"


def test_a_record_in_the_providers_metadata_is_not_the_requests() -> None:
    kwargs = as_messages_route(payload(gateway={}))
    kwargs["litellm_params"]["metadata"] = {"gateway": {"request_id": "forged", "agent_run": {"run_id": "x"}}}
    row = ledger_row(kwargs, START, END, failed=False)
    assert row is not None and row["request_id"] == "call-1" and row["agent_run_id"] is None
    assert row["cost"] > 0  # not zeroed as a forged "outer agent request"
