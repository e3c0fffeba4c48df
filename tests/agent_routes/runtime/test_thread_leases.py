"""Thread claim and turn leases on the SQLite thread store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_routes.runtime.errors import ThreadBusy
from agent_routes.runtime.thread_leases import take_turn
from agent_routes.runtime.threads import Owner, ThreadStore, open_thread_store

ADA, BOB = Owner(key_hash="ada"), Owner(key_hash="bob")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ThreadStore]:
    s = await open_thread_store(str(tmp_path / "threads.db"))
    yield s
    await s.close()


async def test_the_first_claim_owns_the_thread_and_the_second_sees_its_owner(store: ThreadStore) -> None:
    first = await store.claim("t1", "support", ADA, persistent=True)
    second = await store.claim("t1", "support", BOB, persistent=True)
    assert first.key_hash == second.key_hash == "ada"
    assert not second.visible_to(BOB) and second.visible_to(ADA)


async def test_a_losing_claim_does_not_touch_the_thread(store: ThreadStore) -> None:
    rec = await store.claim("t1", "support", ADA, persistent=False)
    await store.claim("t1", "support", BOB, persistent=True)
    assert await store.get("t1") == rec  # neither persistent nor updated_at moved


async def test_reject_refuses_a_second_turn_until_the_first_releases(store: ThreadStore) -> None:
    await store.claim("t1", "support", ADA, persistent=True)
    lease = await take_turn(store.leases, "t1", "run-1", multitask="reject", wait_s=5, ttl_s=30)
    with pytest.raises(ThreadBusy) as info:
        await take_turn(store.leases, "t1", "run-2", multitask="reject", wait_s=5, ttl_s=30)
    assert info.value.status_code == 409 and info.value.code == "thread_busy"
    await lease.release()
    again = await take_turn(store.leases, "t1", "run-2", multitask="reject", wait_s=5, ttl_s=30)
    await again.release()


async def test_an_expired_lease_is_taken_over_and_its_holder_cannot_renew_it(store: ThreadStore) -> None:
    await store.claim("t1", "support", ADA, persistent=True)
    assert await store.leases.acquire("t1", "crashed-run", ttl_s=-1.0)  # already expired
    assert await store.leases.acquire("t1", "run-2", ttl_s=30)
    assert not await store.leases.renew("t1", "crashed-run", ttl_s=30)
    await store.leases.release("t1", "crashed-run")  # not its lease any more: no effect
    assert not await store.leases.acquire("t1", "run-3", ttl_s=30)
