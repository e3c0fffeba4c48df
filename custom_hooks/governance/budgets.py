"""Budgets: check, reserve before the call, settle after it (the ``budget_guard`` hook).

Per request, for every budget in ``gateway_identity["budgets"]`` with a ``max_budget``
(key, team, user), in one atomic step of the window counters:

1. if the window's spend (settled + reserved by calls in flight) has REACHED the budget,
   reject with ``budget_exceeded`` (HTTP 400: SDKs do not retry it), naming the budget,
   the spend and the reset time;
2. otherwise reserve the call's estimated cost in every window
   (``metadata.gateway.routing.estimated_cost`` from the cost router when present, else
   :mod:`custom_hooks.core.pricing`'s estimate with ``governance.spend.default_output_tokens``);
3. after the call, settle: drop the reservation and add the real cost (LiteLLM's
   ``response_cost``; 0 for cache hits). A failed call releases its reservation.

What the counters' numbers mean is decided by the pure :func:`.verdict.budget_verdict`
(table-tested); :class:`BudgetService` returns its :class:`~.verdict.BudgetVerdict` and the
hook raises. So the overshoot past a budget with concurrent requests is bounded by the reservations in
flight (and by how far a call's real cost exceeds its estimate).

Agent runs: the outer request to an agent is checked (a run does not start over budget)
but reserves and is charged nothing; its inner calls, which arrive with a run token
resolving to the same key/team/user, are checked, reserved and charged one by one.

Failure policy (``gateway.governance.failure_policy``): Redis unreachable during the
check → ``budget_counters``; the store unreachable when a window must be rebuilt from the
ledger → ``budget_rebuild``. ``open`` lets the request through unreserved (logged,
``metadata.gateway.budget.degraded`` says why); ``closed`` answers 503.
"Now" is :func:`custom_hooks.core.clock.now` (e2e tests move it).

Recovery (:meth:`BudgetService.maintain_once`, a background loop about once a second):

- reservations are leases of ``spend.reservation_lease_s``, renewed by this instance while
  its calls run (at most ``reservation_ttl_s``): a crashed instance's reservations free
  their budget within one lease;
- settlements that failed (Redis unreachable) are retried, and every window this instance
  used recently (up to 2,000) is reconciled with the ledger (:meth:`BudgetService.reconcile`:
  the counter is raised to the ledger's spend, never lowered) as soon as Redis answers
  again, and every ``spend.reconcile_interval_s``. Spend served while Redis was unreachable
  is therefore counted within seconds of its return: each instance writes its own buffered
  ledger rows before it reads the ledger, so the last instance to reconcile sees every
  instance's rows;
- a rebuild reads the store and this process's ledger buffer under the ledger writer's
  lock (:func:`custom_hooks.ledger.writer.ledger_spend`), so a batch being written is counted
  exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core import clock as _clock
from custom_hooks.core.errors import to_proxy_exception
from custom_hooks.core.lifecycle import Step
from custom_hooks.core.record import BudgetRecord, GatewayRecord, gateway_record, identity_of
from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.core.sections.governance import FailurePolicy, SpendSettings
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.governance.verdict import BudgetVerdict, Check, WindowSpend, budget_headers, budget_verdict
from custom_hooks.governance.windows import (
    InProcessCounters,
    RedisCounters,
    Window,
    WindowCounters,
    member,
    window_for,
)
from custom_hooks.store.redis_recovery import RECOVERY, RedisRecovery

__all__ = [
    "BUDGETS",
    "STEP",
    "BudgetGuard",
    "BudgetService",
    "BudgetVerdict",
    "Reservation",
    "SpendSinceFn",
    "get_budget_service",
]

log = logging.getLogger("gateway.budgets")

SpendSinceFn = Callable[[str, str, datetime], Awaitable[float]]
# (scope, scope id, since, stored-spend query) -> stored + buffered spend, read consistently
ConsistentReadFn = Callable[[str, str, datetime, Callable[[], Awaitable[float]]], Awaitable[float]]

_REDIS_ERRORS: tuple[type[BaseException], ...]
try:
    from redis.exceptions import RedisError

    _REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
except ImportError:  # pragma: no cover
    _REDIS_ERRORS = (OSError, asyncio.TimeoutError)
_STORE_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.SQLAlchemyError,
    OSError,
    asyncio.TimeoutError,
    RuntimeError,  # the store is not open
)
_SEED_TIMEOUT_S = 3.0
_SEEN_MAX = 2_000
_DRIFT_USD = 1e-6  # float noise between the counter's sum and the ledger's
_DEGRADED_FOR_S = 10.0  # readiness reports a degraded budget check for this long


@dataclass
class Reservation:
    """A call's hold on its budget windows until it settles."""

    rid: str
    amount: float
    windows: tuple[Window, ...]
    held: bool = True
    charged: bool = False
    created: float = 0.0


