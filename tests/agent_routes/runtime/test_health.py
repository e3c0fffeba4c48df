"""The agents' readiness check: registry resolves, and the thread store is open."""

from __future__ import annotations

from pathlib import Path

from agent_routes.runtime.health import check_agents
from agent_routes.runtime.threads import THREAD_STORE, open_thread_store
from custom_hooks.core.services import Services


async def test_agents_check_on_the_shipped_config(tmp_path: Path, shipped_services: Services) -> None:
    before = await check_agents()  # the agents step has not run: the thread store is closed
    assert not before.ok and "thread store" in (before.error or "")
    store = await open_thread_store(str(tmp_path / "threads.db"))
    shipped_services.provide(THREAD_STORE, store)
    try:
        after = await check_agents()
        assert after.ok, after.error
    finally:
        shipped_services.take(THREAD_STORE)
        await store.close()
