"""Start-up steps: started in order, closed in reverse; a failed start stops what had started."""

from __future__ import annotations

import pytest

from custom_hooks.core.lifecycle import Step, start_steps, stop_steps
from custom_hooks.core.services import Services, Slot

OPENED: Slot[str] = Slot("opened")


def recording(name: str, log: list[str], *, fail_start: bool = False, fail_stop: bool = False) -> Step:
    async def start(svc: Services) -> None:
        log.append(f"start {name}")
        if fail_start:
            raise OSError(f"{name} cannot open")

    async def stop(svc: Services) -> None:
        log.append(f"stop {name}")
        if fail_stop:
            raise OSError(f"{name} cannot close")

    return Step(name, start, stop)


async def test_steps_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    steps = [recording(n, log) for n in ("store", "ledger", "budgets")]
    started = await start_steps(steps, Services())
    assert [s.name for s in started] == ["store", "ledger", "budgets"]
    await stop_steps(started, Services())
    assert log == [
        "start store",
        "start ledger",
        "start budgets",
        "stop budgets",
        "stop ledger",
        "stop store",
    ]


async def test_a_failing_start_stops_the_started_ones_in_reverse_and_raises() -> None:
    log: list[str] = []
    steps = [
        recording("store", log),
        recording("ledger", log),
        recording("budgets", log, fail_start=True),
        recording("auth", log),
    ]
    with pytest.raises(OSError, match="budgets cannot open"):
        await start_steps(steps, Services())
    # auth never started; budgets cleans up after itself (its stop is not called on a half start)
    assert log == ["start store", "start ledger", "start budgets", "stop ledger", "stop store"]


async def test_one_failing_stop_does_not_keep_the_others_from_closing() -> None:
    log: list[str] = []
    steps = [recording("store", log), recording("ledger", log, fail_stop=True), recording("auth", log)]
    started = await start_steps(steps, Services())
    await stop_steps(started, Services())
    assert log[-3:] == ["stop auth", "stop ledger", "stop store"]


async def test_steps_fill_the_services_they_are_given() -> None:
    svc = Services()

    async def start(s: Services) -> None:
        s.provide(OPENED, "yes")

    async def stop(s: Services) -> None:
        s.take(OPENED)

    started = await start_steps([Step("opener", start, stop)], svc)
    assert svc.get(OPENED) == "yes"
    await stop_steps(started, svc)
    assert not svc.started(OPENED)


async def test_a_step_without_a_stop_is_fine_to_close() -> None:
    log: list[str] = []

    async def start(s: Services) -> None:
        log.append("start")

    started = await start_steps([Step("only-start", start)], Services())
    await stop_steps(started, Services())
    assert log == ["start"]
