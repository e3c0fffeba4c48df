"""Reconciliation of budget counters with the ledger, and reservation leases (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from custom_hooks.core.sections.governance import SpendSettings
from custom_hooks.governance.budgets import BudgetService, BudgetVerdict
from custom_hooks.governance.windows import (
    InProcessCounters,
    RedisCounters,
    Window,
    WindowCounters,
    window_for,
)

T0 = 1_800_000_000.0  # fixed epoch seconds: windows and leases are computed from it
BUDGET = [{"scope": "key", "id": "kh", "max_budget": 10.0, "duration": "1d"}]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Ledger:
    """What the store says was spent, per (scope, id)."""

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], float] = {}

    async def spend_since(self, scope: str, scope_id: str, since: datetime) -> float:
        return self.spent.get((scope, scope_id), 0.0)


class FlakyCounters:
    """Real counters behind a switch: ``down`` makes every call fail like an unreachable Redis."""

    def __init__(self, inner: WindowCounters) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.down = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise RedisConnectionError("Redis is unreachable")
            return await target(*args, **kwargs)

        return call


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[WindowCounters]:
    if request.param == "memory":
        yield InProcessCounters()
        return
    server = request.getfixturevalue("redis_server")
    c = RedisCounters(server.url, prefix=f"test:{uuid.uuid4().hex}:")
    yield c
    await c.close()


def _w(scope_id: str = "kh") -> Window:
    return window_for("key", scope_id, 10.0, "1d", T0)


def _admitted(verdict: BudgetVerdict | None) -> bool:
    return verdict is not None and verdict.action == "admit" and verdict.reservation_id is not None


def _service(counters: Any, ledger: Ledger, clock: Clock, **spend: Any) -> BudgetService:
    return BudgetService(
        counters,
        spend_since=ledger.spend_since,
        settings=SpendSettings(reservation_lease_s=3.0, reconcile_interval_s=0, **spend),
        clock=clock,
    )


async def test_raise_to_lifts_a_counter_but_never_lowers_it(counters: WindowCounters) -> None:
    w = _w(uuid.uuid4().hex)
    assert await counters.raise_to(w, 0.4, 60) is None  # missing: seeded
    assert await counters.raise_to(w, 0.1, 60) == pytest.approx(0.4)  # lower: unchanged
    assert (await counters.totals([w], T0))[0] == pytest.approx(0.4)
    assert await counters.raise_to(w, 0.9, 60) == pytest.approx(0.4)
    assert (await counters.totals([w], T0))[0] == pytest.approx(0.9)


async def test_renewed_reservations_outlive_their_lease_and_others_expire(counters: WindowCounters) -> None:
    w = _w(uuid.uuid4().hex)
    await counters.seed(w, 0.0, 60)
    assert (await counters.reserve([w], "live", 0.5, T0, 3.0)).allowed
    assert (await counters.reserve([w], "dead", 0.25, T0, 3.0)).allowed
    await counters.renew([w], ["live:0.5"], T0 + 2 + 3.0)  # only the live instance renews
    assert (await counters.totals([w], T0 + 1))[0] == pytest.approx(0.75)
    assert (await counters.totals([w], T0 + 4))[0] == pytest.approx(0.5)  # the dead one's lease ran out
    await counters.renew([w], ["gone:1.0"], T0 + 100)  # renewing a settled reservation adds nothing
    assert (await counters.totals([w], T0 + 4))[0] == pytest.approx(0.5)


async def test_a_settlement_lost_while_redis_was_away_is_counted_on_its_return(
    counters: WindowCounters,
) -> None:
    flaky, ledger, clock = FlakyCounters(counters), Ledger(), Clock()
    svc = _service(flaky, ledger, clock)
    budgets = [{**BUDGET[0], "id": uuid.uuid4().hex}]
    w = window_for("key", budgets[0]["id"], 10.0, "1d", T0)
    res = await svc.reserve(budgets, 0.5)
    assert res is not None and res.action == "admit" and res.reservation_id
    flaky.down = True
    await svc.charge(res.reservation_id, 0.2)  # Redis away: the settlement is lost...
    served = await svc.reserve(budgets, 0.5)  # ...and, failing open, this call is served unreserved
    assert served is not None and (served.action, served.reason) == (
        "degraded",
        "budget_counters_unavailable",
    )
    ledger.spent[("key", budgets[0]["id"])] = 0.2 + 0.3  # the ledger has both calls
    assert svc.needs_reconcile
    assert "not yet reconciled" in " ".join(svc.problems())
    await svc.maintain_once()  # still down: nothing changes, nothing raises
    assert svc.needs_reconcile
    flaky.down = False
    clock.now += 1
    await svc.maintain_once()
    # the lost settlement's reservation is gone and the counter holds what the ledger says
    assert (await counters.totals([w], clock.now))[0] == pytest.approx(0.5)
    assert not svc.needs_reconcile and svc.reconcile_corrections_total == 1


async def test_reconciliation_never_lowers_a_counter_ahead_of_the_ledger(counters: WindowCounters) -> None:
    ledger, clock = Ledger(), Clock()
    svc = _service(counters, ledger, clock)
    budgets = [{**BUDGET[0], "id": uuid.uuid4().hex}]
    w = window_for("key", budgets[0]["id"], 10.0, "1d", T0)
    res = await svc.reserve(budgets, 0.5)
    assert res is not None and res.action == "admit" and res.reservation_id
    await svc.charge(res.reservation_id, 0.7)  # settled here; its ledger row is still buffered elsewhere
    assert await svc.reconcile() == 0
    assert (await counters.totals([w], T0))[0] == pytest.approx(0.7)


async def test_only_the_live_instance_keeps_its_reservations(counters: WindowCounters) -> None:
    ledger, clock = Ledger(), Clock()
    live, dead = _service(counters, ledger, clock), _service(counters, ledger, clock)
    budgets = [{**BUDGET[0], "id": uuid.uuid4().hex}]
    w = window_for("key", budgets[0]["id"], 10.0, "1d", T0)
    assert _admitted(await live.reserve(budgets, 1.0))
    assert _admitted(await dead.reserve(budgets, 2.0))  # its process dies now
    for step in range(1, 6):
        clock.now = T0 + step
        await live.maintain_once()
    assert (await counters.totals([w], clock.now))[0] == pytest.approx(1.0)


async def test_a_reservation_is_not_renewed_past_its_ttl(counters: WindowCounters) -> None:
    ledger, clock = Ledger(), Clock()
    svc = _service(counters, ledger, clock, reservation_ttl_s=4.0)
    budgets = [{**BUDGET[0], "id": uuid.uuid4().hex}]
    w = window_for("key", budgets[0]["id"], 10.0, "1d", T0)
    assert _admitted(await svc.reserve(budgets, 1.0))
    for step in range(1, 10):
        clock.now = T0 + step
        await svc.maintain_once()
    assert (await counters.totals([w], clock.now))[0] == pytest.approx(0.0)


class Instance:
    """One gateway instance's ledger: rows it buffered, written to the shared store on flush."""

    def __init__(self, store: Ledger) -> None:
        self.store = store
        self.buffered: dict[tuple[str, str], float] = {}
        self.flushes = 0

    def serve(self, scope_id: str, cost: float) -> None:
        key = ("key", scope_id)
        self.buffered[key] = self.buffered.get(key, 0.0) + cost

    async def flush(self) -> bool:
        self.flushes += 1
        for key, cost in self.buffered.items():
            self.store.spent[key] = self.store.spent.get(key, 0.0) + cost
        self.buffered.clear()
        return True

    async def consistent_read(self, scope: str, scope_id: str, since: datetime, stored: Any) -> float:
        return float(await stored()) + self.buffered.get((scope, scope_id), 0.0)


