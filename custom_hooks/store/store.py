"""The gateway store: keys, teams and the spend ledger over SQLite or PostgreSQL.

One code path (SQLAlchemy 2 async Core) for both backends; the URL picks the driver:
``sqlite+aiosqlite:///<data_dir>/gateway.db`` (default) or
``postgresql+asyncpg://user:pw@host/db`` (``GATEWAY_STORE_URL``). Migrations run when
the store opens (see :mod:`custom_hooks.store.migrations`).

In the gateway process the store is opened at start-up; use :func:`get_store`::

    store = get_store()
    await store.insert_ledger_rows([{"request_id": "r1", "status": "success", "cost": 0.01, ...}])
    spent = await store.spend_since("team", "research", since)

Rows come back as plain dicts named after the columns in :mod:`custom_hooks.store.schema`;
datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.store import schema as s
from custom_hooks.store.migrations import migrate
from custom_hooks.store.reports import GROUP_BYS, SpendReport, spend_report_query
from custom_hooks.store.sqlite_wal import use_wal_async

__all__ = [
    "GROUP_BYS",
    "STEP",
    "STORE",
    "Row",
    "Scope",
    "SpendReport",
    "Store",
    "StoreConflict",
    "create_engine",
    "get_store",
    "store_started",
    "use_wal",
]

log = logging.getLogger("gateway.store")

Row = dict[str, Any]
Scope = Literal["key", "team", "user"]

_KEY_FIELDS = frozenset(c.name for c in s.keys.c)
_TEAM_FIELDS = frozenset(c.name for c in s.teams.c)
_LEDGER_FIELDS = frozenset(c.name for c in s.ledger.c) - {"id"}
_SCOPE_COLUMNS = {"key": s.ledger.c.key_hash, "team": s.ledger.c.team_id, "user": s.ledger.c.user_id}


# How long a write waits for another connection's lock before "database is locked".
_BUSY_TIMEOUT_MS = 30_000


class StoreConflict(Exception):
    """A write broke a uniqueness rule (duplicate alias, team id, ...)."""


def create_engine(url: str) -> AsyncEngine:
    """An async engine configured for the gateway (SQLite: FKs, busy wait, real BEGIN IMMEDIATE).

    SQLite's WAL mode is a property of the database file, set once by :func:`use_wal` when the
    store opens, not on every connection: ``PRAGMA journal_mode=WAL`` does not wait on
    ``busy_timeout``, so several instances opening a new file at once could fail with
    "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN can't be IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    # Day buckets in reports are UTC days: pin the session time zone.
    return create_async_engine(url, pool_pre_ping=True, connect_args={"server_settings": {"timezone": "UTC"}})


