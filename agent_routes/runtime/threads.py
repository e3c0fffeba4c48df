"""Where agent threads live: the LangGraph checkpointer and the thread-owner table.

Default: SQLite at ``GatewaySettings.resolved_checkpoint_url()`` (``<data_dir>/threads.db``,
``AsyncSqliteSaver``). When ``GATEWAY_CHECKPOINT_URL`` is a ``postgresql://`` URL:
``AsyncPostgresSaver`` over a psycopg pool, so every instance sees every thread.

Beside LangGraph's own tables, ``gateway_agent_threads`` records who owns each thread
(key hash, team) and which agent it belongs to. A thread is visible to its owner only
(``gateway.agents.thread_scope: key``; ``team`` shares it with the owner's team) and to
the admin; anyone else gets 404, so thread ids don't leak. Its ``pending_interrupt_id``
column holds the approval a thread waits on (set by the runtime when a run pauses, cleared
when a run on the thread completes), so counting pending approvals is one indexed query,
not a read of every thread's graph state.

A thread is claimed atomically: the first run inserts the owner row if absent and then
reads back who owns it, so of two tenants racing for a new thread id exactly one owns it and
the other gets 404 before anything of its run touches the thread. ``lease_holder`` /
``lease_until`` hold the thread's turn lease when Redis is not configured (see
:mod:`agent_routes.runtime.thread_leases`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver

from agent_routes.runtime.thread_leases import LeaseBackend, RedisLeases
from custom_hooks.core.services import Slot, services
from custom_hooks.store.sqlite_wal import use_wal_async

__all__ = [
    "THREAD_STORE",
    "Owner",
    "ThreadRecord",
    "ThreadStore",
    "copy_thread",
    "get_thread_store",
    "open_thread_store",
]

log = logging.getLogger("gateway.agents.threads")

_TABLE = "gateway_agent_threads"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    thread_id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    team_id TEXT,
    persistent INTEGER NOT NULL DEFAULT 1,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    pending_interrupt_id TEXT,
    lease_holder TEXT,
    lease_until DOUBLE PRECISION
)"""
# Columns added after the table first shipped: (name, type), added to an older table at setup.
_LATER_COLUMNS = (
    ("pending_interrupt_id", "TEXT"),
    ("lease_holder", "TEXT"),
    ("lease_until", "DOUBLE PRECISION"),
)
_PENDING_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_pending ON {_TABLE} (agent) WHERE pending_interrupt_id IS NOT NULL"
)
_SET_PENDING = f"UPDATE {_TABLE} SET pending_interrupt_id = {{p}} WHERE thread_id = {{p}}"
_COUNT_PENDING = f"SELECT agent, COUNT(*) FROM {_TABLE} WHERE pending_interrupt_id IS NOT NULL GROUP BY agent"


@dataclass(frozen=True)
class Owner:
    """Who asks: the caller's key hash and team; admins see every thread."""

    key_hash: str
    team_id: str | None = None
    is_admin: bool = False


@dataclass(frozen=True)
class ThreadRecord:
    thread_id: str
    agent: str
    key_hash: str
    team_id: str | None
    persistent: bool
    created_at: float
    updated_at: float

    def visible_to(self, who: Owner, scope: Literal["key", "team"] = "key") -> bool:
        if who.is_admin or who.key_hash == self.key_hash:
            return True
        return scope == "team" and self.team_id is not None and who.team_id == self.team_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "agent": self.agent,
            "team_id": self.team_id,
            "persistent": self.persistent,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class _Owners(Protocol):
    async def get(self, thread_id: str) -> ThreadRecord | None: ...
    async def insert_if_absent(self, rec: ThreadRecord) -> ThreadRecord: ...
    async def touch(self, rec: ThreadRecord) -> None: ...
    async def lease(self, thread_id: str, holder: str, until: float, now: float) -> bool: ...
    async def renew(self, thread_id: str, holder: str, until: float) -> bool: ...
    async def unlease(self, thread_id: str, holder: str) -> None: ...
    async def delete(self, thread_id: str) -> None: ...
    async def list(self, key_hash: str | None) -> list[ThreadRecord]: ...
    async def set_pending(self, thread_id: str, interrupt_id: str | None) -> None: ...
    async def pending_counts(self) -> dict[str, int]: ...


