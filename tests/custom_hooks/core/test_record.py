"""One reading of request metadata and identity for every hook."""

from __future__ import annotations

from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.record import gateway_metadata, identity_of, request_metadata
from custom_hooks.guardrails.base import record


def test_litellm_metadata_is_used_when_it_is_the_only_metadata() -> None:
    data: dict = {"litellm_metadata": {"x": 1}}
    gateway_metadata(data)["routing"] = {"reason": "r"}
    record(data, "pii_guard", {})  # a guardrail decision lands in the same dict
    assert "metadata" not in data
    gw = data["litellm_metadata"]["gateway"]
    assert gw["routing"] == {"reason": "r"} and gw["guardrails"][0]["action"] == "allowed"


def test_metadata_wins_and_is_created_only_when_neither_exists() -> None:
    both: dict = {"metadata": {}, "litellm_metadata": {}}
    assert request_metadata(both) is both["metadata"]
    empty: dict = {"metadata": None}
    gateway_metadata(empty)["budget"] = {}
    assert empty == {"metadata": {"gateway": {"budget": {}}}}


def test_identity_comes_from_gateway_identity_only() -> None:
    ident = {"team_id": "t", "tier": "free"}
    assert identity_of(UserAPIKeyAuth(api_key="h", metadata={"gateway_identity": ident})) is ident
    assert identity_of(UserAPIKeyAuth(api_key="h", team_id="t")) == {}
    assert identity_of(None) == {}
