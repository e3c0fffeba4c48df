"""Key lifecycle through the admin API of a real gateway, called with the real OpenAI SDK."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest

from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gw(gateway_factory: Any) -> GatewayProcess:
    return gateway_factory(name="keys")


@pytest.fixture(scope="module")
def admin(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with gw.http() as client:
        yield client


@pytest.fixture(scope="module")
def research_key(admin: httpx.Client) -> dict[str, Any]:
    r = admin.post(
        "/gateway/teams", json={"team_id": "research", "models": ["gpt-4o-mini", "demo", "default"]}
    )
    assert r.status_code == 200, r.text
    r = admin.post(
        "/gateway/keys",
        json={
            "key_alias": "research-bot",
            "team_id": "research",
            "user_id": "ann",
            "models": ["gpt-4o*", "demo"],
            "max_budget": 50,
            "budget_duration": "30d",
            "rpm_limit": 1000,
            "metadata": {"app": "crm"},
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _chat(gw: GatewayProcess, key: str, model: str = "gpt-4o-mini") -> Any:
    return gw.client(api_key=key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )


def _create(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    r = admin.post("/gateway/keys", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_created_key_calls_models_in_its_list(gw: GatewayProcess, research_key: dict[str, Any]) -> None:
    raw = research_key["key"]
    assert raw.startswith("sk-gw-") and research_key["key_prefix"] == raw[:8]
    reply = _chat(gw, raw)
    assert reply.choices[0].message.content
    assert _chat(gw, raw, model="demo").choices[0].message.content.startswith("[demo model]")
    # Azure-style clients send the key in an "api-key" header
    r = httpx.post(
        f"{gw.root_url}/v1/chat/completions",
        headers={"api-key": raw},
        json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    listed = {m.id for m in gw.client(api_key=raw).models.list()}
    assert listed == {"gpt-4o-mini", "demo"}  # key list ∩ team list


def test_model_outside_the_list_gets_403(gw: GatewayProcess, research_key: dict[str, Any]) -> None:
    for model in ("gpt-4o", "claude-haiku"):  # gpt-4o: allowed by the key, not by its team
        with pytest.raises(openai.PermissionDeniedError) as info:
            _chat(gw, research_key["key"], model=model)
        assert info.value.status_code == 403
        assert info.value.body["code"] == "model_not_allowed"  # type: ignore[index]
        assert model in info.value.message


def test_non_admin_key_gets_403_on_admin_routes(gw: GatewayProcess, research_key: dict[str, Any]) -> None:
    with gw.http(research_key["key"]) as client:
        for method, path in [
            ("GET", "/gateway/keys"),
            ("POST", "/gateway/keys"),
            ("GET", "/gateway/spend"),
            ("POST", "/gateway/teams"),
            ("POST", "/key/generate"),
        ]:
            r = client.request(method, path, json={})
            assert r.status_code == 403, (path, r.text)
            err = r.json()["error"]
            assert err["code"] == "permission_denied" and err["message"], path
        # LiteLLM's own admin routes are not served at all (default-deny surface).
        r = client.request("GET", "/global/spend/report")
        assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found", r.text


def test_raw_keys_are_never_shown_again_logged_or_stored(
    gw: GatewayProcess, admin: httpx.Client, research_key: dict[str, Any]
) -> None:
    raw = research_key["key"]
    _chat(gw, raw)
    listed = admin.get("/gateway/keys")
    one = admin.get(f"/gateway/keys/{research_key['key_alias']}")
    by_hash = admin.get(f"/gateway/keys/{research_key['key_hash']}")
    for r in (listed, one, by_hash):
        assert r.status_code == 200 and raw not in r.text and raw[8:] not in r.text
    assert one.json()["key_hash"] == research_key["key_hash"] == by_hash.json()["key_hash"]
    assert raw not in gw.log_text()
    for path in gw.data_dir.glob("gateway.db*"):
        assert raw.encode() not in path.read_bytes(), path


def test_blocked_expired_deleted_and_rotated_keys(gw: GatewayProcess, admin: httpx.Client) -> None:
    k = _create(admin, key_alias="temp", models=["demo"])
    assert _chat(gw, k["key"], model="demo")

    assert admin.post("/gateway/keys/temp/block").json()["blocked"] is True
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(gw, k["key"], model="demo")
    assert info.value.body["code"] == "key_blocked" and "blocked" in info.value.message  # type: ignore[index]
    assert admin.post("/gateway/keys/temp/unblock").json()["blocked"] is False
    assert _chat(gw, k["key"], model="demo")

    rotated = admin.post("/gateway/keys/temp/rotate").json()
    assert rotated["key"] != k["key"] and rotated["key_hash"] == k["key_hash"]
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(gw, k["key"], model="demo")
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    assert _chat(gw, rotated["key"], model="demo")

    assert admin.delete("/gateway/keys/temp").json()["deleted"]["deleted_at"]
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(gw, rotated["key"], model="demo")
    assert info.value.body["code"] == "invalid_api_key" and "deleted" in info.value.message  # type: ignore[index]
    assert admin.get("/gateway/keys/temp").status_code == 404

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired = _create(admin, key_alias="old", expires_at=past)
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(gw, expired["key"], model="demo")
    assert info.value.body["code"] == "key_expired" and "expired" in info.value.message  # type: ignore[index]

    with pytest.raises(openai.AuthenticationError) as info:
        _chat(gw, "sk-gw-not-a-real-key", model="demo")
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"  # type: ignore[index]


def test_admin_role_key_may_administer(gw: GatewayProcess, admin: httpx.Client) -> None:
    ops = _create(admin, key_alias="ops", user_role="admin")
    with gw.http(ops["key"]) as client:
        r = client.post(
            "/gateway/teams", json={"team_id": "ops-team", "max_budget": 5, "budget_duration": "1d"}
        )
        assert r.status_code == 200, r.text
        patched = client.patch("/gateway/teams/ops-team", json={"rpm_limit": 7}).json()
        assert patched["rpm_limit"] == 7 and patched["max_budget"] == 5
        assert "ops-team" in {t["team_id"] for t in client.get("/gateway/teams").json()["teams"]}


def test_bad_input_is_400_naming_the_field(admin: httpx.Client) -> None:
    cases = [
        ({"budget_duration": "forever"}, "budget_duration"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"colour": "red"}, "colour"),
        ({"team_id": "no-such-team"}, "team_id"),
        ({"key_alias": "research-bot"}, "key_alias"),  # taken by a live key
    ]
    for body, param in cases:
        r = admin.post("/gateway/keys", json=body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["param"] == param and err["code"] == "invalid_request" and err["message"], body
    r = admin.get("/gateway/spend", params={"group_by": "planet"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "group_by"


def test_litellm_compatible_generate_and_spend_report(gw: GatewayProcess, admin: httpx.Client) -> None:
    r = admin.post("/key/generate", json={"key_alias": "compat", "models": ["demo"], "duration": "1h"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"].startswith("sk-gw-") and body["expires"]
    assert _chat(gw, body["key"], model="demo")
    info = admin.get("/key/info", params={"key": "compat"}).json()
    assert info["info"]["key_alias"] == "compat" and body["key"] not in str(info)
    # The spend ledger writes in batches off the request path: wait for this key's row.
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        rows = admin.get("/gateway/spend", params={"group_by": "key", "key_alias": "compat"}).json()["rows"]
        if rows:
            break
        time.sleep(0.1)
    assert rows and rows[0]["key_hash"] == body["key_hash"] and rows[0]["requests"] >= 1
    for group in ("key", "team", "model", "day", "user"):
        report = admin.get("/gateway/spend", params={"group_by": group})
        assert report.status_code == 200, report.text
        data = report.json()
        assert data["group_by"] == group and {"requests", "cost"} <= set(data["totals"])


def _cli(gw: GatewayProcess, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_URL=gw.root_url, GATEWAY_MASTER_KEY=gw.admin_key, LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = subprocess.run(
        [sys.executable, "-m", "custom_hooks.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_over_the_admin_api(gw: GatewayProcess) -> None:
    _cli(gw, "teams", "create", "cli-team", "--budget", "5", "--duration", "1d", "--models", "demo,default")
    out = _cli(
        gw,
        "keys",
        "create",
        "--alias",
        "cli-bot",
        "--team",
        "cli-team",
        "--budget",
        "1",
        "--duration",
        "30d",
        "--models",
        "demo",
    )
    raw = re.search(r"^key: (sk-gw-\S+)$", out, re.M)
    assert raw is not None, out
    assert _chat(gw, raw.group(1), model="demo")
    listing = _cli(gw, "keys", "list", "--team", "cli-team")
    assert "cli-bot" in listing and raw.group(1) not in listing
    assert "cli-team" in _cli(gw, "teams", "list")
    assert "blocked=True" in _cli(gw, "keys", "block", "cli-bot")
    assert "TOTAL" in _cli(gw, "spend", "--by", "team")


def test_team_rpm_limit_holds_across_its_keys(gw: GatewayProcess, admin: httpx.Client) -> None:
    assert admin.post("/gateway/teams", json={"team_id": "tight", "rpm_limit": 2}).status_code == 200
    a = _create(admin, key_alias="tight-a", team_id="tight", rpm_limit=100)
    b = _create(admin, key_alias="tight-b", team_id="tight")
    assert admin.get("/gateway/keys/tight-a").json()["rpm_limit"] == 100  # stored as asked...
    assert _chat(gw, a["key"], model="demo")
    assert _chat(gw, b["key"], model="demo")
    with pytest.raises(openai.RateLimitError):  # ...but the team's 2 rpm bound both keys together
        _chat(gw, a["key"], model="demo")


@pytest.mark.postgres
def test_two_instances_on_one_postgres_share_keys(gateway_factory: Any, postgres_server: Any) -> None:
    """Both start at once on an empty database (concurrent migrations), then share keys."""
    url = postgres_server.create_database("keys_e2e_shared")
    env = {"GATEWAY_STORE_URL": url}
    one = gateway_factory(name="pg-a", env=env, start=False)
    two = gateway_factory(name="pg-b", env=env, start=False)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda g: g.start(), [one, two]))
    with one.http() as admin_one:
        key = _create(admin_one, key_alias="shared", models=["demo"])
    assert _chat(two, key["key"], model="demo")  # created on one, accepted by the other
    with two.http() as admin_two:
        assert admin_two.get("/gateway/keys/shared").json()["key_hash"] == key["key_hash"]
    assert not (one.data_dir / "gateway.db").exists()
