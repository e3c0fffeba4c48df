"""The spend ledger: rows built from LiteLLM logging payloads, batched writes, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litellm.proxy._types import ProxyException

from custom_hooks.core.sections.governance import LedgerSettings
from custom_hooks.ledger.spend_ledger import ledger_row
from custom_hooks.ledger.writer import LedgerWriter, upgrade_failure_rows
from custom_hooks.store.store import Store

START = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC)
END = START + timedelta(milliseconds=250)

IDENTITY = {
    "key_hash": "kh1",
    "key_alias": "research-bot",
    "user_id": "alice",
    "team_id": "research",
    "budgets": [],
    "run": None,
}


def payload(
    *,
    call_id: str = "call-1",
    cost: float = 0.0021,
    prompt: int = 12,
    completion: int = 30,
    cache_hit: bool | None = None,
    identity: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    error_class: str | None = None,
) -> dict[str, Any]:
    """A logging-event ``kwargs`` shaped like LiteLLM 1.108's (as observed through the proxy)."""
    slo: dict[str, Any] = {
        "id": "chatcmpl-x",
        "response_cost": cost,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "model_group": "gpt-4o-mini",
        "model_id": "gpt-4o-mini-openai",
        "cache_hit": cache_hit,
        "metadata": {"user_api_key_hash": "kh1"},
    }
    if error_class:
        slo["error_information"] = {"error_class": error_class}
    return {
        "litellm_call_id": call_id,
        "cache_hit": cache_hit,
        "standard_logging_object": slo,
        "exception": exception,
        "litellm_params": {
            "metadata": {
                "user_api_key_metadata": {"gateway_identity": identity or IDENTITY},
                "gateway": gateway or {},
            },
            "proxy_server_request": {"body": {"model": "cheap"}},
        },
    }


def test_success_row_carries_identity_usage_and_cost() -> None:
    row = ledger_row(payload(gateway={"routing": {"reason": "policy"}}), START, END, failed=False)
    assert row is not None
    assert row["request_id"] == "call-1" and row["status"] == "success"
    assert (row["key_hash"], row["key_alias"], row["user_id"], row["team_id"]) == (
        "kh1",
        "research-bot",
        "alice",
        "research",
    )
    assert (row["requested_model"], row["served_model"], row["deployment"]) == (
        "cheap",
        "gpt-4o-mini",
        "gpt-4o-mini-openai",
    )
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (12, 30, 0.0021)
    assert row["latency_ms"] == pytest.approx(250.0) and row["created_at"] == START
    assert row["routing_reason"] == "policy" and row["cache_hit"] is False


def test_gateway_request_id_wins_over_litellm_call_id() -> None:
    row = ledger_row(payload(gateway={"request_id": "req-42"}), START, END, failed=False)
    assert row is not None and row["request_id"] == "req-42"


def test_cache_hit_costs_nothing() -> None:
    row = ledger_row(payload(cache_hit=True, cost=0.0), START, END, failed=False)
    assert row is not None
    assert (row["status"], row["cost"], row["cache_hit"]) == ("cache_hit", 0.0, True)


def test_failure_costs_nothing_and_names_the_error() -> None:
    kwargs = payload(cost=0.5, exception=RuntimeError("x"), error_class="InternalServerError")
    row = ledger_row(kwargs, START, END, failed=True)
    assert row is not None
    assert (row["status"], row["cost"], row["prompt_tokens"]) == ("failure", 0.0, 0)
    assert row["error_class"] == "InternalServerError"


def test_rejections_before_any_model_call_are_not_rows() -> None:
    exc = ProxyException(message="budget", type="budget_exceeded", param=None, code=400)
    assert ledger_row(payload(exception=exc), START, END, failed=True) is None


def test_inner_agent_call_carries_run_and_parent() -> None:
    run = {"run_id": "run-9", "parent_request_id": "outer-1", "agent": "research", "depth": 1}
    row = ledger_row(payload(identity={**IDENTITY, "run": run}), START, END, failed=False)
    assert row is not None
    assert (row["agent_run_id"], row["parent_request_id"], row["cost"]) == ("run-9", "outer-1", 0.0021)


def test_outer_agent_request_is_a_zero_cost_marker() -> None:
    gw = {"agent_run": {"run_id": "run-9", "cost": 0.04, "inner_calls": 3}}
    row = ledger_row(payload(cost=0.04, gateway=gw), START, END, failed=False)
    assert row is not None
    assert (row["agent_run_id"], row["parent_request_id"]) == ("run-9", None)
    assert (row["cost"], row["prompt_tokens"], row["completion_tokens"]) == (0.0, 0, 0)


# --- the writer over a real SQLite store ------------------------------------------


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    yield s
    await s.close()


def row(rid: str, status: str = "success", cost: float = 0.01, key: str = "kh1") -> dict[str, Any]:
    return {
        "request_id": rid,
        "created_at": START,
        "key_hash": key,
        "team_id": "research",
        "status": status,
        "cost": cost,
        "error_class": "APIError" if status == "failure" else None,
    }


