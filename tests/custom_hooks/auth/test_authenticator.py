"""Custom auth: keys resolve to identities; bad, blocked, expired, deleted keys are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from litellm.proxy._types import LitellmUserRoles

from custom_hooks.admin.service import Admin
from custom_hooks.auth.authenticator import Authenticator, presented_key
from custom_hooks.auth.keys import hash_key
from custom_hooks.core.errors import GatewayError
from custom_hooks.store.store import Store

MODELS = ["default", "demo", "gpt-4o", "gpt-4o-mini", "claude-haiku", "research"]
MASTER = "sk-admin-test-master"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    yield st
    await st.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: Store, clock: Clock) -> Authenticator:
    return Authenticator(
        store,
        master_key=MASTER,
        model_names=lambda: MODELS,
        cache_ttl_s=5.0,
        user_budget=(20.0, "30d"),
        clock=clock,
    )


@pytest.fixture
def admin(store: Store, auth: Authenticator) -> Admin:
    return Admin(store, on_change=auth.invalidate)


def _request(
    path: str = "/v1/chat/completions", body: dict[str, Any] | None = None, **headers: str
) -> Request:
    body = dict(body or {})
    if path.endswith("/chat/completions") and "model" in body:
        body.setdefault("messages", [{"role": "user", "content": "hi"}])
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")]
        + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


async def _code(coro: Any) -> tuple[int, str, str]:
    with pytest.raises(GatewayError) as info:
        await coro
    return info.value.status_code, info.value.code, info.value.message


async def test_master_key_is_admin(auth: Authenticator) -> None:
    ident = await auth.identify(MASTER)
    assert ident.is_admin
    ua = await auth.authenticate(_request("/key/generate"), MASTER)
    assert ua.user_role == LitellmUserRoles.PROXY_ADMIN
    assert ua.api_key == hash_key(MASTER) and MASTER not in json.dumps(ua.metadata)


async def test_key_resolves_to_identity_within_team_limits(auth: Authenticator, admin: Admin) -> None:
    await admin.create_team(
        {
            "team_id": "research",
            "models": ["gpt-4o*", "research", "demo"],
            "rpm_limit": 10,
            "max_budget": 50.0,
            "budget_duration": "30d",
            "tpm_limit": 1000,
        }
    )
    raw, row = await admin.create_key(
        {
            "key_alias": "bot",
            "user_id": "ann",
            "team_id": "research",
            "models": ["gpt-4o-mini", "research", "claude-haiku"],
            "rpm_limit": 100,
            "tpm_limit": 500,
            "max_parallel_requests": 3,
            "tier": "gold",
            "max_budget": 5.0,
            "budget_duration": "1d",
            "metadata": {"app": "crm"},
        }
    )
    ua = await auth.authenticate(_request(body={"model": "gpt-4o-mini"}), raw)
    assert ua.api_key == row["key_hash"] == hash_key(raw)
    assert (ua.key_alias, ua.user_id, ua.team_id) == ("bot", "ann", "research")
    assert (ua.rpm_limit, ua.tpm_limit, ua.max_parallel_requests) == (10, 500, 3)  # never above the team
    assert (ua.team_rpm_limit, ua.team_tpm_limit) == (10, 1000)
    assert ua.models == ["gpt-4o-mini", "research"]  # claude-haiku is outside the team's list
    gi = ua.metadata["gateway_identity"]
    assert gi["tier"] == "gold" and gi["metadata"] == {"app": "crm"} and gi["run"] is None
    assert gi["budgets"] == [
        {"scope": "key", "id": row["key_hash"], "max_budget": 5.0, "duration": "1d"},
        {"scope": "team", "id": "research", "max_budget": 50.0, "duration": "30d"},
        {"scope": "user", "id": "ann", "max_budget": 20.0, "duration": "30d"},
    ]
    assert raw not in json.dumps(gi)


async def test_api_key_header_and_bearer_are_both_read() -> None:
    assert presented_key(_request(authorization="Bearer sk-gw-abc")) == "sk-gw-abc"
    assert presented_key(_request(api_key="sk-gw-def")) == "sk-gw-def"


async def test_unknown_blocked_expired_deleted_keys_get_401(auth: Authenticator, admin: Admin) -> None:
    assert (await _code(auth.identify("sk-gw-nope")))[:2] == (401, "invalid_api_key")
    assert (await _code(auth.identify("")))[:2] == (401, "invalid_api_key")

    raw, _ = await admin.create_key({"key_alias": "b"})
    await admin.set_blocked("b", True)
    status, code, msg = await _code(auth.identify(raw))
    assert (status, code) == (401, "key_blocked") and "'b' is blocked" in msg
    await admin.set_blocked("b", False)
    assert (await auth.identify(raw)).key_alias == "b"

    raw_e, _ = await admin.create_key(
        {"key_alias": "e", "expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    status, code, msg = await _code(auth.identify(raw_e))
    assert (status, code) == (401, "key_expired") and "expired at" in msg

    raw_d, _ = await admin.create_key({"key_alias": "d"})
    await admin.delete_key("d")
    status, code, msg = await _code(auth.identify(raw_d))
    assert (status, code) == (401, "invalid_api_key") and "deleted" in msg


async def test_cache_is_invalidated_by_local_changes_and_bounded_by_ttl(
    store: Store, auth: Authenticator, admin: Admin, clock: Clock
) -> None:
    raw, row = await admin.create_key({"key_alias": "c"})
    await auth.identify(raw)
    # A change made elsewhere (another instance) is seen once the TTL has passed.
    await store.update_key(row["key_hash"], {"blocked": True})
    assert (await auth.identify(raw)).key_alias == "c"
    clock.now += 5.1
    assert (await _code(auth.identify(raw)))[1] == "key_blocked"


async def test_rotation_replaces_the_secret(auth: Authenticator, admin: Admin) -> None:
    raw, row = await admin.create_key({"key_alias": "r"})
    await auth.identify(raw)
    new_raw, new_row = await admin.rotate_key("r")
    assert new_raw != raw and new_row["key_hash"] == row["key_hash"]
    assert (await _code(auth.identify(raw)))[:2] == (401, "invalid_api_key")
    assert (await auth.identify(new_raw)).key_hash == row["key_hash"]


async def test_model_allow_list_and_admin_routes(auth: Authenticator, admin: Admin) -> None:
    raw, _ = await admin.create_key({"key_alias": "m", "models": ["gpt-4o*", "research"]})
    await auth.authenticate(_request(body={"model": "gpt-4o-mini"}), raw)
    await auth.authenticate(_request(body={"model": "research"}), raw)
    status, code, msg = await _code(auth.authenticate(_request(body={"model": "claude-haiku"}), raw))
    assert (status, code) == (403, "model_not_allowed") and "claude-haiku" in msg
    status, code, _ = await _code(auth.authenticate(_request("/key/generate"), raw))
    assert (status, code) == (403, "permission_denied")

    admin_raw, _ = await admin.create_key({"key_alias": "ops", "user_role": "admin"})
    ua = await auth.authenticate(_request("/key/generate"), admin_raw)
    assert ua.user_role == LitellmUserRoles.PROXY_ADMIN


async def test_key_without_models_may_call_any_model(auth: Authenticator, admin: Admin) -> None:
    raw, _ = await admin.create_key({"key_alias": "any"})
    ua = await auth.authenticate(_request(body={"model": "claude-haiku"}), raw)
    assert ua.models == []


@pytest.fixture
def run_tokens() -> Iterator[Any]:
    from custom_hooks.auth import run_tokens as rt
    from custom_hooks.core.services import Services, use_services

    tokens = rt.RunTokens(rt.derive_secret(MASTER))
    svc = Services()
    svc.provide(rt.RUN_TOKENS, tokens)
    with use_services(svc):
        yield tokens


async def test_run_token_is_the_caller_narrowed_to_the_agents_models(
    auth: Authenticator, admin: Admin, run_tokens: Any
) -> None:
    _, row = await admin.create_key({"key_alias": "caller", "team_id": None, "user_role": "admin"})
    token = await run_tokens.aissue(
        key_hash=row["key_hash"],
        run_id="run-1",
        parent_request_id="req-1",
        agent="research",
        allowed_models=["demo"],
        depth=1,
        ttl_s=60,
    )
    ua = await auth.authenticate(_request(body={"model": "demo"}), token)
    gi = ua.metadata["gateway_identity"]
    assert ua.api_key == row["key_hash"] and gi["key_alias"] == "caller"
    assert gi["run"] == {
        "run_id": "run-1",
        "parent_request_id": "req-1",
        "agent": "research",
        "depth": 1,
        "allowed_models": ["demo"],
    }
    assert ua.user_role != LitellmUserRoles.PROXY_ADMIN and ua.models == ["demo"]
    assert (await _code(auth.authenticate(_request(body={"model": "gpt-4o"}), token)))[
        1
    ] == "model_not_allowed"
    assert (await _code(auth.authenticate(_request("/key/generate"), token)))[1] == "permission_denied"

    await admin.set_blocked("caller", True)  # the parent key's state still applies
    assert (await _code(auth.identify(token)))[1] == "key_blocked"
    await run_tokens.arevoke("run-1")
    assert (await _code(auth.identify(token)))[:2] == (401, "invalid_api_key")


async def test_run_token_dies_when_its_key_is_rotated(
    auth: Authenticator, admin: Admin, run_tokens: Any
) -> None:
    _, row = await admin.create_key({"key_alias": "rotating", "models": ["demo"]})
    token = await run_tokens.aissue(
        key_hash=row["key_hash"],
        run_id="run-rot",
        parent_request_id="req-1",
        agent="research",
        allowed_models=["demo"],
        depth=1,
        ttl_s=60,
    )
    assert (await auth.identify(token)).key_alias == "rotating"
    await admin.rotate_key("rotating")
    status, code = (await _code(auth.identify(token)))[:2]
    assert (status, code) == (401, "invalid_api_key")


async def test_all_proxy_models_key_may_call_every_model(auth: Authenticator, admin: Admin) -> None:
    raw, _ = await admin.create_key({"key_alias": "litellm-style", "models": ["all-proxy-models"]})
    ua = await auth.authenticate(_request(body={"model": "default"}), raw)
    assert ua.models == []
    ua = await auth.authenticate(_request(body={"model": "gpt-4o"}), raw)
    assert ua.models == []


class CountingStore:
    """The real store, counting (and slowing) key lookups: a stampede would show as many calls."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls = 0

    async def get_key_by_secret_hash(self, secret_hash: str) -> Any:
        import asyncio

        self.calls += 1
        row = await self.inner.get_key_by_secret_hash(secret_hash)
        await asyncio.sleep(0.05)  # a slow store: the row is already read, the caller waits
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_expired_entry_is_fetched_once_by_concurrent_requests(store: Store, clock: Clock) -> None:
    import asyncio

    admin = Admin(store)
    raw, _ = await admin.create_key({"key_alias": "busy"})
    counting = CountingStore(store)
    auth = Authenticator(
        counting, master_key=MASTER, model_names=lambda: MODELS, cache_ttl_s=5.0, clock=clock
    )  # type: ignore[arg-type]
    idents = await asyncio.gather(*(auth.identify(raw) for _ in range(50)))
    assert {i.key_alias for i in idents} == {"busy"} and counting.calls == 1
    clock.now += 10  # expired
    await asyncio.gather(*(auth.identify(raw) for _ in range(50)))
    assert counting.calls == 2


async def test_invalidate_during_a_fetch_does_not_cache_the_old_row(store: Store, clock: Clock) -> None:
    import asyncio

    admin = Admin(store)
    raw, _ = await admin.create_key({"key_alias": "flip"})
    counting = CountingStore(store)
    auth = Authenticator(
        counting, master_key=MASTER, model_names=lambda: MODELS, cache_ttl_s=5.0, clock=clock
    )  # type: ignore[arg-type]
    first = asyncio.ensure_future(auth.identify(raw))
    await asyncio.sleep(0.01)
    await admin.set_blocked("flip", True)
    auth.invalidate()
    await first  # read before the block: allowed once
    assert (await _code(auth.identify(raw)))[1] == "key_blocked"