async def use_wal(engine: AsyncEngine, *, wait_s: float = 30.0) -> None:
    """Put a SQLite database in WAL mode (no-op elsewhere or when it already is), waiting up
    to ``wait_s`` for other instances opening the same file (:mod:`.sqlite_wal`)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    async with engine.connect() as conn:
        # On the driver's connection: the switch can't run inside a transaction.
        raw = (await conn.get_raw_connection()).driver_connection
        await use_wal_async(raw, wait_s=wait_s)


def _clean(fields: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown columns: {sorted(unknown)}")
    return dict(fields)


class Store:
    """Async access to keys, teams and the ledger. Cheap to share; one per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str, *, run_migrations: bool = True) -> Store:
        store = cls(create_engine(url))
        await use_wal(store.engine)
        if run_migrations:
            await migrate(store.engine)
        return store

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        """True when the database answers (for readiness probes)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except (sa.exc.SQLAlchemyError, OSError):
            return False

    async def _one(self, stmt: sa.Select[Any]) -> Row | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return dict(row) if row is not None else None

    async def _all(self, stmt: sa.Select[Any]) -> list[Row]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]

    async def _write(self, stmt: sa.Executable) -> int:
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(stmt)
        except IntegrityError as exc:
            raise StoreConflict(str(exc.orig)) from None
        return int(getattr(result, "rowcount", 0) or 0)

    # --- teams -------------------------------------------------------------------

    async def create_team(self, team: Mapping[str, Any]) -> Row:
        now = s.utcnow()
        values = {"models": [], "metadata": {}, "blocked": False, **_clean(team, _TEAM_FIELDS)}
        values.update(created_at=now, updated_at=now)
        await self._write(s.teams.insert().values(**values))
        got = await self.get_team(values["team_id"])
        assert got is not None
        return got

    async def get_team(self, team_id: str) -> Row | None:
        return await self._one(sa.select(s.teams).where(s.teams.c.team_id == team_id))

    async def list_teams(self) -> list[Row]:
        return await self._all(sa.select(s.teams).order_by(s.teams.c.created_at, s.teams.c.team_id))

    async def update_team(self, team_id: str, changes: Mapping[str, Any]) -> Row | None:
        values = _clean(changes, _TEAM_FIELDS - {"team_id", "created_at"})
        values["updated_at"] = s.utcnow()
        n = await self._write(s.teams.update().where(s.teams.c.team_id == team_id).values(**values))
        return await self.get_team(team_id) if n else None

    # --- keys --------------------------------------------------------------------

    async def create_key(self, key: Mapping[str, Any]) -> Row:
        """Insert a key record (``key_hash``, ``secret_hash``, ``key_prefix`` required)."""
        now = s.utcnow()
        values = {"models": [], "metadata": {}, "blocked": False, **_clean(key, _KEY_FIELDS)}
        values.setdefault("secret_hash", values["key_hash"])
        values.update(created_at=now, updated_at=now)
        await self._write(s.keys.insert().values(**values))
        got = await self.get_key_by_hash(values["key_hash"])
        assert got is not None
        return got

    async def get_key_by_hash(self, key_hash: str, *, include_deleted: bool = False) -> Row | None:
        """The key whose stable id is ``key_hash`` (the hash it was first issued with)."""
        stmt = sa.select(s.keys).where(s.keys.c.key_hash == key_hash)
        if not include_deleted:
            stmt = stmt.where(s.keys.c.deleted_at.is_(None))
        return await self._one(stmt)

    async def get_key_by_secret_hash(self, secret_hash: str) -> Row | None:
        """The key whose CURRENT secret hashes to ``secret_hash`` (deleted ones included)."""
        return await self._one(sa.select(s.keys).where(s.keys.c.secret_hash == secret_hash))

    async def get_key_by_alias(self, alias: str) -> Row | None:
        stmt = sa.select(s.keys).where(s.keys.c.key_alias == alias, s.keys.c.deleted_at.is_(None))
        return await self._one(stmt)

    async def list_keys(
        self,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        include_deleted: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Row]:
        stmt = sa.select(s.keys)
        if team_id is not None:
            stmt = stmt.where(s.keys.c.team_id == team_id)
        if user_id is not None:
            stmt = stmt.where(s.keys.c.user_id == user_id)
        if not include_deleted:
            stmt = stmt.where(s.keys.c.deleted_at.is_(None))
        stmt = stmt.order_by(s.keys.c.created_at, s.keys.c.key_hash).limit(limit).offset(offset)
        return await self._all(stmt)

    async def update_key(self, key_hash: str, changes: Mapping[str, Any]) -> Row | None:
        """Change a live key's fields (``secret_hash`` too, which is how rotation works)."""
        values = _clean(changes, _KEY_FIELDS - {"key_hash", "created_at"})
        values["updated_at"] = s.utcnow()
        stmt = (
            s.keys.update()
            .where(s.keys.c.key_hash == key_hash, s.keys.c.deleted_at.is_(None))
            .values(**values)
        )
        n = await self._write(stmt)
        return await self.get_key_by_hash(key_hash) if n else None

    async def delete_key(self, key_hash: str) -> bool:
        """Soft-delete: the key stops working at once, its ledger rows keep their meaning."""
        now = s.utcnow()
        stmt = (
            s.keys.update()
            .where(s.keys.c.key_hash == key_hash, s.keys.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
        return await self._write(stmt) > 0

    # --- ledger ------------------------------------------------------------------

    async def insert_ledger_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ledger rows in one transaction; returns how many were new.

        Each row needs ``request_id`` (unique per row) and ``status``; ``created_at``
        defaults to now. A row whose ``request_id`` is already stored is skipped, so a
        batch can be retried safely after an unclear failure.
        """
        now = s.utcnow()
        values = []
        for row in rows:
            v: dict[str, Any] = dict.fromkeys(_LEDGER_FIELDS)  # executemany needs uniform rows
            v.update(created_at=now, prompt_tokens=0, completion_tokens=0, cost=0.0)
            v.update({k: val for k, val in _clean(row, _LEDGER_FIELDS).items() if val is not None})
            v["cache_hit"] = bool(v["cache_hit"]) or v.get("status") == "cache_hit"
            values.append(v)
        if not values:
            return 0
        insert = (pg_dialect.insert if self.backend == "postgresql" else sqlite_dialect.insert)(s.ledger)
        stmt = insert.on_conflict_do_nothing(index_elements=["request_id"]).returning(s.ledger.c.request_id)
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt, values)
            return len(result.all())  # rows skipped as duplicates return nothing

    async def spend_since(self, scope: Scope, scope_id: str, since: datetime) -> float:
        """Sum of ledger cost for one key (by key_hash), team or user since ``since``."""
        col = _SCOPE_COLUMNS[scope]
        stmt = sa.select(sa.func.coalesce(sa.func.sum(s.ledger.c.cost), 0.0)).where(
            col == scope_id, s.ledger.c.created_at >= since
        )
        async with self.engine.connect() as conn:
            return float((await conn.execute(stmt)).scalar() or 0.0)

    async def spend_by_scope_since(self, scope: Scope, since: datetime) -> dict[str, float]:
        """Spend per key/team/user since ``since`` in one query (for rebuilding windows)."""
        col = _SCOPE_COLUMNS[scope]
        stmt = (
            sa.select(col, sa.func.sum(s.ledger.c.cost))
            .where(s.ledger.c.created_at >= since, col.is_not(None))
            .group_by(col)
        )
        async with self.engine.connect() as conn:
            return {str(k): float(v or 0.0) for k, v in (await conn.execute(stmt)).all()}

    async def ledger_rows(self, *, limit: int = 1000, **filters: Any) -> list[Row]:
        """Recent ledger rows, newest first, filtered by column equality (tests, debugging)."""
        stmt = sa.select(s.ledger)
        for name, value in filters.items():
            stmt = stmt.where(s.ledger.c[name] == value)
        return await self._all(stmt.order_by(s.ledger.c.id.desc()).limit(limit))

    async def spend_report(
        self,
        group_by: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> SpendReport:
        """Spend grouped by key, team, user, model or day, with totals (see _store_reports)."""
        rows_stmt, totals_stmt = spend_report_query(group_by, start=start, end=end, filters=filters or {})
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(rows_stmt)).mappings().all()]
            totals = dict((await conn.execute(totals_stmt)).mappings().one())
        return SpendReport.build(group_by, rows, totals, start=start, end=end)


# --- the process's store ---------------------------------------------------------------

STORE: Slot[Store] = Slot("store", "the key store")


def get_store() -> Store:
    """The store opened at gateway start-up (:class:`GatewayStarting` before it opened)."""
    return services().get(STORE)


def store_started() -> bool:
    return services().started(STORE)


async def _start(svc: Services) -> None:
    url = svc.settings.resolved_store_url()
    svc.provide(STORE, await Store.open(url))
    log.info("store open (%s)", make_url(url).render_as_string(hide_password=True))


async def _stop(svc: Services) -> None:
    store = svc.take(STORE)
    if store is not None:
        await store.close()


STEP = Step("store", _start, _stop)
