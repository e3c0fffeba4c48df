"""Budgets: check, reserve before the call, settle after it (the ``budget_guard`` hook).

Per request, for every budget in ``gateway_identity["budgets"]`` with a ``max_budget``
(key, team, user), in one atomic step:

1. if the window's spend (settled + reserved by calls in flight) has REACHED the budget,
   reject with ``budget_exceeded`` (HTTP 400: SDKs do not retry it), naming the budget,
   the spend and the reset time;
2. otherwise reserve the call's estimated cost in every window
   (``metadata.gateway.routing.estimated_cost`` from the cost router when present, else
   :mod:`custom_hooks.core.pricing`'s estimate with ``governance.spend.default_output_tokens``);
3. after the call, settle: drop the reservation and add the real cost (LiteLLM's
   ``response_cost``; 0 for cache hits). A failed call releases its reservation.

So the overshoot past a budget with concurrent requests is bounded by the reservations in
flight (and by how far a call's real cost exceeds its estimate).

Agent runs: the outer request to an agent is checked (a run does not start over budget)
but reserves and is charged nothing; its inner calls, which arrive with a run token
resolving to the same key/team/user, are checked, reserved and charged one by one.

Failure policy (``gateway.governance.failure_policy``): Redis unreachable during the
check → ``budget_counters``; the store unreachable when a window must be rebuilt from the
ledger → ``budget_rebuild``. ``open`` lets the request through unreserved (logged,
``metadata.gateway.budget.degraded`` says why); ``closed`` answers 503.

Recovery (:meth:`BudgetService.maintain_once`, a background loop about once a second):

- reservations are leases of ``spend.reservation_lease_s``, renewed by this instance while
  its calls run (at most ``reservation_ttl_s``): a crashed instance's reservations free
  their budget within one lease;
- settlements that failed (Redis unreachable) are retried, and every window this instance
  used recently (up to 2,000) is reconciled with the ledger (:meth:`BudgetService.reconcile`:
  the counter is raised to the ledger's spend, never lowered) as soon as Redis answers
  again, and every ``spend.reconcile_interval_s``. Spend served while Redis was unreachable
  is therefore counted within seconds of its return (once its ledger rows are written:
  rows still buffered on another instance are counted by the next reconciliation);
- a rebuild reads the store and this process's ledger buffer under the ledger writer's
  lock (:func:`custom_hooks.ledger.writer.ledger_spend`), so a batch being written is counted
  exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core import lifecycle as _lifecycle
from custom_hooks.core.errors import BudgetExceeded, GatewayError, ServiceUnavailable, to_proxy_exception
from custom_hooks.core.record import BudgetRecord, GatewayRecord, gateway_record, identity_of
from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.core.sections.governance import FailurePolicy, SpendSettings
from custom_hooks.governance.windows import (
    InProcessCounters,
    RedisCounters,
    Window,
    WindowCounters,
    member,
    window_for,
)
from custom_hooks.store.redis_recovery import RedisRecovery, get_recovery, set_recovery

__all__ = [
    "BudgetGuard",
    "BudgetService",
    "Reservation",
    "SpendSinceFn",
    "get_budget_service",
    "set_budget_service",
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
    totals: tuple[float, ...]
    held: bool = True
    charged: bool = False
    created: float = 0.0

    def remaining(self) -> tuple[Window, float] | None:
        """The binding window and what is left in it (after this reservation)."""
        best: tuple[Window, float] | None = None
        for w, total in zip(self.windows, self.totals, strict=False):
            left = w.limit - total
            if best is None or left < best[1]:
                best = (w, left)
        return best


def _money(x: float) -> str:
    return f"${x:.4f}" if abs(x) < 100 else f"${x:,.2f}"


def budget_headers(limit: float, remaining: float, scope: str, reset_at: str | None) -> dict[str, str]:
    """``x-gateway-budget-*`` response headers for the binding budget."""
    headers = {
        "x-gateway-budget-limit": f"{limit:.6f}",
        "x-gateway-budget-remaining": f"{max(0.0, remaining):.6f}",
        "x-gateway-budget-scope": scope,
    }
    if reset_at:
        headers["x-gateway-budget-reset"] = reset_at
    return headers


def exceeded_message(window: Window, total: float, label: str | None) -> str:
    who = {"key": "key", "team": "team", "user": "user"}.get(window.scope, window.scope)
    name = label or window.scope_id
    if window.reset_at is None:
        when = "This budget does not reset; ask an admin to raise it."
    else:
        when = (
            f"It resets at {window.reset_at.isoformat().replace('+00:00', 'Z')}; retry then or ask an admin."
        )
    return (
        f"Budget exceeded for {who} '{name}': spent {_money(total)} (including calls in flight) "
        f"of a {_money(window.limit)} budget. {when}"
    )


@dataclass
class BudgetService:
    """Window counters + the reservations this process holds. One per process."""

    counters: WindowCounters
    spend_since: SpendSinceFn | None = None
    settings: SpendSettings = field(default_factory=SpendSettings)
    policy: FailurePolicy = field(default_factory=FailurePolicy)
    clock: Callable[[], float] = time.time
    pending_spend: Callable[[str, str, datetime], float] | None = None
    consistent_read: ConsistentReadFn | None = None
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
    reconcile_added_usd: float = 0.0
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
    ) -> Reservation | str | None:
        """Check and reserve; returns the reservation, a degradation reason, or None (no budget).

        Raises :class:`BudgetExceeded`, or :class:`ServiceUnavailable` under a closed policy.
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
                return self._degrade("budget_counters", "budget counters unavailable", exc)
            if outcome.missing:
                failed = await self._seed(outcome.missing)
                if failed is not None:
                    return failed
                continue
            if outcome.blocked is not None:
                w = outcome.blocked
                raise BudgetExceeded(
                    exceeded_message(w, outcome.blocked_total, (labels or {}).get(w.scope)),
                    headers=budget_headers(
                        w.limit, 0.0, w.scope, w.reset_at.isoformat() if w.reset_at else None
                    ),
                )
            res = Reservation(rid, amount, windows, outcome.totals, created=now)
            self._res[rid] = res
            while len(self._res) > 50_000:  # settled long ago or leaked: the TTL frees them
                self._res.popitem(last=False)
            return res
        return self._degrade("budget_counters", "budget counters could not be seeded", None)

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

    async def _seed(self, windows: Sequence[Window]) -> str | None:
        for w in windows:
            try:
                spent = await self.ledger_spend(w)
            except _STORE_ERRORS as exc:
                return self._degrade("budget_rebuild", "the ledger store is unavailable", exc)
            try:
                await self.counters.seed(w, spent, self.settings.reservation_ttl_s)
            except _REDIS_ERRORS as exc:
                return self._degrade("budget_counters", "budget counters unavailable", exc)
        return None

    def _degrade(self, check: str, what: str, exc: BaseException | None) -> str:
        mode = getattr(self.policy, check)
        self.degraded_total += 1
        self.last_degraded_at = self.clock()
        if check == "budget_counters":
            self.needs_reconcile = True  # spend may now be served without reaching the counters
        detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
        if mode == "closed":
            log.warning("budget check failed closed (%s): %s %s", check, what, detail)
            raise ServiceUnavailable(
                f"Budget checks are unavailable right now ({what}); the request was not sent. Retry shortly."
            )
        if self.degraded_total == 1 or self.degraded_total % 100 == 0:
            log.warning(
                "budget check failed open (%s, %d so far): %s %s", check, self.degraded_total, what, detail
            )
        return f"{check}_unavailable"

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
                self.reconcile_added_usd += spent - before
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
    try:
        cfg = _lifecycle.current_config()
    except Exception:  # no config (unit tests): nothing is an agent
        return False
    spec = catalog_for(str(cfg.path))[1].get(model)
    return bool(spec is not None and spec.is_agent) or model in cfg.gateway.agents.registry


