"""WAL mode switched once per file, when several processes open a new file at the same moment.

The race is SQLite's: ``PRAGMA journal_mode=WAL`` racing another connection answers
"locked" at once. Four connections on a new file, one round in twelve, so each race below
is repeated; the gateway's three SQLite files (store, agent threads, active runs) all open
through these helpers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import aiosqlite
import pytest

from custom_hooks.auth.run_tokens import SqliteRunStore
from custom_hooks.store.sqlite_wal import WalRefused, use_wal_async, use_wal_sync
from tests.custom_hooks.store.sqlite_files import hold_for_reading, journal_mode


def _race(path: Path, opener: object, n: int = 4) -> list[BaseException]:
    """``n`` threads call ``opener(path)`` at the same moment; returns what they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            opener(path)  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _open_and_write(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        use_wal_sync(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    finally:
        conn.close()


def test_threads_opening_a_new_file_together_all_get_wal(tmp_path: Path) -> None:
    for n in range(60):
        path = tmp_path / f"f{n}.db"
        assert _race(path, _open_and_write) == []
        assert journal_mode(path) == "wal"
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 4


def test_workers_opening_the_active_run_registry_together(tmp_path: Path) -> None:
    for n in range(40):
        path = tmp_path / f"runs{n}.db"
        assert _race(path, lambda p: SqliteRunStore(str(p))) == []
        assert journal_mode(path) == "wal"


async def test_async_connections_opening_a_new_file_together(tmp_path: Path) -> None:
    async def open_one(path: Path) -> None:
        conn = await aiosqlite.connect(path)
        try:
            await use_wal_async(conn)
            await conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            await conn.commit()
        finally:
            await conn.close()

    for n in range(40):
        path = tmp_path / f"a{n}.db"
        await asyncio.gather(*(open_one(path) for _ in range(4)))
        assert journal_mode(path) == "wal"


async def test_the_connections_own_busy_wait_is_put_back(tmp_path: Path) -> None:
    sync = sqlite3.connect(tmp_path / "s.db", timeout=7, isolation_level=None)
    use_wal_sync(sync)
    assert sync.execute("PRAGMA busy_timeout").fetchone()[0] == 7000
    sync.close()
    conn = await aiosqlite.connect(tmp_path / "a.db", timeout=3)
    await use_wal_async(conn)
    assert (await (await conn.execute("PRAGMA busy_timeout")).fetchone())[0] == 3000  # type: ignore[index]
    await conn.close()


def test_a_file_held_past_the_wait_fails_within_it(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    reader = hold_for_reading(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # its own wait: 30 s
    try:
        t0 = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            use_wal_sync(conn, wait_s=0.3)
        assert time.monotonic() - t0 < 3  # ours bounds it, not the connection's 30 s
    finally:
        reader.close()
        conn.close()


def test_a_database_that_cannot_be_wal_says_so() -> None:
    with pytest.raises(WalRefused, match="memory"):
        use_wal_sync(sqlite3.connect(":memory:"))


def test_a_file_already_in_wal_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _open_and_write(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT * FROM t").fetchall()  # even inside a transaction: nothing to switch
    use_wal_sync(conn)
    conn.close()
