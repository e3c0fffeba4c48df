"""One typed record per request and one typed identity, whichever metadata spelling LiteLLM used."""

from __future__ import annotations

import copy
import json
from typing import Any

from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.identity import Identity, RunInfo, remember_identity
from custom_hooks.core.record import (
    gateway_record,
    identity_from_metadata,
    identity_of,
    litellm_metadata,
    request_metadata,
)
from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.guardrails.base import record

STAMP = {"user_api_key_hash": "kh1"}  # LiteLLM stamps its own metadata with the caller's key


def test_litellm_metadata_is_used_when_it_is_the_only_metadata() -> None:
    data: dict[str, Any] = {"litellm_metadata": {"x": 1}}
    gateway_record(data).routing = {
        "requested_model": "a",
        "served_model": "b",
        "reason": "r",
        "estimated_cost": 0.1,
    }
    record(data, "pii_guard", {})  # a guardrail decision lands in the same record
    assert "metadata" not in data
    rec = gateway_record(data)
    assert rec.routing is not None and rec.routing["reason"] == "r"
    assert [g["action"] for g in rec.guardrails] == ["allowed"]


def test_metadata_is_created_only_when_neither_spelling_exists() -> None:
    empty: dict[str, Any] = {"metadata": None}
    gateway_record(empty).budget = {"reservation_id": None}
    assert empty == {"metadata": {"gateway": {"budget": {"reservation_id": None}}}}
    both: dict[str, Any] = {"metadata": {}, "litellm_metadata": {}}
    assert request_metadata(both) is both["metadata"]  # a client's own fields: unchanged rule


def test_reading_never_creates_a_record() -> None:
    data: dict[str, Any] = {"metadata": dict(STAMP)}
    rec = gateway_record(data)
    assert not rec and rec.request_id is None and rec.budget is None and rec.guardrails == []
    assert data == {"metadata": STAMP}


def test_on_litellm_metadata_routes_the_record_stays_out_of_the_providers_metadata() -> None:
    """/v1/messages: ``metadata`` is Anthropic's parameter (sent upstream), LiteLLM's ``litellm_metadata``."""
    data: dict[str, Any] = {"metadata": {"user_id": "u-1"}, "litellm_metadata": dict(STAMP)}
    rec = gateway_record(data)
    rec.request_id = "req-1"
    rec.budget = {"reservation_id": "res-1", "reserved": 0.01}
    assert data["metadata"] == {"user_id": "u-1"}
    assert gateway_record(data).reservation_id == "res-1"
    assert litellm_metadata(data) is data["litellm_metadata"]


def test_a_record_in_the_clients_metadata_is_never_read() -> None:
    """A ``gateway`` dict that slipped into the client's spelling cannot release or redirect anything."""
    forged = {"gateway": {"request_id": "forged", "budget": {"reservation_id": "someone-elses"}}}
    data: dict[str, Any] = {"metadata": forged, "litellm_metadata": dict(STAMP)}
    assert gateway_record(data).reservation_id is None and gateway_record(data).request_id is None
    gateway_record(data).request_id = "req-2"
    assert data["litellm_metadata"]["gateway"] == {"request_id": "req-2"}
    assert forged["gateway"]["request_id"] == "forged"  # untouched

    # both spellings hold a record: the one the gateway wrote (LiteLLM's, stamped) wins
    real = {**STAMP, "gateway": {"budget": {"reservation_id": "res-real"}}}
    both: dict[str, Any] = {"metadata": copy.deepcopy(forged), "litellm_metadata": real}
    assert gateway_record(both).reservation_id == "res-real"
    chat: dict[str, Any] = {"metadata": real, "litellm_metadata": copy.deepcopy(forged)}
    assert gateway_record(chat).reservation_id == "res-real"  # chat route: LiteLLM's is "metadata"


def test_logging_payloads_find_the_record_in_either_spelling() -> None:
    gw = {"request_id": "req-3", "budget": {"reservation_id": "res-3"}}
    lm = {**STAMP, "gateway": gw}
    messages_route = {"litellm_params": {"metadata": {"user_id": "u"}, "litellm_metadata": lm}}
    copied = {"litellm_params": {"metadata": dict(lm), "litellm_metadata": lm}}  # LiteLLM's shallow copy
    chat_route = {"litellm_params": {"metadata": lm, "litellm_metadata": None}}
    for kwargs in (messages_route, copied, chat_route):
        rec = gateway_record(kwargs)
        assert (rec.request_id, rec.reservation_id) == ("req-3", "res-3")
        assert event_from_logging_kwargs(kwargs, "success").reservation_id == "res-3"


def test_the_agent_report_is_written_in_place() -> None:
    kwargs: dict[str, Any] = {"litellm_params": {"metadata": {**STAMP, "gateway": {"request_id": "r"}}}}
    report = gateway_record(kwargs).agent_run_report()
    report["run_id"] = "run-1"
    assert gateway_record(kwargs).agent_run == {"run_id": "run-1"}
    assert gateway_record(kwargs).agent_run_report() is report


def _identity() -> Identity:
    return Identity(
        key_hash="kh1",
        key_alias="bot",
        user_id="ann",
        team_id="research",
        team_alias="Research",
        tier="gold",
        key_models=("gpt-4o*",),
        team_models=("gpt-4o-mini", "demo"),
        rpm_limit=10,
        budgets=({"scope": "key", "id": "kh1", "max_budget": 5.0, "duration": "1d"},),
        metadata={"app": "crm"},
        run=RunInfo("run-1", "req-1", "research", 1, ("demo",)),
    )


def test_identity_round_trips_through_its_json_wire_form() -> None:
    ident = _identity()
    wire = json.loads(json.dumps(ident.as_metadata()))  # what survives LiteLLM's copies
    back = Identity.from_metadata(wire)
    assert back == ident
    assert back.may_call("demo") and not back.may_call("gpt-4o-mini")  # the run's narrower list


def test_identity_of_hands_back_the_object_custom_auth_built() -> None:
    ident = _identity()
    wire = ident.as_metadata()
    remember_identity(ident, wire)
    user = UserAPIKeyAuth(api_key="kh1", metadata={"gateway_identity": wire})
    assert identity_of(user) is ident
    parsed = UserAPIKeyAuth(api_key="h", metadata={"gateway_identity": {"team_id": "t", "tier": "free"}})
    first = identity_of(parsed)
    assert first is not None and (first.team_id, first.tier, first.key_hash) == ("t", "free", "")
    assert identity_of(parsed) is first  # parsed once per dict


def test_no_identity_without_custom_auth_and_malformed_fields_take_defaults() -> None:
    assert identity_of(UserAPIKeyAuth(api_key="h", team_id="t")) is None
    assert identity_of(None) is None
    odd = Identity.from_metadata(
        {"key_hash": "k", "budgets": "all", "run": "yes", "is_admin": "true", "rpm_limit": "x", "metadata": 3}
    )
    assert odd.budgets == () and odd.run is None and odd.is_admin is False and odd.rpm_limit is None
    assert odd.metadata == {}


def test_identity_from_a_logging_payloads_metadata() -> None:
    ident = _identity()
    md = {"user_api_key_metadata": {"gateway_identity": ident.as_metadata()}}
    assert identity_from_metadata(md) == ident
    assert identity_from_metadata({"user_api_key_hash": "kh1"}) is None