def _row(r: Any) -> ThreadRecord:
    return ThreadRecord(
        thread_id=r[0],
        agent=r[1],
        key_hash=r[2],
        team_id=r[3],
        persistent=bool(r[4]),
        created_at=float(r[5]),
        updated_at=float(r[6]),
    )


_COLS = "thread_id, agent, key_hash, team_id, persistent, created_at, updated_at"
# The claim's atomic step: the first writer's row wins; everyone reads back the owner.
_INSERT = f"INSERT INTO {_TABLE} ({_COLS}) VALUES ({{ps}}) ON CONFLICT (thread_id) DO NOTHING"
# The owner's later runs: ``persistent`` only goes up, ``updated_at`` moves. ``{greatest}``:
# MAX on SQLite, GREATEST on PostgreSQL.
_TOUCH = (
    f"UPDATE {_TABLE} SET persistent = {{greatest}}(persistent, {{p}}), updated_at = {{p}} "
    "WHERE thread_id = {p}"
)
# Turn leases (no Redis): free, expired, or already ours.
_LEASE = (
    f"UPDATE {_TABLE} SET lease_holder = {{p}}, lease_until = {{p}} WHERE thread_id = {{p}} "
    "AND (lease_holder IS NULL OR lease_until < {p} OR lease_holder = {p})"
)
_RENEW = f"UPDATE {_TABLE} SET lease_until = {{p}} WHERE thread_id = {{p}} AND lease_holder = {{p}}"
_UNLEASE = (
    f"UPDATE {_TABLE} SET lease_holder = NULL, lease_until = NULL "
    "WHERE thread_id = {p} AND lease_holder = {p}"
)


def _params(rec: ThreadRecord) -> tuple[Any, ...]:
    return (
        rec.thread_id,
        rec.agent,
        rec.key_hash,
        rec.team_id,
        int(rec.persistent),
        rec.created_at,
        rec.updated_at,
    )


class _SqliteOwners:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def setup(self) -> None:
        await self._conn.execute(_DDL)
        async with self._conn.execute(f"PRAGMA table_info({_TABLE})") as cur:
            columns = {r[1] for r in await cur.fetchall()}
        for name, kind in _LATER_COLUMNS:
            if name not in columns:  # a table from before the column existed
                await self._conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {name} {kind}")
        await self._conn.execute(_PENDING_INDEX)
        await self._conn.commit()

    async def set_pending(self, thread_id: str, interrupt_id: str | None) -> None:
        await self._conn.execute(_SET_PENDING.format(p="?"), (interrupt_id, thread_id))
        await self._conn.commit()

    async def pending_counts(self) -> dict[str, int]:
        async with self._conn.execute(_COUNT_PENDING) as cur:
            return {str(r[0]): int(r[1]) for r in await cur.fetchall()}

    async def get(self, thread_id: str) -> ThreadRecord | None:
        async with self._conn.execute(
            f"SELECT {_COLS} FROM {_TABLE} WHERE thread_id = ?", (thread_id,)
        ) as cur:
            r = await cur.fetchone()
        return _row(r) if r else None

    async def insert_if_absent(self, rec: ThreadRecord) -> ThreadRecord:
        await self._conn.execute(_INSERT.format(ps=", ".join("?" * 7)), _params(rec))
        await self._conn.commit()
        stored = await self.get(rec.thread_id)
        assert stored is not None  # just inserted, or another run's row
        return stored

    async def touch(self, rec: ThreadRecord) -> None:
        sql = _TOUCH.format(p="?", greatest="MAX")
        await self._conn.execute(sql, (int(rec.persistent), rec.updated_at, rec.thread_id))
        await self._conn.commit()

    async def _update(self, sql: str, args: tuple[Any, ...]) -> int:
        async with self._conn.execute(sql.replace("{p}", "?"), args) as cur:
            n = cur.rowcount
        await self._conn.commit()
        return int(n)

    async def lease(self, thread_id: str, holder: str, until: float, now: float) -> bool:
        return await self._update(_LEASE, (holder, until, thread_id, now, holder)) == 1

    async def renew(self, thread_id: str, holder: str, until: float) -> bool:
        return await self._update(_RENEW, (until, thread_id, holder)) == 1

    async def unlease(self, thread_id: str, holder: str) -> None:
        await self._update(_UNLEASE, (thread_id, holder))

    async def delete(self, thread_id: str) -> None:
        await self._conn.execute(f"DELETE FROM {_TABLE} WHERE thread_id = ?", (thread_id,))
        await self._conn.commit()

    async def list(self, key_hash: str | None) -> list[ThreadRecord]:
        sql = f"SELECT {_COLS} FROM {_TABLE}"
        args: tuple[Any, ...] = ()
        if key_hash is not None:
            sql += " WHERE key_hash = ?"
            args = (key_hash,)
        async with self._conn.execute(sql + " ORDER BY updated_at DESC LIMIT 1000", args) as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def close(self) -> None:
        await self._conn.close()


