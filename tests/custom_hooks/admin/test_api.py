"""Admin operations, request validation, what responses show, and where the routes mount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from custom_hooks.admin import api as admin_api
from custom_hooks.admin.models import KeyCreate, KeyUpdate, TeamCreate, key_view, parse_body
from custom_hooks.admin.service import Admin
from custom_hooks.auth.keys import hash_key
from custom_hooks.core.errors import BadRequest, GatewayError
from custom_hooks.store.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    yield st
    await st.close()


class Changes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def admin(store: Store, changes: Changes) -> Admin:
    return Admin(store, on_change=changes)


def test_key_body_validation_names_the_field() -> None:
    for body, param in [
        ({"budget_duration": "monthly"}, "budget_duration"),
        ({"duration": "0d"}, "duration"),
        ({"max_budget": -1}, "max_budget"),
        ({"models": ["ok", " "]}, "models"),
        ({"key_alias": "sk-gw-looks-like-a-key"}, "key_alias"),
        ({"surprise": 1}, "surprise"),
        ({"user_role": "root"}, "user_role"),
    ]:
        with pytest.raises(BadRequest) as info:
            parse_body(KeyCreate, body)
        assert info.value.param == param and info.value.status_code == 400, body
    with pytest.raises(BadRequest):
        parse_body(KeyCreate, ["not", "an", "object"])


def test_key_fields_convert_duration_and_role() -> None:
    fields = parse_body(
        KeyCreate, {"duration": "1h", "user_role": "proxy_admin", "models": ["a"]}
    ).to_fields()
    assert fields["user_role"] == "admin" and fields["models"] == ["a"]
    assert 3500 < (fields["expires_at"] - datetime.now(UTC)).total_seconds() <= 3600
    # an update changes only what was sent; null clears
    assert parse_body(KeyUpdate, {"rpm_limit": None}).to_fields() == {"rpm_limit": None}
    with pytest.raises(BadRequest) as info:
        parse_body(TeamCreate, {"team_id": "bad id!"})
    assert info.value.param == "team_id"


async def test_key_lifecycle(admin: Admin, changes: Changes) -> None:
    await admin.create_team({"team_id": "research", "max_budget": 50.0})
    raw, row = await admin.create_key({"key_alias": "bot", "team_id": "research"})
    assert raw.startswith("sk-gw-") and len(raw) > 40
    assert row["key_hash"] == hash_key(raw) and row["key_prefix"] == raw[:8]
    for ref in ("bot", row["key_hash"], raw):
        assert (await admin.find_key(ref))["key_hash"] == row["key_hash"]
    view = key_view(row)
    assert "secret_hash" not in view and raw not in str(view) and view["token"] == row["key_hash"]

    updated = await admin.update_key("bot", {"rpm_limit": 5, "models": ["demo"]})
    assert updated["rpm_limit"] == 5 and updated["models"] == ["demo"]
    new_raw, rotated = await admin.rotate_key("bot")
    assert rotated["secret_hash"] == hash_key(new_raw) and rotated["key_hash"] == row["key_hash"]
    assert (await admin.set_blocked("bot", True))["blocked"] is True
    deleted = await admin.delete_key("bot")
    assert deleted["deleted_at"] is not None
    with pytest.raises(GatewayError) as info:
        await admin.find_key("bot")
    assert info.value.status_code == 404
    assert changes.count >= 6  # every change invalidated the auth cache


async def test_bad_references_are_clear_errors(admin: Admin) -> None:
    with pytest.raises(BadRequest) as info:
        await admin.create_key({"team_id": "ghost"})
    assert info.value.param == "team_id" and "ghost" in info.value.message
    await admin.create_key({"key_alias": "dup"})
    with pytest.raises(BadRequest) as info:
        await admin.create_key({"key_alias": "dup"})
    assert info.value.param == "key_alias"
    await admin.create_team({"team_id": "t"})
    with pytest.raises(BadRequest) as info:
        await admin.create_team({"team_id": "t"})
    assert info.value.param == "team_id"
    with pytest.raises(GatewayError) as nf:
        await admin.update_team("nope", {"rpm_limit": 1})
    assert nf.value.status_code == 404


async def test_team_ids_are_generated_when_missing(admin: Admin) -> None:
    team = await admin.create_team({"team_alias": "Platform"})
    assert team["team_id"].startswith("team-") and team["team_alias"] == "Platform"


async def test_spend_params(admin: Admin, store: Store) -> None:
    await store.insert_ledger_rows(
        [
            {
                "request_id": "r1",
                "status": "success",
                "team_id": "t",
                "cost": 0.5,
                "created_at": datetime(2025, 1, 2, tzinfo=UTC),
            }
        ]
    )
    report = await admin.spend({"group_by": "team", "start": "2025-01-01", "end": "2025-01-03"})
    assert report["rows"] == [
        {
            "team_id": "t",
            "requests": 1,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost": 0.5,
        }
    ]
    assert report["start"].startswith("2025-01-01T00:00:00")
    for params, param in [
        ({"group_by": "x"}, "group_by"),
        ({"start": "yesterday"}, "start"),
        ({"colour": "red"}, "colour"),
    ]:
        with pytest.raises(BadRequest) as info:
            await admin.spend(params)
        assert info.value.param == param


def test_routes_mount_ahead_of_catch_alls() -> None:
    app = FastAPI()

    @app.api_route("/{anything:path}", methods=["GET", "POST"])
    async def catch_all(anything: str) -> dict[str, Any]:
        return {"caught": anything}

    admin_api.mount(app)
    with TestClient(app) as client:
        r = client.get("/gateway/keys", headers={"Authorization": "Bearer x"})
    # Ours answered in OpenAI error format (503 while no store is open here, else 401 for the
    # bad key), not the catch-all.
    assert r.status_code in (401, 503) and "caught" not in r.text
    assert r.json()["error"]["code"] in ("gateway_starting", "invalid_api_key")
