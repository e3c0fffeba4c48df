"""Two gateway instances on one Redis and one PostgreSQL, as production runs them.

Shared by the whole package (two starts, not one per module). Unlike the other e2e tests,
cooldowns are on with the shipped settings (the harness turns them off by default) and
the response cache is on: what these tests reproduce depends on both.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.agent_graphs_setup import overrides
from tests.harness.fake_upstream import FakeUpstream
from tests.harness.gateway import GatewayProcess, deep_merge, make_test_config

# Agents whose LLM calls go to the fake upstream (alias gpt-4o-mini), so tests can slow a
# turn down; the shipped `support` (on the offline demo model) stays as it is.
AGENTS: dict[str, dict[str, Any]] = {
    "slow-support": {"graph": "agent_routes.support.build", "model": "gpt-4o-mini", "memory": True},
    "queue-support": {
        "graph": "agent_routes.support.build",
        "model": "gpt-4o-mini",
        "memory": True,
        "multitask": "enqueue",
        "enqueue_timeout_s": 20,
    },
}
LEASE_TTL_S = 4.0

Pair = tuple[GatewayProcess, GatewayProcess]


def reliability_overrides(upstream_url: str) -> dict[str, Any]:
    return deep_merge(
        overrides(upstream_url, AGENTS),
        {
            # The shipped cooldown settings, which the harness switches off for other tests.
            "router_settings": {"disable_cooldowns": False, "cooldown_time": 30},
            "gateway": {
                "routing": {"cache": {"enabled": True}},
                "agents": {"thread_lease_ttl_s": LEASE_TTL_S},
                "governance": {"identity": {"auth_cache_ttl_s": 0.5}},
            },
        },
    )


def start(upstream: FakeUpstream, env: dict[str, str], name: str, base: Path) -> GatewayProcess:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    config = make_test_config(upstream.url, reliability_overrides(upstream.url), workdir / "config.yaml")
    return GatewayProcess(config, workdir / "data", env=env).start(timeout=240)  # a busy machine is slow


@pytest.fixture(scope="package")
def shared_state(redis_server: Any, postgres_server: Any) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_STORE_URL": postgres_server.create_database(f"rel_store_{tag}"),
        "GATEWAY_CHECKPOINT_URL": postgres_server.create_database(f"rel_threads_{tag}"),
    }


@pytest.fixture(scope="package")
def pair(
    fake_upstream: FakeUpstream, shared_state: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("reliability")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # start both at once
        starting = [pool.submit(start, fake_upstream, shared_state, n, base) for n in ("inst-a", "inst-b")]
        concurrent.futures.wait(starting)
    started = [f.result() for f in starting if f.exception() is None]
    try:
        if len(started) < len(starting):
            raise next(e for f in starting if (e := f.exception()) is not None)
        yield started[0], started[1]
    finally:
        for gw in started:
            gw.stop()


def new_key(gw: GatewayProcess, alias: str) -> dict[str, Any]:
    """A virtual key (a tenant of its own): ``{"key": raw, "key_hash": ..., ...}``."""
    with gw.http() as http:
        r = http.post("/gateway/keys", json={"key_alias": f"{alias}-{uuid.uuid4().hex[:8]}"})
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def thread_messages(gw: GatewayProcess, key: str, thread_id: str) -> httpx.Response:
    return httpx.get(
        f"{gw.root_url}/agents/threads/{thread_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