class _PostgresOwners:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def setup(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_DDL)
            for name, kind in _LATER_COLUMNS:
                await conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
            await conn.execute(_PENDING_INDEX)

    async def set_pending(self, thread_id: str, interrupt_id: str | None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_SET_PENDING.format(p="%s"), (interrupt_id, thread_id))

    async def pending_counts(self) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_COUNT_PENDING)
            rows = await cur.fetchall()
        out: dict[str, int] = {}
        for r in rows:
            agent, n = list(r.values()) if isinstance(r, dict) else r
            out[str(agent)] = int(n)
        return out

    async def get(self, thread_id: str) -> ThreadRecord | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLS} FROM {_TABLE} WHERE thread_id = %s", (thread_id,))
            r = await cur.fetchone()
        return _row(list(r.values()) if isinstance(r, dict) else r) if r else None

    async def insert_if_absent(self, rec: ThreadRecord) -> ThreadRecord:
        async with self._pool.connection() as conn:
            await conn.execute(_INSERT.format(ps=", ".join(["%s"] * 7)), _params(rec))
        stored = await self.get(rec.thread_id)
        assert stored is not None  # just inserted, or another run's row
        return stored

    async def touch(self, rec: ThreadRecord) -> None:
        sql = _TOUCH.format(p="%s", greatest="GREATEST")
        async with self._pool.connection() as conn:
            await conn.execute(sql, (int(rec.persistent), rec.updated_at, rec.thread_id))

    async def _update(self, sql: str, args: tuple[Any, ...]) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.replace("{p}", "%s"), args)
            return int(cur.rowcount)

    async def lease(self, thread_id: str, holder: str, until: float, now: float) -> bool:
        return await self._update(_LEASE, (holder, until, thread_id, now, holder)) == 1

    async def renew(self, thread_id: str, holder: str, until: float) -> bool:
        return await self._update(_RENEW, (until, thread_id, holder)) == 1

    async def unlease(self, thread_id: str, holder: str) -> None:
        await self._update(_UNLEASE, (thread_id, holder))

    async def delete(self, thread_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(f"DELETE FROM {_TABLE} WHERE thread_id = %s", (thread_id,))

    async def list(self, key_hash: str | None) -> list[ThreadRecord]:
        sql = f"SELECT {_COLS} FROM {_TABLE}"
        args: tuple[Any, ...] = ()
        if key_hash is not None:
            sql += " WHERE key_hash = %s"
            args = (key_hash,)
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql + " ORDER BY updated_at DESC LIMIT 1000", args)
            rows = await cur.fetchall()
        return [_row(list(r.values()) if isinstance(r, dict) else r) for r in rows]

    async def close(self) -> None:
        return None


