"""Versioned, idempotent schema migrations, safe when several instances start at once.

Each migration is a numbered step applied in one transaction and recorded in
``gw_schema_version``. Before looking at the version every instance takes a lock that
covers the whole run, so a second instance waits and then finds nothing to do:

- PostgreSQL: ``pg_advisory_xact_lock`` (released at commit; DDL is transactional there);
- SQLite: ``BEGIN IMMEDIATE`` (the database write lock; others wait on ``busy_timeout``).

A new schema change is a new ``_Migration`` appended to ``MIGRATIONS`` (never edit an
applied one); ``alembic.operations.Operations`` can be used inside a step for portable
ALTERs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from custom_hooks.store import schema as s

__all__ = ["LATEST_VERSION", "MIGRATIONS", "migrate"]

log = logging.getLogger("gateway.store")

# Any fixed 64-bit number; all gateway instances must use the same one.
_PG_LOCK_ID = 0x6A7E_57_0E


@dataclass(frozen=True)
class _Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    for table in (s.teams, s.keys, s.ledger):
        table.create(conn, checkfirst=True)


MIGRATIONS: tuple[_Migration, ...] = (_Migration(1, "keys, teams and ledger", _v1_initial),)
LATEST_VERSION = MIGRATIONS[-1].version


def _run(conn: Connection) -> list[int]:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    s.schema_version.create(conn, checkfirst=True)
    current = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar() or 0
    applied: list[int] = []
    for step in MIGRATIONS:
        if step.version <= current:
            continue
        step.apply(conn)
        conn.execute(
            s.schema_version.insert().values(version=step.version, name=step.name, applied_at=s.utcnow())
        )
        applied.append(step.version)
    return applied


async def migrate(engine: AsyncEngine) -> list[int]:
    """Bring the database to :data:`LATEST_VERSION`; returns the versions applied now."""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
        async with conn.begin():
            applied = await conn.run_sync(_run)
    if applied:
        log.info("store schema migrated to version %s (applied %s)", LATEST_VERSION, applied)
    return applied