@dataclass
class BudgetService:
    """Window counters + the reservations this process holds. One per process."""

    counters: WindowCounters
    spend_since: SpendSinceFn | None = None
    settings: SpendSettings = field(default_factory=SpendSettings)
    policy: FailurePolicy = field(default_factory=FailurePolicy)
    clock: Callable[[], float] = _clock.now
    pending_spend: Callable[[str, str, datetime], float] | None = None
    consistent_read: ConsistentReadFn | None = None
    # writes this process's buffered ledger rows to the store (before a reconciliation reads)
    flush_ledger: Callable[[], Awaitable[object]] | None = None
    _res: OrderedDict[str, Reservation] = field(default_factory=OrderedDict)
    degraded_total: int = 0
    # windows this instance used recently (reconciled with the ledger), newest last
    _seen: OrderedDict[str, Window] = field(default_factory=OrderedDict)
    # (windows, member amount) of reservations whose release failed: retried on recovery
    _unsettled: dict[str, tuple[tuple[Window, ...], float]] = field(default_factory=dict)
    needs_reconcile: bool = False
    last_degraded_at: float | None = None
    last_reconciled_at: float = 0.0
    reconcile_corrections_total: int = 0
    _task: asyncio.Task[None] | None = None

    def windows(self, budgets: Sequence[Mapping[str, Any]], now: float) -> tuple[Window, ...]:
        out = []
        for b in budgets:
            if b.get("max_budget") is None or not b.get("id"):
                continue
            out.append(
                window_for(str(b["scope"]), str(b["id"]), float(b["max_budget"]), b.get("duration"), now)
            )
        return tuple(out)

    async def reserve(
        self, budgets: Sequence[Mapping[str, Any]], amount: float, labels: Mapping[str, str] | None = None
    ) -> BudgetVerdict | None:
        """Check and reserve: the verdict (an ``admit`` holds ``reservation_id``), or None (no budget).

        Never raises for a budget reached or a check that could not run: that is the
        verdict's ``reject`` / ``degraded``, which the hook applies.
        """
        now = self.clock()
        windows = self.windows(budgets, now)
        if not windows:
            return None
        rid = uuid.uuid4().hex
        amount = max(0.0, float(amount))
        self._remember(windows)
        for _ in range(3):
            try:
                outcome = await self.counters.reserve(windows, rid, amount, now, self._lease_s)
            except _REDIS_ERRORS as exc:
                return self._unavailable("budget_counters", "budget counters unavailable", exc, now)
            if outcome.missing:
                failed = await self._seed(outcome.missing, now)
                if failed is not None:
                    return failed
                continue
            if outcome.blocked is not None:  # the counters stop at the first window reached
                spends = [WindowSpend(outcome.blocked, outcome.blocked_total)]
            else:
                spends = [WindowSpend(w, t - amount) for w, t in zip(windows, outcome.totals, strict=True)]
            verdict = budget_verdict(spends, amount, self.policy, now, labels=labels)
            if verdict.action != "admit":
                if outcome.allowed:  # float noise at the limit: do not keep a hold for a rejection
                    with contextlib.suppress(*_REDIS_ERRORS):  # else its lease frees it
                        await self.counters.settle(windows, rid, amount, 0.0)
                return verdict
            self._res[rid] = Reservation(rid, amount, windows, created=now)
            while len(self._res) > 50_000:  # settled long ago or leaked: the TTL frees them
                self._res.popitem(last=False)
            return dataclasses.replace(verdict, reservation_id=rid)
        return self._unavailable("budget_counters", "budget counters could not be seeded", None, now)

    @property
    def _lease_s(self) -> float:
        return min(self.settings.reservation_lease_s, self.settings.reservation_ttl_s)

    def _remember(self, windows: Sequence[Window]) -> None:
        for w in windows:
            self._seen[w.key] = w
            self._seen.move_to_end(w.key)
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)

    async def ledger_spend(self, w: Window) -> float:
        """What the ledger says window ``w`` spent: stored rows + this process's buffered rows."""

        async def stored() -> float:
            if self.spend_since is None:
                return 0.0
            return float(await self.spend_since(w.scope, w.scope_id, w.start_dt))

        if self.consistent_read is not None:
            return await asyncio.wait_for(
                self.consistent_read(w.scope, w.scope_id, w.start_dt, stored), timeout=_SEED_TIMEOUT_S
            )
        spent = await asyncio.wait_for(stored(), timeout=_SEED_TIMEOUT_S)
        if self.pending_spend is not None:
            spent += self.pending_spend(w.scope, w.scope_id, w.start_dt)
        return spent

    async def _seed(self, windows: Sequence[Window], now: float) -> BudgetVerdict | None:
        for w in windows:
            try:
                spent = await self.ledger_spend(w)
            except _STORE_ERRORS as exc:
                return self._unavailable("budget_rebuild", "the ledger store is unavailable", exc, now)
            try:
                await self.counters.seed(w, spent, self.settings.reservation_ttl_s)
            except _REDIS_ERRORS as exc:
                return self._unavailable("budget_counters", "budget counters unavailable", exc, now)
        return None

    def _unavailable(self, check: Check, what: str, exc: BaseException | None, now: float) -> BudgetVerdict:
        """Count and log a check that could not run; the failure policy's verdict on it."""
        verdict = budget_verdict((), 0.0, self.policy, now, unavailable=check)
        self.degraded_total += 1
        self.last_degraded_at = now
        if check == "budget_counters":
            self.needs_reconcile = True  # spend may now be served without reaching the counters
        detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
        if verdict.action == "reject":
            log.warning("budget check failed closed (%s): %s %s", check, what, detail)
        elif self.degraded_total == 1 or self.degraded_total % 100 == 0:
            log.warning(
                "budget check failed open (%s, %d so far): %s %s", check, self.degraded_total, what, detail
            )
        return verdict

    async def charge(self, rid: str | None, actual: float) -> None:
        """Settle a successful call: drop its reservation, add its real cost (once)."""
        res = self._res.get(rid or "")
        if res is None or res.charged:
            return
        res.charged, was_held, res.held = True, res.held, False
        try:
            await self.counters.settle(
                res.windows, rid or "", res.amount if was_held else 0.0, float(actual or 0.0)
            )
        except _REDIS_ERRORS as exc:
            log.warning(
                "budget settlement failed (%s); retried with the ledger's spend once Redis answers",
                type(exc).__name__,
            )
            self._settlement_lost(res, was_held)
        self._res.pop(rid or "", None)

    def _settlement_lost(self, res: Reservation, was_held: bool) -> None:
        self.needs_reconcile = True
        if was_held:
            self._unsettled[res.rid] = (res.windows, res.amount)
            while len(self._unsettled) > 50_000:  # the lease frees the rest
                self._unsettled.pop(next(iter(self._unsettled)))

    async def release(self, rid: str | None) -> None:
        """A call failed (perhaps before a fallback succeeds): drop its reservation only."""
        res = self._res.get(rid or "")
        if res is None or not res.held or res.charged:
            return
        res.held = False
        try:
            await self.counters.settle(res.windows, rid or "", res.amount, 0.0)
        except _REDIS_ERRORS as exc:
            log.warning("budget reservation release failed (%s); retried later", type(exc).__name__)
            self._settlement_lost(res, True)

    # --- recovery: leases, lost settlements, reconciliation with the ledger -------------

    def request_reconcile(self) -> None:
        """Reconcile at the next maintenance tick (Redis came back)."""
        self.needs_reconcile = True

    async def renew_leases(self, now: float) -> None:
        """Extend the lease of every reservation still held (younger than reservation_ttl_s)."""
        groups: dict[tuple[Window, ...], list[str]] = {}
        for res in list(self._res.values()):
            if not res.held or res.charged:
                continue
            if now - res.created >= self.settings.reservation_ttl_s:
                res.held = False  # never settled: let its lease run out
                continue
            groups.setdefault(res.windows, []).append(member(res.rid, res.amount))
        for windows, members in groups.items():
            await self.counters.renew(windows, members, now + self._lease_s)

    async def reconcile(self) -> int:
        """Retry lost releases, then raise every recent window's counter to the ledger's spend.

        Returns how many counters were raised. Raises the Redis or store error that stopped it
        (the caller retries at the next tick).
        """
        for rid, (windows, amount) in list(self._unsettled.items()):
            await self.counters.settle(windows, rid, amount, 0.0)
            self._unsettled.pop(rid, None)
        if self.flush_ledger is not None:
            # Each instance reads the store plus only its own buffer. If every instance writes
            # its buffer before it reads, the last one to reconcile sees every instance's rows;
            # otherwise spend still buffered on the others stays missing until the next one.
            await self.flush_ledger()
        now = self.clock()
        corrected = 0
        for key, w in list(self._seen.items()):
            if w.end is not None and w.end <= now:
                self._seen.pop(key, None)
                continue
            spent = await self.ledger_spend(w)
            before = await self.counters.raise_to(w, spent, self._lease_s)
            if before is not None and spent > before + _DRIFT_USD:
                corrected += 1
                log.info(
                    "budget counter %s raised from %.6f to the ledger's %.6f (spend served while the"
                    " counters were unreachable)",
                    w.scope,
                    before,
                    spent,
                )
        self.reconcile_corrections_total += corrected
        self.last_reconciled_at = now
        self.needs_reconcile = False
        return corrected

    async def maintain_once(self) -> None:
        """One maintenance tick: renew leases; reconcile when asked or when it is time."""
        now = self.clock()
        try:
            await self.renew_leases(now)
        except _REDIS_ERRORS:
            return  # Redis still away: the next tick tries again
        interval = self.settings.reconcile_interval_s
        due = interval > 0 and now - self.last_reconciled_at >= interval
        if not (self.needs_reconcile or due):
            return
        try:
            await self.reconcile()
        except (*_REDIS_ERRORS, *_STORE_ERRORS) as exc:
            self.needs_reconcile = True
            log.debug("budget reconciliation postponed (%s)", type(exc).__name__)

    async def _maintain(self) -> None:
        tick = min(1.0, self._lease_s / 3)
        while True:
            await asyncio.sleep(tick)
            try:
                await self.maintain_once()
            except Exception:  # the loop must survive anything one tick does
                log.warning("budget maintenance tick failed", exc_info=True)

    def start(self) -> None:
        """Start the maintenance loop (leases, reconciliation) on the running loop."""
        if self._task is None or self._task.done():
            self.last_reconciled_at = self.clock()
            self._task = asyncio.get_running_loop().create_task(self._maintain(), name="gateway-budgets")

    def problems(self, now: float | None = None) -> list[str]:
        """What is degraded in budget enforcement right now (empty: nothing)."""
        now = self.clock() if now is None else now
        out = []
        if self.last_degraded_at is not None and now - self.last_degraded_at < _DEGRADED_FOR_S:
            out.append(f"budget checks degraded within {_DEGRADED_FOR_S:g}s ({self.degraded_total} total)")
        if self.needs_reconcile:
            out.append("budget counters not yet reconciled with the ledger after an outage")
        return out

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.counters.close()


