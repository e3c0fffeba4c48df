"""One RequestEvent per logging payload, shared by the ledger, budgets, metrics and request log."""

from __future__ import annotations

from pathlib import Path

import pytest
from litellm.caching.dual_cache import DualCache
from prometheus_client import CollectorRegistry

from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.core.sections.observability import RequestLogConfig
from custom_hooks.core.services import Services
from custom_hooks.governance.budgets import BudgetGuard
from custom_hooks.ledger.spend_ledger import ledger_row
from custom_hooks.observability.metrics import build_metrics
from custom_hooks.observability.metrics_logger import Metrics
from custom_hooks.observability.request_log import RequestLog
from tests.custom_hooks.governance.test_budget_guard import T0, auth, service
from tests.custom_hooks.observability.test_metrics import logging_kwargs, value
from tests.custom_hooks.observability.test_request_log import lines, log_file  # noqa: F401 (fixture)


def test_the_same_payload_gives_the_same_event() -> None:
    kwargs = logging_kwargs("req-1")
    first = event_from_logging_kwargs(kwargs, "success")
    assert event_from_logging_kwargs(kwargs, "success") is first
    assert event_from_logging_kwargs(dict(kwargs), "success") is first  # LiteLLM's shallow copies
    assert event_from_logging_kwargs(kwargs, "failure") is not first  # another event on it


def test_a_rebuilt_payload_is_read_again() -> None:
    kwargs = logging_kwargs("req-1", cost=0.002)
    first = event_from_logging_kwargs(kwargs, "success")
    kwargs["standard_logging_object"] = {**kwargs["standard_logging_object"], "response_cost": 0.5}
    again = event_from_logging_kwargs(kwargs, "success")
    assert again is not first and again.cost_usd == 0.5


async def test_every_consumer_reads_the_one_event(log_file: Path, shipped_services: Services) -> None:  # noqa: F811
    """Change the memoised event: each consumer must report the change (none re-parses the payload)."""
    svc = service()
    guard = BudgetGuard(svc)
    user = auth(max_budget=1.0)
    data = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_api_key_hash": "kh1", "gateway": {"routing": {"estimated_cost": 0.5}}},
    }
    data = await guard.async_pre_call_hook(user, DualCache(), data, "acompletion")
    kwargs = logging_kwargs("req-5", cost=0.002, gateway=data["metadata"]["gateway"])

    event = event_from_logging_kwargs(kwargs, "success")
    event.cost_usd = 0.25  # what the payload itself does not say

    row = ledger_row(kwargs, None, None, failed=False)
    assert row is not None and row["cost"] == 0.25
    await guard.async_log_success_event(kwargs, None, None, None)
    [total] = await svc.counters.totals(
        svc.windows(user.metadata["gateway_identity"]["budgets"], T0 + 60), T0
    )
    assert total == pytest.approx(0.25)
    registry = CollectorRegistry()
    await Metrics(build_metrics(registry)).async_log_success_event(kwargs, None, None, None)
    assert value(registry, "gateway_spend_usd_total", team="search", model="gpt-4o-mini") == pytest.approx(
        0.25
    )
    await RequestLog(RequestLogConfig(destination="file", file=log_file)).async_log_success_event(
        kwargs, None, None, None
    )
    (line,) = lines(log_file)
    assert line["cost_usd"] == 0.25
