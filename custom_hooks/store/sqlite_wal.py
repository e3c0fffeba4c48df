"""Switching a SQLite file to WAL mode when several processes open it at once.

WAL is a property of the file: once one connection has switched it, every later
``PRAGMA journal_mode=WAL`` is a no-op. The switch itself needs the file to itself for a
moment, and SQLite answers "database is locked" at once when it races another connection,
without waiting on ``busy_timeout``: four connections opening a new file together failed
one round in twelve. So the gateway's SQLite files (the store, the agents' threads, the
workers' active-run registry) are switched once, here, with a bounded retry.

Two forms of one loop: :func:`use_wal_async` for an ``aiosqlite`` connection (sleeps on
the event loop), :func:`use_wal_sync` for a ``sqlite3`` one (sleeps the thread; used at
start-up only).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["WalRefused", "use_wal_async", "use_wal_sync"]

# SQLite sometimes does wait on the switch: each attempt waits at most this long, so the
# caller's bound holds.
_ATTEMPT_BUSY_MS = 100


class WalRefused(RuntimeError):
    """SQLite kept another journal mode (an in-memory or read-only database)."""


def _pauses(wait_s: float) -> Iterator[float]:
    """Back-off pauses (10 ms doubling to 0.5 s) until ``wait_s`` would be passed."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while time.monotonic() + pause <= deadline:
        yield pause
        pause = min(pause * 2, 0.5)


def _is_lock(exc: BaseException) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _check(mode: str) -> None:
    if mode != "wal":
        raise WalRefused(f"SQLite refused WAL mode (journal mode stays {mode!r})")


async def _pragma(conn: Any, sql: str) -> str:
    cursor = await conn.execute(sql)
    row = await cursor.fetchone()
    await cursor.close()
    return str(row[0]).lower() if row else ""


async def _attempt_async(conn: Any) -> str:
    mode = await _pragma(conn, "PRAGMA journal_mode")
    if mode == "wal":
        return mode
    busy = await _pragma(conn, "PRAGMA busy_timeout")
    await _pragma(conn, f"PRAGMA busy_timeout={_ATTEMPT_BUSY_MS}")
    try:
        return await _pragma(conn, "PRAGMA journal_mode=WAL")
    finally:
        await _pragma(conn, f"PRAGMA busy_timeout={busy or 0}")


async def use_wal_async(conn: Any, *, wait_s: float = 30.0) -> None:
    """Put ``conn``'s file (an ``aiosqlite.Connection``, outside a transaction) in WAL mode."""
    pauses = _pauses(wait_s)
    while True:
        try:
            _check(await _attempt_async(conn))
            return
        except sqlite3.OperationalError as exc:
            pause = next(pauses, None)
            if not _is_lock(exc) or pause is None:
                raise
        await asyncio.sleep(pause)


def _attempt_sync(conn: sqlite3.Connection) -> str:
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode == "wal":
        return mode
    busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout={_ATTEMPT_BUSY_MS}")
    try:
        return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(busy or 0)}")


def use_wal_sync(conn: sqlite3.Connection, *, wait_s: float = 30.0) -> None:
    """Put ``conn``'s file in WAL mode (a ``sqlite3`` connection in autocommit)."""
    pauses = _pauses(wait_s)
    while True:
        try:
            _check(_attempt_sync(conn))
            return
        except sqlite3.OperationalError as exc:
            pause = next(pauses, None)
            if not _is_lock(exc) or pause is None:
                raise
        time.sleep(pause)