# --- estimate --------------------------------------------------------------------------


def _model_is_agent(model: str | None) -> bool:
    from custom_hooks.core.pricing import catalog_for

    if not model:
        return False
    cfg = services().config
    spec = catalog_for(str(cfg.path))[1].get(model)
    return bool(spec is not None and spec.is_agent)


def estimate_cost(
    data: Mapping[str, Any], call_type: str, record: GatewayRecord, default_output_tokens: int
) -> float:
    """The cost to reserve: the router's estimate, else the catalog price (0 when unknown)."""
    routing = record.routing
    if routing is not None and routing.get("estimated_cost") is not None:
        return float(routing["estimated_cost"])
    from custom_hooks.core.pricing import catalog_for, request_kind, request_shape
    from custom_hooks.core.pricing import estimate_cost as price

    cfg = services().config
    spec = catalog_for(str(cfg.path))[1].get(str(data.get("model")))
    if spec is None:
        return 0.0
    shape = request_shape(data, request_kind(call_type, data), spec.tokenizer_model, approx=True)
    return float(price(spec, shape, default_output_tokens))


# --- the process's service -------------------------------------------------------------

BUDGETS: Slot[BudgetService] = Slot("budgets", "the budget service")


def get_budget_service() -> BudgetService:
    """The process's budget service (:class:`GatewayStarting` before the budgets step ran)."""
    return services().get(BUDGETS)


