"""SQLite files as another process sees them: its journal mode, a reader holding it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["hold_for_reading", "journal_mode"]


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def hold_for_reading(path: Path) -> sqlite3.Connection:
    """A connection mid-read on ``path`` (a shared lock: the WAL switch is refused while it
    lasts); ``COMMIT`` or close it to let go."""
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("CREATE TABLE held (x)")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM held").fetchall()
    return reader
