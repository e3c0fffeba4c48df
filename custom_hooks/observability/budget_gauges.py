"""Budget limit and remaining per team (and per key alias when opted in), for /metrics.

Computed from the source of truth: budgets from the store (teams' and keys'
``max_budget`` / ``budget_duration``), spend in the current window from the ledger plus
the rows still queued for it, the same epoch-aligned windows the budget guard uses
(:func:`custom_hooks.governance.windows.window_for`). Refreshed at most every ``min_interval_s``
(scrapes and the background loop share the result), so a scrape costs one grouped
query per window length, not one per team.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from custom_hooks.observability.metrics import GatewayMetrics

__all__ = ["Throttle", "budget_rows", "refresh_budget_gauges"]

log = logging.getLogger("gateway.metrics")


@dataclass
class Throttle:
    """When the budget gauges were last refreshed (monotonic seconds); the gauges' state holds one."""

    at: float = 0.0


def _per_key_opt_in() -> bool:
    from custom_hooks.core.services import services

    return services().config.gateway.observability.budget_metrics_per_key


async def budget_rows(
    store: Any, *, per_key: bool, now: float | None = None
) -> list[tuple[str, str, str, float, float]]:
    """``(scope, label id, window, limit, remaining)`` for every budgeted team (and key)."""
    from custom_hooks.governance.windows import window_for
    from custom_hooks.ledger import writer as _ledger

    now = time.time() if now is None else now
    wanted: list[tuple[str, str, str, float, str | None]] = []  # scope, scope id, label id, limit, duration
    for team in await store.list_teams():
        if team.get("max_budget") is not None:
            tid = str(team["team_id"])
            wanted.append(("team", tid, tid, float(team["max_budget"]), team.get("budget_duration")))
    if per_key:
        for key in await store.list_keys(limit=10_000):
            if key.get("max_budget") is not None and key.get("key_alias"):
                wanted.append(
                    (
                        "key",
                        str(key["key_hash"]),
                        str(key["key_alias"]),
                        float(key["max_budget"]),
                        key.get("budget_duration"),
                    )
                )
    # (stored spend, buffered spend) per id, fetched once per (scope, window start)
    spend_cache: dict[tuple[str, float], tuple[Mapping[str, float], Mapping[str, float]]] = {}
    out = []
    for scope, scope_id, label_id, limit, duration in wanted:
        window = window_for(scope, scope_id, limit, duration, now)
        cache_key = (scope, window.start)
        if cache_key not in spend_cache:
            spend_cache[cache_key] = (
                await store.spend_by_scope_since(scope, window.start_dt),
                _ledger.pending_by_scope(scope, window.start_dt),
            )
        stored, pending = spend_cache[cache_key]
        spent = stored.get(scope_id, 0.0) + pending.get(scope_id, 0.0)
        out.append((scope, label_id, duration or "lifetime", limit, limit - spent))
    return out


def set_budget_gauges(m: GatewayMetrics, rows: Iterable[tuple[str, str, str, float, float]]) -> None:
    from custom_hooks.observability.litellm_metrics import get_litellm_metrics

    lm = get_litellm_metrics()  # LiteLLM's names for the same numbers (its dashboards read them)
    for scope, label_id, window, limit, remaining in rows:
        m.budget_limit.labels(scope=scope, id=label_id, window=window).set(limit)
        m.budget_remaining.labels(scope=scope, id=label_id, window=window).set(remaining)
        lm.set_budgets(scope, label_id, limit, remaining)


async def refresh_budget_gauges(m: GatewayMetrics, last: Throttle, min_interval_s: float = 10.0) -> None:
    """Refresh the budget gauges from the store when ``last`` is older than the interval."""
    if time.monotonic() - last.at < min_interval_s:
        return
    from custom_hooks.store import store as _store

    if not _store.store_started():
        return
    last.at = time.monotonic()
    try:
        rows = await budget_rows(_store.get_store(), per_key=_per_key_opt_in())
    except Exception:  # store down: keep the last values; readiness reports the outage
        log.warning("refreshing budget gauges failed", exc_info=True)
        return
    set_budget_gauges(m, rows)
