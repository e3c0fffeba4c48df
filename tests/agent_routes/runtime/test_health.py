"""The agents' readiness check: registry resolves, and the thread store is open."""

from __future__ import annotations

from pathlib import Path

from agent_routes.runtime.health import check_agents
from agent_routes.runtime.threads import open_thread_store, set_thread_store


async def test_agents_check_on_the_shipped_config(tmp_path: Path) -> None:
    before = await check_agents()  # no start-up ran in this process: the thread store is closed
    assert not before.ok and "thread store" in (before.error or "")
    store = await open_thread_store(str(tmp_path / "threads.db"))
    set_thread_store(store)
    try:
        after = await check_agents()
        assert after.ok, after.error
    finally:
        set_thread_store(None)
        await store.close()
