"""The budget decision as a pure function: window spend in, :class:`BudgetVerdict` out.

``budget_verdict(spends, estimate, policy, now)`` never performs I/O. The budget service
reads the window counters (one atomic check-and-hold, see :mod:`.windows`) and asks this
module what the numbers mean; the ``budget_guard`` hook turns a ``reject`` into its error.
Rules, in order:

1. a check that could not run (``unavailable``: the counters' Redis, or the ledger store
   a window is rebuilt from) follows ``gateway.governance.failure_policy``: ``open`` is a
   ``degraded`` admission without a reservation, ``closed`` a ``reject`` with 503
   ``service_unavailable``;
2. the first window whose spend (settled + reserved by calls in flight) has REACHED its
   budget rejects with ``budget_exceeded`` (400: SDKs do not retry it), naming the budget,
   the spend and when it resets;
3. otherwise ``admit``: the estimate is reserved in every window, and the binding window
   (least left after the reservation) is what the response headers report.

Example::

    w = window_for("key", "kh1", 0.01, "1h", now)
    budget_verdict([WindowSpend(w, 0.012)], 0.003, FailurePolicy(), now).code == "budget_exceeded"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from custom_hooks.core.errors import BudgetExceeded, GatewayError, ServiceUnavailable
from custom_hooks.core.sections.governance import FailurePolicy
from custom_hooks.governance.windows import EPSILON, Window

__all__ = [
    "ADMITTED",
    "BUDGET_REACHED",
    "BudgetVerdict",
    "Check",
    "WindowSpend",
    "budget_headers",
    "budget_verdict",
    "reached",
]

Action = Literal["admit", "reject", "degraded"]
Check = Literal["budget_counters", "budget_rebuild"]  # the failure-policy entries budgets use

# Reasons (``metadata.gateway.budget.degraded`` for the degraded ones): a closed set.
ADMITTED = "admitted"
BUDGET_REACHED = "budget_reached"
_UNAVAILABLE_REASON: dict[Check, str] = {
    "budget_counters": "budget_counters_unavailable",
    "budget_rebuild": "budget_rebuild_unavailable",
}
_UNAVAILABLE_WHAT: dict[Check, str] = {
    "budget_counters": "the budget counters are unreachable",
    "budget_rebuild": "the ledger store is unavailable",
}


@dataclass(frozen=True, slots=True)
class WindowSpend:
    """One budget window and what it has spent so far: settled plus reserved, before this call."""

    window: Window
    spent: float


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """What the budget check decided; the hook raises :meth:`error` for ``reject``.

    ``window`` is the binding window (admit: least left after the reservation) or the one
    whose budget is reached (reject); ``spent`` its spend including this reservation
    (admit) or the spend that reached the budget (reject). ``reservation_id`` is set by the
    service once the hold exists.
    """

    action: Action
    reason: str
    reserve: float = 0.0
    window: Window | None = None
    spent: float = 0.0
    code: str | None = None
    message: str = ""
    reservation_id: str | None = None

    @property
    def remaining(self) -> float | None:
        """What is left in :attr:`window` (never below 0), None without a window."""
        return None if self.window is None else max(0.0, self.window.limit - self.spent)

    @property
    def reset_at(self) -> datetime | None:
        return None if self.window is None else self.window.reset_at

    def headers(self) -> dict[str, str]:
        """``x-gateway-budget-*`` for the binding window (empty without one)."""
        if self.window is None:
            return {}
        reset = self.reset_at
        return budget_headers(
            self.window.limit, self.remaining or 0.0, self.window.scope, reset.isoformat() if reset else None
        )

    def error(self) -> GatewayError | None:
        """The error a ``reject`` is answered with (None for the others)."""
        if self.action != "reject":
            return None
        if self.code == ServiceUnavailable.code:
            return ServiceUnavailable(self.message)
        return BudgetExceeded(self.message, headers=self.headers())


def reached(spent: float, limit: float) -> bool:
    """Whether ``spent`` has reached ``limit`` (the counters' Lua script applies the same rule)."""
    return spent >= limit - EPSILON


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


def _money(x: float) -> str:
    return f"${x:.4f}" if abs(x) < 100 else f"${x:,.2f}"


def _span(seconds: float) -> str:
    s = max(0, round(seconds))
    if s >= 2 * 86400:
        return f"{s // 86400} days"
    if s >= 3600:
        return f"{s // 3600} h"
    return f"{s // 60} min" if s >= 60 else f"{s} s"


def _exceeded_message(window: Window, spent: float, label: str | None, now: float) -> str:
    who = {"key": "key", "team": "team", "user": "user"}.get(window.scope, window.scope)
    name = label or window.scope_id
    if window.end is None or window.reset_at is None:
        when = "This budget does not reset; ask an admin to raise it."
    else:
        at = window.reset_at.isoformat().replace("+00:00", "Z")
        when = f"It resets at {at} (in {_span(window.end - now)}); retry then or ask an admin."
    return (
        f"Budget exceeded for {who} '{name}': spent {_money(spent)} (including calls in flight) "
        f"of a {_money(window.limit)} budget. {when}"
    )


def budget_verdict(
    spends: Sequence[WindowSpend],
    estimate: float,
    policy: FailurePolicy,
    now: float,
    *,
    unavailable: Check | None = None,
    labels: Mapping[str, str] | None = None,
) -> BudgetVerdict:
    """Admit (reserving ``estimate``), reject, or admit degraded; pure and cheap.

    ``labels`` name a scope in the message (``{"key": "<alias>"}``); the scope id otherwise.
    """
    if unavailable is not None:
        if getattr(policy, unavailable) == "closed":
            return BudgetVerdict(
                "reject",
                _UNAVAILABLE_REASON[unavailable],
                code=ServiceUnavailable.code,
                message=f"Budget checks are unavailable right now ({_UNAVAILABLE_WHAT[unavailable]});"
                " the request was not sent. Retry shortly.",
            )
        return BudgetVerdict("degraded", _UNAVAILABLE_REASON[unavailable])
    for s in spends:
        if reached(s.spent, s.window.limit):
            return BudgetVerdict(
                "reject",
                BUDGET_REACHED,
                window=s.window,
                spent=s.spent,
                code=BudgetExceeded.code,
                message=_exceeded_message(s.window, s.spent, (labels or {}).get(s.window.scope), now),
            )
    amount = max(0.0, float(estimate))
    binding = min(spends, key=lambda s: s.window.limit - s.spent - amount, default=None)
    if binding is None:
        return BudgetVerdict("admit", ADMITTED, amount)
    return BudgetVerdict("admit", ADMITTED, amount, binding.window, binding.spent + amount)
