"""Budget verdicts as data: each row is (window spend, estimate, policy, outage) -> verdict.

Windows used throughout (T0 = 2027-01-15T08:00:00Z, on an hour boundary; now = T0 + 600):
    key   $0.01 per hour      resets 09:00Z
    team  $1.00 per day       resets 2027-01-16T00:00Z
    life  $0.50, lifetime     never resets
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from custom_hooks.core.errors import BudgetExceeded, ServiceUnavailable
from custom_hooks.core.sections.governance import FailurePolicy
from custom_hooks.governance.verdict import BudgetVerdict, Check, WindowSpend, budget_verdict, reached
from custom_hooks.governance.windows import window_for

T0 = 1_800_000_000.0
NOW = T0 + 600
KEY = window_for("key", "kh1", 0.01, "1h", NOW)
TEAM = window_for("team", "research", 1.0, "1d", NOW)
LIFE = window_for("user", "u1", 0.5, None, NOW)
OPEN = FailurePolicy()
CLOSED = FailurePolicy(budget_counters="closed", budget_rebuild="closed")


@dataclass(frozen=True)
class Case:
    id: str
    spends: tuple[tuple[str, float], ...]  # (window name, spent before this call)
    expect: tuple[str, str, str | None, str | None]  # action, reason, code, binding/reached window
    estimate: float = 0.003
    policy: FailurePolicy = field(default_factory=FailurePolicy)
    unavailable: Check | None = None
    reserve: float | None = None  # the amount held (admit)
    remaining: float | None = None  # left in the binding window after the hold


W = {"key": KEY, "team": TEAM, "life": LIFE}
ADMIT_KEY = ("admit", "admitted", None, "key")
KEY_REACHED = ("reject", "budget_reached", "budget_exceeded", "key")

CASES = [
    # --- admit -----------------------------------------------------------------------------
    Case("an empty window admits", (("key", 0.0),), ADMIT_KEY, reserve=0.003, remaining=0.007),
    Case("just below the budget admits", (("key", 0.0099),), ADMIT_KEY, remaining=0.0),
    Case(
        "the estimate may overshoot: only spend already reached blocks",
        (("key", 0.009),),
        ADMIT_KEY,
        estimate=5.0,
        reserve=5.0,
        remaining=0.0,
    ),
    Case(
        "the binding window is the one with least left after the hold",
        (("team", 0.0), ("key", 0.004)),
        ADMIT_KEY,
        remaining=0.003,
    ),
    Case(
        "a team nearly spent binds before a fresh key",
        (("key", 0.0), ("team", 0.999)),
        ("admit", "admitted", None, "team"),
        estimate=0.0005,
        remaining=0.0005,
    ),
    Case("a negative estimate reserves nothing", (("key", 0.0),), ADMIT_KEY, estimate=-1.0, reserve=0.0),
    Case("no window: admitted, nothing to report", (), ("admit", "admitted", None, None), reserve=0.003),
    # --- reject: a budget reached ------------------------------------------------------------
    Case("spend at the budget rejects", (("key", 0.01),), KEY_REACHED),
    Case(
        "within a nano-dollar of the budget is reached (float sums drift)",
        (("key", 0.01 - 1e-10),),
        KEY_REACHED,
    ),
    Case("over the budget rejects", (("key", 0.012),), KEY_REACHED),
    Case(
        "the first window reached is named, even when a later one has room",
        (("key", 0.0), ("team", 1.0), ("life", 0.6)),
        ("reject", "budget_reached", "budget_exceeded", "team"),
    ),
    Case(
        "a zero estimate is still refused once the budget is reached",
        (("life", 0.5),),
        ("reject", "budget_reached", "budget_exceeded", "life"),
        estimate=0.0,
    ),
    Case(
        "a budget reached rejects whatever the failure policy",
        (("key", 0.02),),
        KEY_REACHED,
        policy=CLOSED,
    ),
    # --- a check that could not run ---------------------------------------------------------
    Case(
        "counters down, open: degraded admission",
        (),
        ("degraded", "budget_counters_unavailable", None, None),
        unavailable="budget_counters",
        reserve=0.0,
    ),
    Case(
        "store down, open: degraded admission",
        (),
        ("degraded", "budget_rebuild_unavailable", None, None),
        unavailable="budget_rebuild",
    ),
    Case(
        "counters down, closed: 503",
        (),
        ("reject", "budget_counters_unavailable", "service_unavailable", None),
        policy=CLOSED,
        unavailable="budget_counters",
    ),
    Case(
        "store down, closed only for the counters: open for the rebuild",
        (),
        ("degraded", "budget_rebuild_unavailable", None, None),
        policy=FailurePolicy(budget_counters="closed"),
        unavailable="budget_rebuild",
    ),
    Case(
        "an outage wins over known spend: nothing is decided from stale numbers",
        (("key", 0.5),),
        ("degraded", "budget_counters_unavailable", None, None),
        unavailable="budget_counters",
    ),
]


def _verdict(case: Case) -> BudgetVerdict:
    spends = [WindowSpend(W[name], spent) for name, spent in case.spends]
    return budget_verdict(spends, case.estimate, case.policy, NOW, unavailable=case.unavailable)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_budget_verdict(case: Case) -> None:
    v = _verdict(case)
    window = None if v.window is None else next(n for n, w in W.items() if w == v.window)
    assert (v.action, v.reason, v.code, window) == case.expect
    if case.reserve is not None:
        assert v.reserve == pytest.approx(case.reserve)
    if case.remaining is not None:
        assert v.remaining == pytest.approx(case.remaining, abs=1e-12)
    if v.action != "admit":
        assert v.reserve == 0.0  # nothing is held for a rejection or a degraded admission
    err = v.error()
    if v.action == "reject":
        assert err is not None and err.code == v.code and err.message == v.message
    else:
        assert err is None


def test_a_reached_budget_says_what_was_spent_and_when_it_resets() -> None:
    v = budget_verdict([WindowSpend(KEY, 0.012)], 0.003, OPEN, NOW, labels={"key": "bot"})
    assert v.message == (
        "Budget exceeded for key 'bot': spent $0.0120 (including calls in flight) of a $0.0100 budget."
        " It resets at 2027-01-15T09:00:00Z (in 50 min); retry then or ask an admin."
    )
    err = v.error()
    assert isinstance(err, BudgetExceeded) and err.status_code == 400
    assert err.headers == {
        "x-gateway-budget-limit": "0.010000",
        "x-gateway-budget-remaining": "0.000000",
        "x-gateway-budget-scope": "key",
        "x-gateway-budget-reset": "2027-01-15T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("window", "now", "when"),
    [
        (TEAM, NOW, "It resets at 2027-01-16T00:00:00Z (in 15 h)"),
        (TEAM, TEAM.start + 86400 - 30, "(in 30 s)"),
        (window_for("key", "kh1", 1.0, "30d", NOW), NOW, "(in 16 days)"),
        (LIFE, NOW, "This budget does not reset; ask an admin to raise it."),
    ],
)
def test_the_reset_time_is_counted_from_now(window: object, now: float, when: str) -> None:
    v = budget_verdict([WindowSpend(window, 5.0)], 0.0, OPEN, now)  # type: ignore[arg-type]
    assert when in v.message and "'" + v.window.scope_id + "'" in v.message  # type: ignore[union-attr]


def test_a_closed_outage_is_a_503_without_budget_headers() -> None:
    v = budget_verdict([], 0.003, CLOSED, NOW, unavailable="budget_rebuild")
    err = v.error()
    assert isinstance(err, ServiceUnavailable) and err.status_code == 503 and err.headers == {}
    assert "the ledger store is unavailable" in err.message and "Retry shortly" in err.message


def test_admission_headers_report_the_binding_window() -> None:
    v = budget_verdict([WindowSpend(TEAM, 0.2), WindowSpend(KEY, 0.001)], 0.002, OPEN, NOW)
    assert v.headers()["x-gateway-budget-scope"] == "key"
    assert float(v.headers()["x-gateway-budget-remaining"]) == pytest.approx(0.007)


@pytest.mark.parametrize(
    ("spent", "limit", "hit"), [(0.0, 0.0, True), (0.3, 0.3, True), (0.1 * 3, 0.3, True), (0.29, 0.3, False)]
)
def test_reached(spent: float, limit: float, hit: bool) -> None:
    assert reached(spent, limit) is hit