class BudgetGuard(CustomLogger):
    """Pre-call budget check + reservation; settlement after the call; budget headers."""

    def __init__(
        self,
        service: BudgetService | None = None,
        is_agent: Callable[[str | None], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._own = service
        self._is_agent = is_agent or _model_is_agent

    @property
    def service(self) -> BudgetService:
        return self._own or get_budget_service()

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        svc = self.service
        if not svc.settings.enforce_budgets:
            return data
        ident = identity_of(user_api_key_dict)
        budgets = [dict(b) for b in ident.enforced_budgets] if ident is not None else []
        if ident is None or not budgets:
            return data
        record = gateway_record(data)
        agent = self._is_agent(data.get("model"))
        amount = 0.0 if agent else estimate_cost(data, call_type, record, svc.settings.default_output_tokens)
        labels = {"key": ident.key_alias or "", "team": ident.team_id or "", "user": ""}
        verdict = await svc.reserve(budgets, amount, {k: v for k, v in labels.items() if v})
        if verdict is None:
            return data
        err = verdict.error()
        if err is not None:
            raise to_proxy_exception(err)
        scopes = [b["scope"] for b in budgets]
        if verdict.action == "degraded":
            record.budget = {
                "reserved": 0.0,
                "reservation_id": None,
                "scopes": scopes,
                "degraded": verdict.reason,
            }
            return data
        budget: BudgetRecord = {
            "reserved": verdict.reserve,
            "reservation_id": verdict.reservation_id,
            "scopes": scopes,
            "agent": agent,
        }
        if verdict.window is not None:
            reset = verdict.reset_at
            budget["limit"] = verdict.window.limit
            budget["remaining"] = max(0.0, verdict.remaining or 0.0)
            budget["binding_scope"] = verdict.window.scope
            budget["reset_at"] = reset.isoformat() if reset else None
        record.budget = budget
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        # Non-streaming: settle before the response leaves, so the next call sees the real cost.
        b = gateway_record(data).budget or {}
        rid = b.get("reservation_id")
        if rid:  # the service is reached only with a reservation to settle
            hidden = getattr(response, "_hidden_params", None) or {}
            cost = 0.0 if b.get("agent") else float(hidden.get("response_cost") or 0.0)
            await self.service.charge(rid, cost)
        return response

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        # Streams (and anything the success hook did not settle) settle here.
        if not isinstance(kwargs, dict):
            return
        event = event_from_logging_kwargs(kwargs, "success")
        if event.reservation_id is not None:
            await self.service.charge(event.reservation_id, event.charged_cost)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if not isinstance(kwargs, dict):
            return
        rid = event_from_logging_kwargs(kwargs, "failure").reservation_id
        if rid:
            await self.service.release(rid)

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> Any:
        rid = gateway_record(request_data).reservation_id
        if rid:
            await self.service.release(rid)
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: UserAPIKeyAuth,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        svc = self.service
        if not svc.settings.headers:
            return None
        b = gateway_record(data).budget or {}
        if b.get("limit") is None:
            return None
        return budget_headers(
            float(b["limit"]),
            float(b.get("remaining") or 0.0),
            str(b.get("binding_scope") or ""),
            str(b["reset_at"]) if b.get("reset_at") else None,
        )


# --- start-up: counters, rebuild source, rate-limit policy ----------------------------


def _apply_rate_limit_policy(policy: FailurePolicy) -> None:
    """Map ``failure_policy.rate_limits`` onto LiteLLM's limiter setting."""
    from litellm.proxy import proxy_server

    settings = getattr(proxy_server, "general_settings", None)  # a dict or LiteLLM's SettingsStore
    if settings is not None and hasattr(settings, "__setitem__"):
        settings["fail_closed_rate_limit_enforcement"] = policy.rate_limits == "closed"


async def _start(svc: Services) -> None:
    from custom_hooks.ledger import writer as _ledger
    from custom_hooks.store import store as _store

    settings, gov = svc.settings, svc.config.gateway.governance
    store = svc.get(_store.STORE)
    counters: WindowCounters
    if settings.redis_url:
        counters = RedisCounters(settings.redis_url, timeout_s=gov.spend.redis_timeout_s)
    else:
        counters = InProcessCounters()
        if int(getattr(settings, "workers", 1) or 1) > 1:
            log.warning(
                "budgets: %s workers without GATEWAY_REDIS_URL keep separate window counters each;"
                " a budget can be overspent up to %sx. Set GATEWAY_REDIS_URL to share them.",
                settings.workers,
                settings.workers,
            )

    async def spend_since(scope: str, scope_id: str, since: datetime) -> float:
        return await store.spend_since(scope, scope_id, since)  # type: ignore[arg-type]

    budgets = BudgetService(
        counters,
        spend_since=spend_since,
        settings=gov.spend,
        policy=gov.failure_policy,
        consistent_read=_ledger.ledger_spend,
        flush_ledger=_ledger.flush,
    )
    svc.provide(BUDGETS, budgets)
    budgets.start()
    _apply_rate_limit_policy(gov.failure_policy)
    recovery: RedisRecovery | None = None
    if settings.redis_url:
        recovery = RedisRecovery(
            settings.redis_url,
            probe_interval_s=gov.recovery.probe_interval_s,
            breaker_recovery_s=gov.recovery.breaker_recovery_s,
        )
        recovery.on_recover(_reconcile_soon(budgets))
        recovery.start()
    svc.provide(RECOVERY, recovery)  # None without Redis: absent, not "not started"
    log.info("budgets: window counters in %s", counters.backend)


def _reconcile_soon(budgets: BudgetService) -> Callable[[], Awaitable[None]]:
    async def reconcile() -> None:
        budgets.request_reconcile()

    return reconcile


async def _stop(svc: Services) -> None:
    recovery = svc.take(RECOVERY)
    if recovery is not None:
        await recovery.close()
    budgets = svc.take(BUDGETS)
    if budgets is not None:
        await budgets.close()


STEP = Step("budgets", _start, _stop)
