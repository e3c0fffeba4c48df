"""The spend ledger's write queue: rows are written off the request path, in batches.

Logging callbacks :func:`enqueue` a row (never blocks, never raises); one background
task writes batches of ``gateway.governance.ledger.batch_size`` rows every
``flush_interval_s`` (sooner when a batch is full) through the store.

- Store down: rows stay buffered (at most ``max_buffered_rows``; beyond that the OLDEST
  rows are dropped and counted), the writer retries with exponential backoff up to
  ``retry_max_backoff_s``, and logs one line when the outage starts and one when it ends.
  Requests never wait for the store.
- SIGTERM: :func:`drain` (the ledger step's stop) waits for LiteLLM's
  pending logging callbacks, then writes every buffered row (bounded by
  ``drain_timeout_s``). A hard kill (SIGKILL, OOM, power loss) loses the rows still
  buffered: at most ``flush_interval_s`` worth of traffic while the store is healthy,
  everything buffered during a store outage.
- One row per request id. A request that failed on one deployment and then succeeded on
  a fallback produces a failure event and a success event with the same id: the success
  wins, in the buffer and, if the failure row was already written, by upgrading it.

- Rebuilding a budget window reads the store AND the buffer; a batch moving from one to
  the other in between would be counted twice or not at all. :meth:`LedgerWriter.spend`
  reads both under the writer's lock, which every batch write (insert + removal from the
  buffer) also holds, so a rebuild sees each row exactly once.

Counters for the metrics helper: :func:`ledger_queue_depth`,
:func:`ledger_write_failures_total`, :func:`ledger_rows_dropped_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.sections.governance import LedgerSettings
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.store import schema as s
from custom_hooks.store import store as _store

__all__ = [
    "LEDGER",
    "STEP",
    "LedgerWriter",
    "drain",
    "enqueue",
    "ledger_queue_depth",
    "ledger_rows_dropped_total",
    "ledger_spend",
    "ledger_write_failures_total",
    "pending_by_scope",
    "pending_spend",
]

log = logging.getLogger("gateway.ledger")

Row = dict[str, Any]
InsertFn = Callable[[list[Row]], Awaitable[int]]
UpgradeFn = Callable[[list[Row]], Awaitable[int]]

_RANK = {"failure": 0, "cache_hit": 1, "success": 2}
_SCOPE_FIELD = {"key": "key_hash", "team": "team_id", "user": "user_id"}
# Errors that mean "the store is unavailable right now": retry later.
_STORE_ERRORS: tuple[type[BaseException], ...] = (sa.exc.SQLAlchemyError, OSError, asyncio.TimeoutError)


def _rank(row: Mapping[str, Any]) -> int:
    return _RANK.get(str(row.get("status")), 0)


class LedgerWriter:
    """A bounded buffer of ledger rows and the task that writes it."""

    def __init__(
        self,
        insert: InsertFn,
        settings: LedgerSettings | None = None,
        *,
        upgrade: UpgradeFn | None = None,
    ) -> None:
        self.settings = settings or LedgerSettings()
        self._insert = insert
        self._upgrade = upgrade
        self._buffer: OrderedDict[str, Row] = OrderedDict()  # request_id -> row, oldest first
        self._written_failures: OrderedDict[str, None] = OrderedDict()  # ids written as failures
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.write_failures_total = 0
        self.rows_dropped_total = 0
        self._outage_since: float | None = None
        # Held while a batch moves from the buffer to the store, and by spend() while it
        # reads both: a rebuild never sees a batch in neither place (or in both).
        self._moving = asyncio.Lock()

    # --- producer side (request path: synchronous, never raises) -------------------

    def enqueue(self, row: Row) -> None:
        rid = str(row["request_id"])
        held = self._buffer.get(rid)
        if held is not None:
            if _rank(row) > _rank(held):
                self._buffer[rid] = row
            return
        if rid in self._written_failures and _rank(row) > 0:
            row = {**row, "_upgrade": True}
        self._buffer[rid] = row
        if len(self._buffer) > self.settings.max_buffered_rows:
            _, dropped = self._buffer.popitem(last=False)
            self.rows_dropped_total += 1
            if self.rows_dropped_total == 1 or self.rows_dropped_total % 1000 == 0:
                log.error(
                    "ledger buffer full (%d rows): dropped the oldest row (request %s); %d dropped so far."
                    " The store has been unreachable too long (gateway.governance.ledger.max_buffered_rows)",
                    self.settings.max_buffered_rows,
                    dropped.get("request_id"),
                    self.rows_dropped_total,
                )
        if len(self._buffer) >= self.settings.batch_size:
            self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._buffer)

    def pending_spend(self, scope: str, scope_id: str, since: datetime) -> float:
        """Cost of buffered (not yet written) rows of one key/team/user since ``since``."""
        field = _SCOPE_FIELD[scope]
        return sum(
            float(r.get("cost") or 0.0)
            for r in self._buffer.values()
            if r.get(field) == scope_id and r.get("created_at") is not None and r["created_at"] >= since
        )

    async def spend(
        self, scope: str, scope_id: str, since: datetime, stored: Callable[[], Awaitable[float]]
    ) -> float:
        """Stored spend (``stored()``, a store query) + buffered spend, read consistently.

        No batch is written while the two are read, so a row is counted exactly once.
        """
        async with self._moving:
            return float(await stored()) + self.pending_spend(scope, scope_id, since)

    def pending_by_scope(self, scope: str, since: datetime) -> dict[str, float]:
        """Cost of buffered rows since ``since`` per key/team/user id, in one pass over the buffer.

        The buffered counterpart of ``Store.spend_by_scope_since`` (rows without that id are skipped).
        """
        field = _SCOPE_FIELD[scope]
        out: dict[str, float] = {}
        for r in self._buffer.values():
            sid = r.get(field)
            if sid is None or r.get("created_at") is None or r["created_at"] < since:
                continue
            out[str(sid)] = out.get(str(sid), 0.0) + float(r.get("cost") or 0.0)
        return out

    # --- writer side ---------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-ledger-writer")

    async def _run(self) -> None:
        backoff = 0.0
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff or self.settings.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                break
            if await self.flush_once():
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, 0.5), self.settings.retry_max_backoff_s)

    async def flush_once(self) -> bool:
        """Write everything buffered, batch by batch. False if the store failed (rows kept)."""
        while self._buffer:
            async with self._moving:
                if not await self._move_batch():
                    return False
            if self._outage_since is not None:
                log.warning(
                    "ledger: store reachable again after %.1fs; writing %d buffered rows",
                    time.monotonic() - self._outage_since,
                    len(self._buffer),
                )
                self._outage_since = None
        return True

    async def _move_batch(self) -> bool:
        """Write the oldest batch and drop it from the buffer (caller holds the lock)."""
        if self._buffer:
            batch = list(itertools.islice(self._buffer.values(), self.settings.batch_size))
            try:
                await self._write(batch)
            except _STORE_ERRORS as exc:
                self.write_failures_total += 1
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    log.error(
                        "ledger: store unavailable (%s: %s); %d rows buffered, retrying with backoff."
                        " Requests are not affected.",
                        type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "",
                        len(self._buffer),
                    )
                return False
            for row in batch:
                rid = str(row["request_id"])
                current = self._buffer.get(rid)
                if current is row:
                    del self._buffer[rid]
                elif current is not None and row.get("status") == "failure":
                    current["_upgrade"] = True  # replaced while being written
                if row.get("status") == "failure":
                    self._written_failures[rid] = None
                    if len(self._written_failures) > 10_000:
                        self._written_failures.popitem(last=False)
        return True

    async def _write(self, batch: list[Row]) -> None:
        plain = [{k: v for k, v in r.items() if k != "_upgrade"} for r in batch if not r.get("_upgrade")]
        upgrades = [{k: v for k, v in r.items() if k != "_upgrade"} for r in batch if r.get("_upgrade")]
        if plain:
            await self._insert(plain)
        if upgrades:
            if self._upgrade is not None:
                await self._upgrade(upgrades)
            else:
                await self._insert(upgrades)

    async def drain(self, timeout: float | None = None) -> int:
        """Write every buffered row (SIGTERM); returns how many rows could not be written."""
        deadline = time.monotonic() + (timeout or self.settings.drain_timeout_s)
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=max(0.1, deadline - time.monotonic()))
            self._task = None
        while self._buffer and time.monotonic() < deadline:
            if not await self.flush_once():
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        left = len(self._buffer)
        if left:
            log.error("ledger: %d rows could not be written before shutdown and are lost", left)
        return left


async def upgrade_failure_rows(store: _store.Store, rows: list[Row]) -> int:
    """Replace stored failure rows by the success rows of the same requests (fallbacks).

    Kept separate from the store's insert: only the ledger writer needs it. Rows whose
    request id is not stored yet are inserted.
    """
    await store.insert_ledger_rows(rows)
    changed = 0
    async with store.engine.begin() as conn:
        for row in rows:
            values = {k: v for k, v in row.items() if k not in ("request_id", "id")}
            stmt = (
                s.ledger.update()
                .where(s.ledger.c.request_id == row["request_id"], s.ledger.c.status == "failure")
                .values(**values)
            )
            changed += int((await conn.execute(stmt)).rowcount or 0)
    return changed


# --- the process's writer ------------------------------------------------------------

LEDGER: Slot[LedgerWriter] = Slot("ledger", "the spend ledger")


def _writer() -> LedgerWriter:
    return services().get(LEDGER)


def enqueue(row: Row) -> None:
    """Queue one ledger row for writing (:class:`GatewayStarting` before the ledger started)."""
    _writer().enqueue(row)


def pending_spend(scope: str, scope_id: str, since: datetime) -> float:
    return _writer().pending_spend(scope, scope_id, since)


async def ledger_spend(
    scope: str, scope_id: str, since: datetime, stored: Callable[[], Awaitable[float]]
) -> float:
    """Stored + buffered spend of one key/team/user since ``since``, read consistently."""
    return await _writer().spend(scope, scope_id, since, stored)


async def flush() -> bool:
    """Write this process's buffered rows now; False if the store failed (rows kept)."""
    return await _writer().flush_once()