def estimate_cost(
    data: Mapping[str, Any], call_type: str, record: GatewayRecord, default_output_tokens: int
) -> float:
    """The cost to reserve: the router's estimate, else ``_pricing``'s (0 when unknown)."""
    routing = record.routing
    if routing is not None and routing.get("estimated_cost") is not None:
        return float(routing["estimated_cost"])
    from custom_hooks.core.pricing import catalog_for, request_kind, request_shape
    from custom_hooks.core.pricing import estimate_cost as price

    try:
        cfg = _lifecycle.current_config()
        spec = catalog_for(str(cfg.path))[1].get(str(data.get("model")))
    except Exception:
        return 0.0
    if spec is None:
        return 0.0
    shape = request_shape(data, request_kind(call_type, data), spec.tokenizer_model, approx=True)
    return float(price(spec, shape, default_output_tokens))


# --- the process-wide service --------------------------------------------------------

_service: BudgetService | None = None


def get_budget_service() -> BudgetService | None:
    return _service


def set_budget_service(service: BudgetService | None) -> None:
    """Install the service hooks use (start-up; tests install their own)."""
    global _service
    _service = service


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
    def service(self) -> BudgetService | None:
        return self._own or get_budget_service()

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        svc = self.service
        if svc is None or not svc.settings.enforce_budgets:
            return data
        ident = identity_of(user_api_key_dict)
        budgets = [dict(b) for b in ident.enforced_budgets] if ident is not None else []
        if ident is None or not budgets:
            return data
        record = gateway_record(data)
        agent = self._is_agent(data.get("model"))
        amount = 0.0 if agent else estimate_cost(data, call_type, record, svc.settings.default_output_tokens)
        labels = {"key": ident.key_alias or "", "team": ident.team_id or "", "user": ""}
        try:
            res = await svc.reserve(budgets, amount, {k: v for k, v in labels.items() if v})
        except GatewayError as err:
            raise to_proxy_exception(err) from None
        scopes = [b["scope"] for b in budgets]
        if isinstance(res, Reservation):
            binding = res.remaining()
            budget: BudgetRecord = {
                "reserved": res.amount,
                "reservation_id": res.rid,
                "scopes": scopes,
                "agent": agent,
            }
            if binding is not None:
                w, left = binding
                budget["limit"] = w.limit
                budget["remaining"] = max(0.0, left)
                budget["binding_scope"] = w.scope
                budget["reset_at"] = w.reset_at.isoformat() if w.reset_at else None
            record.budget = budget
        elif isinstance(res, str):
            record.budget = {"reserved": 0.0, "reservation_id": None, "scopes": scopes, "degraded": res}
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        # Non-streaming: settle before the response leaves, so the next call sees the real cost.
        b = gateway_record(data).budget or {}
        rid = b.get("reservation_id")
        svc = self.service
        if svc is not None and rid:
            hidden = getattr(response, "_hidden_params", None) or {}
            cost = 0.0 if b.get("agent") else float(hidden.get("response_cost") or 0.0)
            await svc.charge(rid, cost)
        return response

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        # Streams (and anything the success hook did not settle) settle here.
        svc = self.service
        if svc is None or not isinstance(kwargs, dict):
            return
        event = event_from_logging_kwargs(kwargs, "success")
        if event.reservation_id is not None:
            await svc.charge(event.reservation_id, event.charged_cost)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        svc = self.service
        if svc is not None and isinstance(kwargs, dict):
            await svc.release(event_from_logging_kwargs(kwargs, "failure").reservation_id)

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> Any:
        svc = self.service
        if svc is not None:
            await svc.release(gateway_record(request_data).reservation_id)
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
        if svc is None or not svc.settings.headers:
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