class _TableLeases:
    """Turn leases in the owner table (:class:`~agent_routes.runtime.thread_leases.LeaseBackend`)."""

    def __init__(self, owners: _Owners) -> None:
        self._owners = owners

    async def acquire(self, thread_id: str, holder: str, ttl_s: float) -> bool:
        now = time.time()
        return await self._owners.lease(thread_id, holder, now + ttl_s, now)

    async def renew(self, thread_id: str, holder: str, ttl_s: float) -> bool:
        return await self._owners.renew(thread_id, holder, time.time() + ttl_s)

    async def release(self, thread_id: str, holder: str) -> None:
        await self._owners.unlease(thread_id, holder)


class ThreadStore:
    """The checkpointer plus the owner table, opened once per process.

    ``leases``: where runs take a thread's turn lease (Redis when given, else the owner table).
    """

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver[Any],
        owners: Any,
        *,
        scope: Literal["key", "team"] = "key",
        closers: list[Any] | None = None,
        leases: LeaseBackend | None = None,
    ) -> None:
        self.checkpointer = checkpointer
        self._owners = owners
        self.scope = scope
        self._closers = closers or []
        self.leases: LeaseBackend = leases or _TableLeases(owners)

    async def lookup(self, thread_id: str, who: Owner) -> ThreadRecord | None:
        """The thread if it exists and ``who`` may see it, else None (treat as 404)."""
        rec = await self._owners.get(thread_id)
        if rec is None or not rec.visible_to(who, self.scope):
            return None
        return rec

    async def get(self, thread_id: str) -> ThreadRecord | None:
        """The thread's owner record whoever asks (check :meth:`ThreadRecord.visible_to` with
        :attr:`scope` before showing it: one read serves both "exists?" and "visible?")."""
        return await self._owners.get(thread_id)

    async def exists(self, thread_id: str) -> bool:
        return await self._owners.get(thread_id) is not None

    async def claim(self, thread_id: str, agent: str, who: Owner, *, persistent: bool) -> ThreadRecord:
        """Make ``who`` the owner of ``thread_id`` if nobody is; return the thread's record.

        Atomic: insert-if-absent, then read back the owner, so of two callers racing for a
        new id exactly one owns it. The record returned may be someone else's: the caller
        checks :meth:`ThreadRecord.visible_to` (and the agent) before using the thread. Only
        a visible thread of the same agent is touched (``updated_at``; ``persistent`` only
        goes up: a private run never un-keeps a kept thread).
        """
        now = time.time()
        rec = ThreadRecord(
            thread_id=thread_id,
            agent=agent,
            key_hash=who.key_hash,
            team_id=who.team_id,
            persistent=persistent,
            created_at=now,
            updated_at=now,
        )
        stored = await self._owners.insert_if_absent(rec)
        if stored == rec:
            return stored
        if stored.visible_to(who, self.scope) and stored.agent == agent:
            await self._owners.touch(rec)
        return stored

    async def adopt(self, thread_id: str, agent: str, who: Owner, source: BaseCheckpointSaver[Any]) -> None:
        """Keep a private thread that ran on ``source`` (a per-run saver): copy it here, claim it.

        On failure whatever was copied is removed again before the error propagates.
        """
        try:
            await copy_thread(source, self.checkpointer, thread_id)
            await self.claim(thread_id, agent, who, persistent=False)
        except BaseException:
            try:
                await self.delete(thread_id)
            except Exception:  # the copy's own error is the one to report
                log.exception("removing half-copied thread %s failed", thread_id)
            raise

    async def delete(self, thread_id: str) -> None:
        """Forget the thread: its checkpoints and its owner record."""
        await self.checkpointer.adelete_thread(thread_id)
        await self._owners.delete(thread_id)

    async def set_pending(self, thread_id: str, interrupt_id: str | None) -> None:
        """Record the approval ``thread_id`` waits on (None: it waits on nothing)."""
        await self._owners.set_pending(thread_id, interrupt_id)

    async def pending_counts(self) -> dict[str, int]:
        """Threads waiting on an approval, by agent (agents with none are absent)."""
        return await self._owners.pending_counts()

    async def list(self, who: Owner) -> list[ThreadRecord]:
        if who.is_admin:
            return await self._owners.list(None)
        if self.scope == "team" and who.team_id is not None:
            return [r for r in await self._owners.list(None) if r.visible_to(who, self.scope)]
        return await self._owners.list(who.key_hash)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # closing one must not stop the rest
                log.exception("closing thread store failed")


