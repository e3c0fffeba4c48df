"""Run tokens: signed, scoped, short-lived, and dead once the run ends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from custom_hooks.auth.keys import RunInfo
from custom_hooks.auth.run_tokens import (
    TOKEN_PREFIX,
    LocalRunStore,
    RedisRunStore,
    RunTokens,
    SqliteRunStore,
    derive_secret,
)
from custom_hooks.core.errors import ServiceUnavailable
from tests.harness.services import RedisServer


async def _issue(tokens: RunTokens, run_id: str = "run-1", ttl_s: float = 60.0, depth: int = 1) -> str:
    return await tokens.aissue(
        key_hash="hash-abc",
        run_id=run_id,
        parent_request_id="req-1",
        agent="research",
        allowed_models=["default", "demo"],
        depth=depth,
        ttl_s=ttl_s,
    )


async def test_issued_token_verifies_with_its_claims() -> None:
    tokens = RunTokens(derive_secret("sk-master"))
    token = await _issue(tokens)
    assert token.startswith(TOKEN_PREFIX)
    claims = await tokens.averify(token)
    assert claims is not None
    assert claims.key_hash == "hash-abc"
    assert claims.run_id == "run-1"
    assert claims.parent_request_id == "req-1"
    assert claims.agent == "research"
    assert claims.allowed_models == ("default", "demo")
    assert claims.depth == 1
    assert claims.expires_at > time.time()
    assert RunInfo.from_claims(claims).to_dict()["allowed_models"] == ["default", "demo"]


async def test_revoked_run_is_refused() -> None:
    tokens = RunTokens(derive_secret("sk-master"))
    token = await _issue(tokens)
    await tokens.arevoke("run-1")
    assert await tokens.averify(token) is None


async def test_expired_token_is_refused() -> None:
    tokens = RunTokens(derive_secret("sk-master"))
    token = await _issue(tokens, ttl_s=-1)
    assert await tokens.averify(token) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.replace(TOKEN_PREFIX, TOKEN_PREFIX + "x", 1),  # claims
        lambda t: t.split(".")[0],  # no signature
        lambda t: "sk-" + t,  # not a run token
    ],
)
async def test_tampered_token_is_refused(mangle: object) -> None:
    tokens = RunTokens(derive_secret("sk-master"))
    token = await _issue(tokens)
    assert await tokens.averify(mangle(token)) is None  # type: ignore[operator]


async def test_other_secret_cannot_verify() -> None:
    store = LocalRunStore()
    token = await _issue(RunTokens(derive_secret("sk-one"), store))
    assert await RunTokens(derive_secret("sk-two"), store).averify(token) is None


async def test_async_paths_agree() -> None:
    tokens = RunTokens(derive_secret("sk-master"))
    token = await tokens.aissue(
        key_hash="h", run_id="r2", parent_request_id="p", agent="a", allowed_models=["m"], depth=2, ttl_s=30
    )
    claims = await tokens.averify(token)
    assert claims is not None and claims.depth == 2
    await tokens.arevoke("r2")
    assert await tokens.averify(token) is None


@pytest.mark.redis
async def test_redis_store_shared_by_instances(redis_server: RedisServer) -> None:
    secret = derive_secret("sk-master")
    a = RunTokens(secret, RedisRunStore(redis_server.url))
    b = RunTokens(secret, RedisRunStore(redis_server.url))
    token = await _issue(a, run_id="shared-run")
    assert await b.averify(token) is not None
    await b.arevoke("shared-run")
    assert await a.averify(token) is None


@pytest.mark.parametrize(("policy", "accepted"), [("closed", False), ("open", True)])
async def test_unreachable_redis_policy(policy: str, accepted: bool) -> None:
    secret = derive_secret("sk-master")
    # A store pointed at a port nothing listens on behaves like Redis being down.
    dead = RedisRunStore("redis://127.0.0.1:1/0", timeout_s=0.2)
    tokens = RunTokens(secret, dead, on_store_failure=policy)  # type: ignore[arg-type]
    token = await _issue(tokens, run_id="r-down")
    if accepted:
        assert (await tokens.averify(token)) is not None
    else:
        # Closed: the caller's credential is not wrong, the check is unavailable: 503, never 401.
        with pytest.raises(ServiceUnavailable) as exc_info:
            await tokens.averify(token)
        assert exc_info.value.status_code == 503 and exc_info.value.code == "service_unavailable"
    await tokens.arevoke("r-down")  # logs, does not raise


async def test_sqlite_store_shared_by_worker_processes(tmp_path: Path) -> None:
    secret = derive_secret("sk-master")
    path = str(tmp_path / "active_runs.db")
    a, b = RunTokens(secret, SqliteRunStore(path)), RunTokens(secret, SqliteRunStore(path))
    token = await _issue(a, run_id="w-run")
    assert await b.averify(token) is not None
    await b.arevoke("w-run")
    assert await a.averify(token) is None