async def _start(settings: Any, config: Any) -> None:
    from custom_hooks.ledger import writer as _ledger
    from custom_hooks.store import store as _store

    gov = config.gateway.governance
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
        return await _store.get_store().spend_since(scope, scope_id, since)  # type: ignore[arg-type]

    svc = BudgetService(
        counters,
        spend_since=spend_since,
        settings=gov.spend,
        policy=gov.failure_policy,
        consistent_read=_ledger.ledger_spend,
    )
    set_budget_service(svc)
    svc.start()
    _apply_rate_limit_policy(gov.failure_policy)
    if settings.redis_url:
        recovery = RedisRecovery(
            settings.redis_url,
            probe_interval_s=gov.recovery.probe_interval_s,
            breaker_recovery_s=gov.recovery.breaker_recovery_s,
        )
        recovery.on_recover(_reconcile_soon)
        set_recovery(recovery)
        recovery.start()
    log.info("budgets: window counters in %s", counters.backend)


async def _reconcile_soon() -> None:
    svc = get_budget_service()
    if svc is not None:
        svc.request_reconcile()


async def _stop() -> None:
    recovery = get_recovery()
    set_recovery(None)
    if recovery is not None:
        await recovery.close()
    svc = get_budget_service()
    set_budget_service(None)
    if svc is not None:
        await svc.close()


_lifecycle.on_startup("budgets", _start)
_lifecycle.on_shutdown("budgets", _stop)
