"""Thread store: owners, visibility, deletion, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_routes.runtime.threads import Owner, ThreadStore, open_thread_store
from tests.harness.services import PostgresServer

ALICE = Owner(key_hash="alice", team_id="red")
ALICE_TEAMMATE = Owner(key_hash="carol", team_id="red")
BOB = Owner(key_hash="bob", team_id="blue")
ADMIN = Owner(key_hash="admin", is_admin=True)


async def _exercise(store: ThreadStore) -> None:
    rec = await store.claim("t1", "support", ALICE, persistent=True)
    assert (rec.key_hash, rec.team_id, rec.agent) == ("alice", "red", "support")
    assert await store.lookup("t1", ALICE) is not None
    assert await store.lookup("t1", ADMIN) is not None
    assert await store.lookup("t1", BOB) is None
    assert await store.lookup("t1", ALICE_TEAMMATE) is None  # scope "key" by default
    assert await store.exists("t1")
    # a later claim by someone else never changes the owner
    again = await store.claim("t1", "research", BOB, persistent=False)
    assert (again.key_hash, again.agent, again.persistent) == ("alice", "support", True)
    await store.claim("t2", "support", BOB, persistent=True)
    assert [r.thread_id for r in await store.list(ALICE)] == ["t1"]
    assert {r.thread_id for r in await store.list(ADMIN)} == {"t1", "t2"}
    # pending approvals: an indexed count on the owner table
    assert await store.pending_counts() == {}
    await store.set_pending("t1", "int-1")
    await store.set_pending("t2", "int-2")
    await store.claim("t3", "approvals", BOB, persistent=True)
    await store.set_pending("t3", "int-3")
    assert await store.pending_counts() == {"support": 2, "approvals": 1}
    await store.claim("t2", "support", BOB, persistent=True)  # touching a thread keeps its approval
    await store.set_pending("t3", None)
    assert await store.pending_counts() == {"support": 2}
    await store.delete("t3")
    await store.delete("t1")
    assert not await store.exists("t1")
    assert await store.lookup("t1", ALICE) is None
    assert await store.pending_counts() == {"support": 1}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[ThreadStore]:
    store = await open_thread_store(str(tmp_path / "threads.db"))
    yield store
    await store.close()


async def test_sqlite_owners(sqlite_store: ThreadStore) -> None:
    await _exercise(sqlite_store)


async def test_team_scope_shares_with_the_team(tmp_path: Path) -> None:
    store = await open_thread_store(str(tmp_path / "t.db"), scope="team")
    try:
        await store.claim("t1", "support", ALICE, persistent=True)
        assert await store.lookup("t1", ALICE_TEAMMATE) is not None
        assert await store.lookup("t1", BOB) is None
        assert [r.thread_id for r in await store.list(ALICE_TEAMMATE)] == ["t1"]
    finally:
        await store.close()


async def test_sqlite_checkpoints_survive_reopen(tmp_path: Path) -> None:
    from langgraph.graph import START, MessagesState, StateGraph

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [("ai", f"seen {len(state['messages'])}")]}

    path = str(tmp_path / "threads.db")
    cfg: Any = {"configurable": {"thread_id": "t"}}
    for expected in ("seen 1", "seen 3"):
        store = await open_thread_store(path)
        g = StateGraph(MessagesState)
        g.add_node("n", node)
        g.add_edge(START, "n")
        graph = g.compile(checkpointer=store.checkpointer)
        out = await graph.ainvoke({"messages": [("user", "hi")]}, cfg)
        assert out["messages"][-1].content == expected
        await store.close()


@pytest.mark.postgres
async def test_postgres_owners_and_checkpointer(postgres_server: PostgresServer) -> None:
    store = await open_thread_store(postgres_server.url)
    try:
        for t in ("t1", "t2", "t3"):
            await store.delete(t)
        await _exercise(store)
        await store.delete("t2")
    finally:
        await store.close()


async def test_sqlite_owner_table_from_before_pending_gets_the_column(tmp_path: Path) -> None:
    import aiosqlite

    path = str(tmp_path / "old.db")
    async with aiosqlite.connect(path) as conn:  # the table as earlier versions created it
        await conn.execute(
            "CREATE TABLE gateway_agent_threads (thread_id TEXT PRIMARY KEY, agent TEXT NOT NULL, "
            "key_hash TEXT NOT NULL, team_id TEXT, persistent INTEGER NOT NULL DEFAULT 1, "
            "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)"
        )
        await conn.execute(
            "INSERT INTO gateway_agent_threads VALUES ('old', 'support', 'alice', NULL, 1, 1, 1)"
        )
        await conn.commit()
    store = await open_thread_store(path)
    try:
        assert await store.lookup("old", ALICE) is not None
        await store.set_pending("old", "int-9")
        assert await store.pending_counts() == {"support": 1}
    finally:
        await store.close()


async def _adopt_and_resume(store: ThreadStore, thread_id: str) -> None:
    """A run paused on a per-run saver is copied to the store and resumes from there."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from agent_routes.runtime.context import AgentContext
    from custom_hooks.core.sections.agents import AgentSpec
    from tests.agent_routes.graph_fakes import Factory, call
    from tests.agent_routes.tiny_graphs import tooly

    spec = AgentSpec.model_validate({"graph": "x.y", "model": "m", "approval_required": ["send_email"]})
    factory = Factory()
    factory.script.steps += [call("send_email", to="a@b.c", body="hi"), "Sent."]
    scratch = InMemorySaver()
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
    first = tooly(AgentContext(name="tooly", spec=spec, checkpointer=scratch, model_factory=factory))
    await first.ainvoke({"messages": [("user", "email a@b.c")]}, config)
    paused = await first.aget_state(config)
    assert paused.interrupts
    await store.adopt(thread_id, "tooly", ALICE, scratch)
    assert (await store.lookup(thread_id, ALICE)) is not None
    kept = tooly(
        AgentContext(name="tooly", spec=spec, checkpointer=store.checkpointer, model_factory=factory)
    )
    state = await kept.aget_state(config)
    assert [i.id for i in state.interrupts] == [i.id for i in paused.interrupts]
    assert state.values["messages"] == paused.values["messages"]
    out = await kept.ainvoke(Command(resume={paused.interrupts[0].id: {"decision": "approve"}}), config)
    assert out["messages"][-1].content == "Sent."
    assert [m.content for m in out["messages"] if m.type == "tool"] == ["Email sent to a@b.c."]
    await store.delete(thread_id)


async def test_adopt_copies_a_paused_thread_into_sqlite(sqlite_store: ThreadStore) -> None:
    await _adopt_and_resume(sqlite_store, "t-adopt")


@pytest.mark.postgres
async def test_adopt_copies_a_paused_thread_into_postgres(postgres_server: PostgresServer) -> None:
    store = await open_thread_store(postgres_server.url)
    try:
        await store.delete("t-adopt-pg")
        await _adopt_and_resume(store, "t-adopt-pg")
    finally:
        await store.close()