async def copy_thread(src: BaseCheckpointSaver[Any], dst: BaseCheckpointSaver[Any], thread_id: str) -> None:
    """Copy every checkpoint (all namespaces, oldest first) and pending write of a thread."""
    tuples = [t async for t in src.alist({"configurable": {"thread_id": thread_id}})]
    raw_writes: dict[Any, dict[Any, Any]] = getattr(src, "writes", {})  # InMemorySaver: task paths
    tuples.sort(key=lambda t: (t.config["configurable"].get("checkpoint_ns", ""), t.checkpoint["id"]))
    for t in tuples:
        ns = t.config["configurable"].get("checkpoint_ns", "")
        parent = t.parent_config or {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
        saved = await dst.aput(parent, t.checkpoint, t.metadata, dict(t.checkpoint["channel_versions"]))
        paths = {w[0]: w[3] for w in raw_writes.get((thread_id, ns, t.checkpoint["id"]), {}).values()}
        by_task: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in t.pending_writes or []:
            by_task.setdefault(task_id, []).append((channel, value))
        for task_id, writes in by_task.items():
            await dst.aput_writes(saved, writes, task_id, paths.get(task_id, ""))


_SETUP_LOCK = 0x6761_7468  # pg_advisory_lock key held while the thread tables are set up


async def _try_lock(conn: Any) -> bool:
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK,))
    row = await cur.fetchone()
    return bool(row["ok"] if isinstance(row, dict) else row[0])


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+"))


def _psycopg_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if "+" in scheme or scheme == "postgres" else url


async def open_thread_store(
    url: str, *, scope: Literal["key", "team"] = "key", redis_url: str | None = None
) -> ThreadStore:
    """Open the checkpointer and owner table at ``url`` (a SQLite path or a PostgreSQL URL);
    thread leases go to Redis at ``redis_url`` when given."""
    leases = RedisLeases(redis_url) if redis_url else None
    closers: list[Any] = [leases.aclose] if leases is not None else []
    if _is_postgres(url):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            _psycopg_url(url),
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        await pool.open(wait=True, timeout=15)
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        owners_pg = _PostgresOwners(pool)
        # Instances starting together on a fresh database would race the migrations
        # (duplicate key in checkpoint_migrations): one sets up at a time. The others poll
        # with pg_try_advisory_lock, idle in between: a session blocked in pg_advisory_lock
        # would stall the holder's CREATE INDEX CONCURRENTLY forever.
        async with pool.connection() as lock_conn:
            while not await _try_lock(lock_conn):
                await asyncio.sleep(0.2)
            try:
                await saver.setup()
                await owners_pg.setup()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        return ThreadStore(saver, owners_pg, scope=scope, closers=[*closers, pool.close], leases=leases)

    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = url.removeprefix("sqlite:///").removeprefix("sqlite+aiosqlite:///")
    conn = await aiosqlite.connect(path)
    await use_wal_async(conn)  # once per file, safe when several workers start together
    saver_sq = AsyncSqliteSaver(conn)
    await saver_sq.setup()
    owners_conn = await aiosqlite.connect(path)
    await owners_conn.execute("PRAGMA busy_timeout=5000")
    owners_sq = _SqliteOwners(owners_conn)
    await owners_sq.setup()
    return ThreadStore(
        saver_sq, owners_sq, scope=scope, closers=[*closers, conn.close, owners_conn.close], leases=leases
    )


THREAD_STORE: Slot[ThreadStore] = Slot("agent-threads", "the agents' thread store")


def get_thread_store() -> ThreadStore:
    """The process's thread store (opened by the agents step, :mod:`agent_routes.runtime.startup`).

    Raises :class:`~custom_hooks.core.services.GatewayStarting` before it opened.
    """
    return services().get(THREAD_STORE)