class FlakyStore:
    """The real store behind a switch that makes writes fail like a dropped connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.batches: list[int] = []

    async def insert(self, rows: list[dict[str, Any]]) -> int:
        if self.down:
            raise sa.exc.OperationalError("INSERT", {}, ConnectionRefusedError("store is down"))
        self.batches.append(len(rows))
        return await self.store.insert_ledger_rows(rows)


async def test_rows_are_written_in_batches(store: Store) -> None:
    flaky = FlakyStore(store)
    w = LedgerWriter(flaky.insert, LedgerSettings(batch_size=4, flush_interval_s=0.05))
    for i in range(10):
        w.enqueue(row(f"r{i}"))
    assert await w.flush_once()
    assert flaky.batches == [4, 4, 2] and w.depth == 0
    assert await store.spend_since("key", "kh1", START) == pytest.approx(0.10)


async def test_background_writer_flushes_on_its_own(store: Store) -> None:
    w = LedgerWriter(store.insert_ledger_rows, LedgerSettings(flush_interval_s=0.05))
    w.start()
    w.enqueue(row("bg"))
    for _ in range(100):
        if w.depth == 0:
            break
        await asyncio.sleep(0.02)
    assert len(await store.ledger_rows(request_id="bg")) == 1
    assert await w.drain(1.0) == 0


async def test_store_outage_buffers_counts_and_recovers(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyStore(store)
    w = LedgerWriter(flaky.insert, LedgerSettings(batch_size=10))
    flaky.down = True
    for i in range(5):
        w.enqueue(row(f"o{i}"))
    assert not await w.flush_once()
    assert not await w.flush_once()
    assert w.depth == 5 and w.write_failures_total == 2
    assert "store unavailable" in caplog.text
    flaky.down = False
    assert await w.flush_once()
    assert w.depth == 0 and len(await store.ledger_rows()) == 5


async def test_buffer_is_bounded_and_drops_the_oldest(store: Store) -> None:
    w = LedgerWriter(store.insert_ledger_rows, LedgerSettings(max_buffered_rows=100, batch_size=1000))
    for i in range(130):
        w.enqueue(row(f"b{i}"))
    assert w.depth == 100 and w.rows_dropped_total == 30
    await w.flush_once()
    ids = {r["request_id"] for r in await store.ledger_rows()}
    assert "b0" not in ids and "b129" in ids


async def test_success_replaces_failure_of_the_same_request_in_the_buffer(store: Store) -> None:
    w = LedgerWriter(store.insert_ledger_rows)
    w.enqueue(row("fb", status="failure", cost=0.0))
    w.enqueue(row("fb", status="success", cost=0.03))
    w.enqueue(row("fb", status="failure", cost=0.0))  # a late failure does not undo it
    await w.flush_once()
    [stored] = await store.ledger_rows(request_id="fb")
    assert (stored["status"], stored["cost"]) == ("success", 0.03)


async def test_success_upgrades_a_failure_already_written(store: Store) -> None:
    async def upgrade(rows: list[dict[str, Any]]) -> int:
        return await upgrade_failure_rows(store, rows)

    w = LedgerWriter(store.insert_ledger_rows, upgrade=upgrade)
    w.enqueue(row("late", status="failure", cost=0.0))
    await w.flush_once()
    w.enqueue(row("late", status="success", cost=0.02))
    await w.flush_once()
    [stored] = await store.ledger_rows(request_id="late")
    assert (stored["status"], stored["cost"], stored["error_class"]) == ("success", 0.02, None)


async def test_drain_writes_everything_and_reports_losses(store: Store) -> None:
    flaky = FlakyStore(store)
    w = LedgerWriter(flaky.insert, LedgerSettings(flush_interval_s=5.0))
    w.start()
    for i in range(25):
        w.enqueue(row(f"d{i}"))
    assert await w.drain(5.0) == 0
    assert len(await store.ledger_rows()) == 25

    w2 = LedgerWriter(flaky.insert)
    flaky.down = True
    w2.enqueue(row("lost"))
    assert await w2.drain(0.3) == 1


async def test_pending_rows_count_toward_window_spend(store: Store) -> None:
    w = LedgerWriter(store.insert_ledger_rows)
    w.enqueue(row("p1", cost=0.2))
    w.enqueue(row("p2", cost=0.3, key="other"))
    assert w.pending_spend("key", "kh1", START) == pytest.approx(0.2)
    assert w.pending_spend("team", "research", START) == pytest.approx(0.5)
    assert w.pending_spend("key", "kh1", START + timedelta(seconds=1)) == 0.0


async def test_pending_by_scope_sums_every_id_in_one_pass(store: Store) -> None:
    w = LedgerWriter(store.insert_ledger_rows)
    w.enqueue(row("p1", cost=0.2))
    w.enqueue(row("p2", cost=0.3, key="other"))
    w.enqueue(row("p3", cost=0.1))
    by_key = w.pending_by_scope("key", START)
    assert by_key == pytest.approx({"kh1": 0.3, "other": 0.3})
    assert by_key["kh1"] == pytest.approx(w.pending_spend("key", "kh1", START))
    assert w.pending_by_scope("team", START) == pytest.approx({"research": 0.6})
    assert w.pending_by_scope("user", START) == {}
    assert w.pending_by_scope("key", START + timedelta(seconds=1)) == {}
