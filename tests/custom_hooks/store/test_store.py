"""The store on both backends: migrations (also concurrent), keys, teams, ledger, reports."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from custom_hooks.store import schema as s
from custom_hooks.store.migrations import LATEST_VERSION, migrate
from custom_hooks.store.store import Store, StoreConflict, create_engine, use_wal
from tests.custom_hooks.store.sqlite_files import hold_for_reading, journal_mode
from tests.harness.services import PostgresServer

_db_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    return pg.create_database(f"store_{next(_db_names)}_{id(request)}")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    st = await Store.open(store_url)
    yield st
    await st.close()


def _key(n: int, **kw: object) -> dict[str, object]:
    return {"key_hash": f"{n:064x}", "key_prefix": "sk-gw-xy", **kw}


async def _versions(url: str) -> list[int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(s.schema_version.c.version))).scalars().all()
    await engine.dispose()
    return sorted(rows)


async def test_migrations_apply_once_and_are_idempotent(store_url: str) -> None:
    engine = create_engine(store_url)
    assert await migrate(engine) == [LATEST_VERSION]
    assert await migrate(engine) == []
    await engine.dispose()
    assert await _versions(store_url) == [LATEST_VERSION]


async def test_concurrent_migrations_from_several_instances(store_url: str) -> None:
    engines = [create_engine(store_url) for _ in range(4)]
    results = await asyncio.gather(*(migrate(e) for e in engines))
    for e in engines:
        await e.dispose()
    assert sorted(results) == [[], [], [], [LATEST_VERSION]]
    assert await _versions(store_url) == [LATEST_VERSION]


async def test_several_instances_opening_a_new_sqlite_file_at_once(tmp_path: Path) -> None:
    # SQLite answers "locked" at once (no busy wait) to a WAL switch racing another
    # connection; repeated, since one round hit it about one time in thirty.
    for n in range(50):
        path = tmp_path / f"gateway-{n}.db"
        stores = await asyncio.gather(*(Store.open(f"sqlite+aiosqlite:///{path}") for _ in range(4)))
        for st in stores:
            await st.close()
        assert journal_mode(path) == "wal"
        assert await _versions(f"sqlite+aiosqlite:///{path}") == [LATEST_VERSION]


async def test_opening_waits_out_a_reader_that_holds_the_file(tmp_path: Path) -> None:
    # Another process mid-read holds a shared lock, so the WAL switch is refused until it ends.
    path = tmp_path / "gateway.db"
    reader = hold_for_reading(path)
    opening = asyncio.ensure_future(Store.open(f"sqlite+aiosqlite:///{path}"))
    await asyncio.sleep(0.3)
    assert not opening.done()
    reader.execute("COMMIT")
    reader.close()
    st = await asyncio.wait_for(opening, 10)
    assert await st.ping() is True
    await st.close()
    assert journal_mode(path) == "wal"


async def test_a_file_held_past_the_wait_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    reader = hold_for_reading(path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises((sqlite3.OperationalError, sa.exc.OperationalError), match="locked"):
            await use_wal(engine, wait_s=0.2)
    finally:
        reader.close()
        await engine.dispose()


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_teams_crud(store: Store) -> None:
    team = await store.create_team({"team_id": "research", "max_budget": 50.0, "models": ["gpt-4o*"]})
    assert team["models"] == ["gpt-4o*"] and team["max_budget"] == 50.0
    assert team["created_at"].tzinfo is not None
    with pytest.raises(StoreConflict):
        await store.create_team({"team_id": "research"})
    updated = await store.update_team("research", {"rpm_limit": 10, "metadata": {"cost_center": "r&d"}})
    assert (
        updated is not None and updated["rpm_limit"] == 10 and updated["metadata"] == {"cost_center": "r&d"}
    )
    assert await store.update_team("nope", {"rpm_limit": 1}) is None
    assert [t["team_id"] for t in await store.list_teams()] == ["research"]


async def test_keys_crud_alias_unique_among_live_keys(store: Store) -> None:
    await store.create_team({"team_id": "t1"})
    k1 = await store.create_key(_key(1, key_alias="ci", team_id="t1", models=["demo"], rpm_limit=5))
    assert k1["secret_hash"] == k1["key_hash"] and k1["blocked"] is False and k1["models"] == ["demo"]
    with pytest.raises(StoreConflict):
        await store.create_key(_key(2, key_alias="ci"))
    assert (await store.get_key_by_alias("ci"))["key_hash"] == k1["key_hash"]  # type: ignore[index]

    assert await store.delete_key(k1["key_hash"]) is True
    assert await store.delete_key(k1["key_hash"]) is False
    assert await store.get_key_by_hash(k1["key_hash"]) is None
    gone = await store.get_key_by_secret_hash(k1["secret_hash"])
    assert gone is not None and gone["deleted_at"] is not None
    # the alias is free again once its key is deleted
    k2 = await store.create_key(_key(2, key_alias="ci"))
    assert [k["key_hash"] for k in await store.list_keys()] == [k2["key_hash"]]
    assert len(await store.list_keys(include_deleted=True)) == 2


async def test_key_update_and_rotation_keep_the_record(store: Store) -> None:
    k = await store.create_key(_key(3, key_alias="svc"))
    new_secret = "f" * 64
    rotated = await store.update_key(k["key_hash"], {"secret_hash": new_secret, "blocked": True})
    assert rotated is not None and rotated["key_hash"] == k["key_hash"] and rotated["blocked"] is True
    assert await store.get_key_by_secret_hash(k["secret_hash"]) is None
    assert (await store.get_key_by_secret_hash(new_secret))["key_alias"] == "svc"  # type: ignore[index]
    with pytest.raises(ValueError):
        await store.update_key(k["key_hash"], {"no_such_column": 1})


async def test_key_with_unknown_team_is_refused(store: Store) -> None:
    with pytest.raises(StoreConflict):
        await store.create_key(_key(4, team_id="ghost"))


def _row(n: int, at: datetime, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"request_id": f"req-{n}", "created_at": at, "status": "success"}
    return {**base, **kw}


async def test_ledger_insert_is_idempotent_per_request_id(store: Store) -> None:
    now = datetime.now(UTC)
    rows = [_row(i, now, key_hash="k", cost=0.25) for i in range(3)]
    assert await store.insert_ledger_rows(rows) == 3
    assert await store.insert_ledger_rows([*rows[1:], _row(9, now, key_hash="k", cost=1.0)]) == 1
    assert await store.spend_since("key", "k", now - timedelta(seconds=1)) == pytest.approx(1.75)
    assert await store.insert_ledger_rows([]) == 0


async def test_spend_windows_by_scope(store: Store) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    await store.insert_ledger_rows(
        [
            _row(1, old, key_hash="k1", team_id="t", user_id="u", cost=5.0),
            _row(2, now, key_hash="k1", team_id="t", user_id="u", cost=1.0),
            _row(3, now, key_hash="k2", team_id="t", user_id="v", cost=2.0, status="cache_hit"),
            _row(4, now, key_hash="k2", team_id="t", cost=0.0, status="failure", error_class="Timeout"),
        ]
    )
    hour_ago = now - timedelta(hours=1)
    assert await store.spend_since("key", "k1", hour_ago) == pytest.approx(1.0)
    assert await store.spend_since("key", "k1", old - timedelta(seconds=1)) == pytest.approx(6.0)
    assert await store.spend_since("team", "t", hour_ago) == pytest.approx(3.0)
    assert await store.spend_since("user", "v", hour_ago) == pytest.approx(2.0)
    assert await store.spend_since("user", "nobody", hour_ago) == 0.0
    assert await store.spend_by_scope_since("key", hour_ago) == {"k1": 1.0, "k2": 2.0}
    cached = await store.ledger_rows(request_id="req-3")
    assert cached[0]["cache_hit"] is True and cached[0]["created_at"].tzinfo is not None


async def test_spend_report_groups_and_totals(store: Store) -> None:
    day1 = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
    day2 = datetime(2025, 3, 2, 0, 30, tzinfo=UTC)
    common = {"prompt_tokens": 10, "completion_tokens": 5}
    await store.insert_ledger_rows(
        [
            _row(
                1,
                day1,
                key_hash="a",
                key_alias="alpha",
                team_id="t1",
                served_model="gpt-4o",
                cost=1.0,
                **common,
            ),
            _row(
                2,
                day2,
                key_hash="a",
                key_alias="alpha",
                team_id="t1",
                served_model="gpt-4o",
                cost=2.0,
                **common,
            ),
            _row(3, day2, key_hash="b", team_id="t2", requested_model="demo", cost=0.5, **common),
            _row(4, day2, key_hash="b", team_id="t2", requested_model="demo", status="failure", **common),
        ]
    )
    by_key = await store.spend_report("key")
    assert [(r["key_hash"], r["key_alias"], r["cost"]) for r in by_key.rows] == [
        ("a", "alpha", 3.0),
        ("b", None, 0.5),
    ]
    assert by_key.totals == {
        "requests": 4,
        "failures": 1,
        "prompt_tokens": 40,
        "completion_tokens": 20,
        "cost": 3.5,
    }
    by_day = await store.spend_report("day")
    assert [(r["day"], r["requests"]) for r in by_day.rows] == [("2025-03-01", 1), ("2025-03-02", 3)]
    by_model = await store.spend_report("model", filters={"team_id": "t2"})
    assert [(r["model"], r["requests"], r["failures"]) for r in by_model.rows] == [("demo", 2, 1)]
    ranged = await store.spend_report("team", start=day2, end=day2 + timedelta(hours=1))
    assert {r["team_id"]: r["cost"] for r in ranged.rows} == {"t1": 2.0, "t2": 0.5}
    assert ranged.totals["requests"] == 3
    with pytest.raises(ValueError):
        await store.spend_report("planet")
    with pytest.raises(ValueError):
        await store.spend_report("key", filters={"prompt": "x"})
