"""Window counters: the same contract in-process and in a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from custom_hooks.governance.windows import (
    InProcessCounters,
    RedisCounters,
    Window,
    WindowCounters,
    window_for,
)

T0 = 1_800_000_000.0  # a fixed "now" (2027-01-15T08:00:00Z)


def test_windows_are_epoch_aligned_in_utc() -> None:
    hour = window_for("key", "k", 1.0, "1h", T0 + 125)
    assert hour.start == T0 and hour.end == T0 + 3600
    day = window_for("team", "t", 1.0, "1d", T0 + 125)
    assert day.start_dt == datetime(2027, 1, 15, tzinfo=UTC)
    assert day.reset_at == datetime(2027, 1, 16, tzinfo=UTC)
    month = window_for("user", "u", 1.0, "30d", T0)
    assert month.start % (30 * 86400) == 0 and month.start <= T0 < month.end  # type: ignore[operator]
    lifetime = window_for("key", "k", 1.0, None, T0)
    assert lifetime.start == 0 and lifetime.end is None and lifetime.reset_at is None


def test_window_keys_differ_by_scope_duration_and_start() -> None:
    a = window_for("key", "k", 1.0, "1h", T0)
    assert a.key != window_for("team", "k", 1.0, "1h", T0).key
    assert a.key != window_for("key", "k", 1.0, "1d", T0).key
    assert a.key != window_for("key", "k", 1.0, "1h", T0 + 3600).key
    assert a.key == window_for("key", "k", 2.0, "1h", T0 + 10).key  # the limit is not part of it


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[WindowCounters]:
    if request.param == "memory":
        yield InProcessCounters()
        return
    redis_server = request.getfixturevalue("redis_server")
    c = RedisCounters(redis_server.url, prefix=f"test:{uuid.uuid4().hex}:")
    yield c
    await c.close()


def _w(limit: float = 1.0, scope_id: str | None = None, duration: str | None = "1h") -> Window:
    return window_for("key", scope_id or uuid.uuid4().hex, limit, duration, T0)


async def test_missing_counter_is_reported_until_seeded(counters: WindowCounters) -> None:
    w = _w()
    out = await counters.reserve([w], "r1", 0.1, T0, 60)
    assert not out.allowed and out.missing == (w,)
    await counters.seed(w, 0.25, 60)
    await counters.seed(w, 99.0, 60)  # set-if-absent: a second seeder changes nothing
    out = await counters.reserve([w], "r1", 0.1, T0, 60)
    assert out.allowed and out.totals == pytest.approx((0.35,))


async def test_reservations_count_until_settled(counters: WindowCounters) -> None:
    w = _w(limit=1.0)
    await counters.seed(w, 0.0, 60)
    assert (await counters.reserve([w], "a", 0.6, T0, 60)).allowed
    assert (await counters.reserve([w], "b", 0.3, T0, 60)).allowed  # 0.6 < 1.0
    blocked = await counters.reserve([w], "c", 0.05, T0, 60)  # 0.9 < 1.0 -> allowed
    assert blocked.allowed
    out = await counters.reserve([w], "d", 0.05, T0, 60)  # 0.95 < 1.0 -> allowed
    assert out.allowed
    out = await counters.reserve([w], "e", 0.05, T0, 60)  # 1.0 reached -> blocked
    assert not out.allowed and out.blocked == w and out.blocked_total == pytest.approx(1.0)
    await counters.settle([w], "a", 0.6, 0.1)  # real cost far below the estimate
    assert (await counters.totals([w], T0)) == [pytest.approx(0.5)]
    assert (await counters.reserve([w], "f", 0.05, T0, 60)).allowed


async def test_failed_call_releases_without_charging(counters: WindowCounters) -> None:
    w = _w(limit=1.0)
    await counters.seed(w, 0.2, 60)
    await counters.reserve([w], "a", 0.5, T0, 60)
    await counters.settle([w], "a", 0.5, 0.0)
    assert await counters.totals([w], T0) == [pytest.approx(0.2)]


async def test_one_reservation_spans_every_window_and_any_blocks(counters: WindowCounters) -> None:
    key, team = _w(limit=10.0), window_for("team", uuid.uuid4().hex, 1.0, "1d", T0)
    for w in (key, team):
        await counters.seed(w, 0.0, 60)
    assert (await counters.reserve([key, team], "a", 0.6, T0, 60)).allowed
    assert (await counters.reserve([key, team], "b", 0.6, T0, 60)).allowed
    out = await counters.reserve([key, team], "c", 0.1, T0, 60)
    assert out.blocked == team
    # The blocked attempt reserved nothing anywhere.
    assert await counters.totals([key, team], T0) == [pytest.approx(1.2), pytest.approx(1.2)]


async def test_unsettled_reservations_expire(counters: WindowCounters) -> None:
    w = _w(limit=1.0)
    await counters.seed(w, 0.0, 60)
    assert (await counters.reserve([w], "crashed", 1.0, T0, 30)).allowed
    assert not (await counters.reserve([w], "next", 0.1, T0 + 10, 30)).allowed
    assert (await counters.reserve([w], "later", 0.1, T0 + 31, 30)).allowed


async def test_concurrent_reservations_never_exceed_the_budget(counters: WindowCounters) -> None:
    w = _w(limit=1.0)
    await counters.seed(w, 0.0, 60)
    outs = await asyncio.gather(*(counters.reserve([w], f"r{i}", 0.1, T0, 60) for i in range(40)))
    assert sum(o.allowed for o in outs) == 10


async def test_settling_a_lost_counter_does_not_invent_spend(counters: WindowCounters) -> None:
    w = _w(limit=1.0)
    await counters.settle([w], "ghost", 0.1, 0.5)  # nothing seeded: must stay missing
    assert await counters.totals([w], T0) == [None]
