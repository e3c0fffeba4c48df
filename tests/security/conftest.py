"""Shared fixtures for the security suite: one gateway, a key limited to the demo model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.gateway import GatewayProcess

SECURITY_OVERRIDES: dict[str, Any] = {
    "gateway": {
        "security": {
            "routes": {"enable": [{"path": "/v1/files*", "methods": ["GET", "POST"], "teams": ["data"]}]},
            "limits": {
                "max_body_bytes": 1_048_576,
                "body_timeout_s": 1.5,
                "header_timeout_s": 1.5,
                "max_concurrent_streams_per_key": 1,
            },
        }
    }
}


@pytest.fixture(scope="package")
def secure_gw(fake_upstream: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    from tests.conftest import _factory

    make, started = _factory(fake_upstream, tmp_path_factory.mktemp("security"))
    yield make(config_overrides=SECURITY_OVERRIDES, name="security")
    for proc in started:
        proc.stop()


def _key(gw: GatewayProcess, **fields: Any) -> str:
    with gw.http() as admin:
        r = admin.post("/gateway/keys", json=fields)
        assert r.status_code == 200, r.text
        return str(r.json()["key"])


@pytest.fixture(scope="package")
def demo_key(secure_gw: GatewayProcess) -> str:
    """A virtual key that may call the demo model only."""
    return _key(secure_gw, key_alias="demo-only", models=["demo"])


@pytest.fixture(scope="package")
def data_key(secure_gw: GatewayProcess) -> str:
    """A key of the team granted /v1/files*."""
    with secure_gw.http() as admin:
        r = admin.post("/gateway/teams", json={"team_id": "data", "models": ["demo"]})
        assert r.status_code == 200, r.text
    return _key(secure_gw, key_alias="data-bot", team_id="data", models=["demo"])


@pytest.fixture()
def raw(secure_gw: GatewayProcess, demo_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=secure_gw.root_url, headers={"Authorization": f"Bearer {demo_key}"}, timeout=30
    ) as client:
        yield client


def assert_openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert "Traceback" not in err["message"] and "Exception" not in err["message"], err
    if code is not None:
        assert err["code"] == code, err
    return dict(err)