@pytest.mark.parametrize("flushing", [True, False])
async def test_two_instances_reconciling_count_both_instances_buffered_spend(
    counters: WindowCounters, flushing: bool
) -> None:
    """Spend served unreserved on two instances during an outage, still in their ledger buffers
    when Redis returns: after both reconcile, the counter holds both instances' spend."""
    store, clock = Ledger(), Clock()
    budgets = [{**BUDGET[0], "id": uuid.uuid4().hex}]
    w = window_for("key", budgets[0]["id"], 10.0, "1d", T0)
    a, b = Instance(store), Instance(store)
    services = [
        BudgetService(
            counters,
            spend_since=store.spend_since,
            settings=SpendSettings(reservation_lease_s=3.0, reconcile_interval_s=0),
            clock=clock,
            consistent_read=inst.consistent_read,
            flush_ledger=inst.flush if flushing else None,
        )
        for inst in (a, b)
    ]
    for svc in services:  # each instance has used the window (it is in its recent set)
        assert _admitted(await svc.reserve(budgets, 0.0))
    a.serve(budgets[0]["id"], 0.3)  # served while the counters were unreachable
    b.serve(budgets[0]["id"], 0.2)
    for svc in services:
        svc.request_reconcile()
        await svc.maintain_once()
    total = (await counters.totals([w], clock.now))[0]
    if flushing:
        assert total == pytest.approx(0.5) and (a.flushes, b.flushes) == (1, 1)
    else:  # what each instance alone can see: its own buffer, not the other's
        assert total == pytest.approx(0.3)