def pending_by_scope(scope: str, since: datetime) -> dict[str, float]:
    """Buffered spend per id of one scope since ``since``."""
    return _writer().pending_by_scope(scope, since)


def ledger_queue_depth() -> int:
    """Rows buffered and not yet written (a gauge for /metrics)."""
    return _writer().depth


def ledger_write_failures_total() -> int:
    """Failed batch writes since start (a counter for /metrics)."""
    return _writer().write_failures_total


def ledger_rows_dropped_total() -> int:
    """Rows dropped because the buffer was full during a long store outage."""
    return _writer().rows_dropped_total


async def _flush_litellm_logging(timeout: float) -> None:
    """Let LiteLLM run the logging callbacks of requests that just finished."""
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    except ImportError:  # pragma: no cover - older LiteLLM
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=timeout)


async def _start(svc: Services) -> None:
    store = svc.get(_store.STORE)
    gov = svc.config.gateway.governance

    async def insert(rows: list[Row]) -> int:
        return await store.insert_ledger_rows(rows)

    async def upgrade(rows: list[Row]) -> int:
        return await upgrade_failure_rows(store, rows)

    writer = LedgerWriter(insert, gov.ledger, upgrade=upgrade)
    writer.start()
    svc.provide(LEDGER, writer)


async def drain(svc: Services) -> None:
    """Shutdown: flush LiteLLM's pending callbacks, then every buffered row."""
    writer = svc.take(LEDGER)
    if writer is None:
        return
    timeout = writer.settings.drain_timeout_s
    await _flush_litellm_logging(timeout / 2)
    await asyncio.sleep(0.05)  # callbacks scheduled as tasks by the flushed ones
    await writer.drain(timeout / 2)


STEP = Step("ledger", _start, drain)
