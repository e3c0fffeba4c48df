"""Readiness checks with real collaborators: a SQLite store, a private redis-server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from custom_hooks.core.services import Services, use_services
from custom_hooks.observability.health import (
    CheckResult,
    check_config,
    ping_redis,
    ping_store,
    readiness,
    readiness_response,
    router,
)
from custom_hooks.store.store import Store
from tests.harness.services import RedisServer


def body(response: object) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[attr-defined]


async def test_store_check(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    try:
        assert (await ping_store(store)).ok
    finally:
        await store.close()


async def test_redis_check_follows_the_server(redis_server: RedisServer) -> None:
    clients: dict[str, Any] = {}  # what the observability step keeps: one client per URL
    assert (await ping_redis(redis_server.url, 1.0, clients)).ok
    redis_server.stop()
    try:
        down = await ping_redis(redis_server.url, 1.0, clients)
        assert not down.ok and "no answer" in (down.error or "")
        assert "@" not in (down.error or "")
    finally:
        redis_server.start()
    for _ in range(20):  # the cached client reconnects on its next command
        if (await ping_redis(redis_server.url, 1.0, clients)).ok:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("redis check did not recover after restart")
    assert list(clients) == [redis_server.url]
    await clients[redis_server.url].aclose()


async def test_a_one_off_redis_ping_closes_its_client(redis_server: RedisServer) -> None:
    assert (await ping_redis(redis_server.url, 1.0)).ok


async def test_readiness_names_what_is_wrong() -> None:
    async def ok() -> CheckResult:
        return CheckResult(True)

    async def broken() -> CheckResult:
        return CheckResult(False, "no answer from redis://127.0.0.1:1/0")

    async def slow() -> CheckResult:
        await asyncio.sleep(5)
        return CheckResult(True)

    async def crashes() -> CheckResult:
        raise RuntimeError("bug")

    results = await readiness(0.2, {"config": ok, "redis": broken, "store": slow, "agents": crashes})
    response = readiness_response(results)
    assert response.status_code == 503
    got = body(response)
    assert got["status"] == "unhealthy"
    checks = got["checks"]
    assert isinstance(checks, dict)
    assert checks["config"] == {"ok": True}
    assert checks["redis"]["error"].startswith("no answer")
    assert "within 0.2s" in checks["store"]["error"]
    assert "RuntimeError" in checks["agents"]["error"]

    healthy = readiness_response(await readiness(0.2, {"config": ok}))
    assert healthy.status_code == 200 and body(healthy)["status"] == "healthy"


async def test_config_check_on_the_shipped_config(shipped_services: Any) -> None:
    assert (await check_config()).ok


async def test_config_check_fails_before_the_root_loaded_the_config() -> None:
    with use_services(Services()):
        result = await check_config()
    assert not result.ok and "config" in (result.error or "")


async def test_readiness_route_before_start_is_a_503_in_openai_format() -> None:
    app = FastAPI()
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    with use_services(Services()):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/gateway/health/ready")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "gateway_starting" and r.json()["error"]["type"] == "api_error"


async def test_liveness_route() -> None:
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/gateway/health/live")
    assert r.status_code == 200 and r.json() == {"status": "alive"}
