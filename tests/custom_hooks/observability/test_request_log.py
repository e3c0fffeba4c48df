"""The request log: one JSON line per request, no prompt text, no key."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import litellm
import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.core.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    ServiceUnavailable,
    to_proxy_exception,
)
from custom_hooks.core.request_event import event_from_logging_kwargs
from custom_hooks.core.sections.observability import RequestLogConfig
from custom_hooks.observability.request_log import RejectionLogFilter, RequestLog, client_status, log_line
from tests.custom_hooks.observability.test_metrics import logging_kwargs

pytestmark = pytest.mark.usefixtures("shipped_services")  # the client-id map lives in the services


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """A fresh request logger writing to a file (the logger is process-wide: reset it)."""
    logger = logging.getLogger("gateway.requests")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    if hasattr(logger, "_gateway_configured"):
        del logger._gateway_configured
    return tmp_path / "requests.log"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_success_line_has_ids_decisions_and_no_content(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(destination="file", file=log_file))
    routing = {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "cheaper_tier"}
    guardrails = [{"guardrail": "pii", "entity": "EMAIL_ADDRESS", "action": "mask"}]
    passed = [{"guardrail": "topics", "entity": None, "action": "allowed", "count": 0}]
    kwargs = logging_kwargs("req-1", gateway={"routing": routing, "guardrails": guardrails + passed})
    await rl.async_log_success_event(kwargs, None, None, None)

    (line,) = lines(log_file)
    assert line["event"] == "request" and line["status"] == "success"
    assert line["request_id"] == "req-1"
    assert line["key_alias"] == "web-app" and line["team_id"] == "search"
    assert line["requested_model"] == "gpt-4o" and line["served_model"] == "gpt-4o-mini"
    assert line["latency_ms"] == 500.0 and line["cost_usd"] == 0.002
    assert line["prompt_tokens"] == 120 and line["completion_tokens"] == 30
    assert line["routing"] == routing and line["guardrails"] == guardrails
    assert line["guardrails_passed"] == ["topics"]
    text = log_file.read_text()
    assert "secret prompt text" not in text and "secret answer" not in text
    assert "h" * 64 not in text  # not even the key hash


async def test_content_only_when_opted_in(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(destination="file", file=log_file, include_content=True))
    await rl.async_log_success_event(logging_kwargs("req-2"), None, None, None)
    (line,) = lines(log_file)
    assert line["messages"][0]["content"] == "secret prompt text"


async def test_rejected_and_upstream_error_lines(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(destination="file", file=log_file))
    budget = to_proxy_exception(BudgetExceeded("over budget"))
    await rl.async_log_failure_event(logging_kwargs("req-3", exception=budget), None, None, None)
    upstream = litellm.InternalServerError("boom", "openai", "gpt-4o-mini")
    await rl.async_log_failure_event(logging_kwargs("req-4", exception=upstream), None, None, None)
    rejected, failed = lines(log_file)
    assert rejected["status"] == "rejected" and rejected["reason"] == "budget_exceeded"
    assert "cost_usd" not in rejected and "prompt_tokens" not in rejected
    assert failed["status"] == "error" and failed["error_type"] == "InternalServerError"


async def test_agent_run_fields(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(destination="file", file=log_file))
    run = {"agent": "research", "run_id": "run-7", "outcome": "completed"}
    await rl.async_log_success_event(logging_kwargs("req-5", gateway={"agent_run": run}), None, None, None)
    inner = logging_kwargs("req-6")
    inner["litellm_params"]["metadata"]["user_api_key_metadata"] = {
        "gateway_identity": {"run": {"run_id": "run-7", "agent": "research"}}
    }
    await rl.async_log_success_event(inner, None, None, None)
    outer, inner_line = lines(log_file)
    assert (
        outer["agent"] == "research"
        and outer["agent_run_id"] == "run-7"
        and outer["agent_outcome"] == "completed"
    )
    assert inner_line["agent_run_id"] == "run-7"


async def test_auth_failure_without_call_id_is_logged_once(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(destination="file", file=log_file))
    exc = to_proxy_exception(AuthenticationFailed("bad key"))
    await rl.async_post_call_failure_hook({}, exc, UserAPIKeyAuth())
    await rl.async_post_call_failure_hook(
        {"litellm_call_id": "x"}, exc, UserAPIKeyAuth()
    )  # a logging event covers it
    (line,) = lines(log_file)
    assert (
        line["status"] == "rejected" and line["reason"] == "invalid_api_key" and line["http_status"] == "401"
    )


async def test_disabled_writes_nothing(log_file: Path) -> None:
    rl = RequestLog(RequestLogConfig(enabled=False, destination="file", file=log_file))
    await rl.async_log_success_event(logging_kwargs("req-8"), None, None, None)
    assert not log_file.exists() or log_file.read_text() == ""


def test_line_drops_empty_fields() -> None:
    line = log_line(event_from_logging_kwargs(logging_kwargs("req-9", team=None), "success"))
    assert "team_id" not in line and "ttft_ms" not in line and None not in line.values()


def _record(msg: str, args: tuple[object, ...], exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("LiteLLM Proxy", logging.ERROR, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "level"),
    [
        (to_proxy_exception(BudgetExceeded("over budget")), logging.INFO),
        (HTTPException(status_code=429, detail="rpm limit"), logging.INFO),
        (to_proxy_exception(ServiceUnavailable("store down")), logging.ERROR),
        (RuntimeError("boom"), logging.ERROR),
    ],
)
def test_expected_rejections_are_logged_at_info(exc: BaseException, level: int) -> None:
    record = _record(
        "litellm.proxy.proxy_server._handle_llm_api_exception(): Exception occured - litellm_call_id=%s - %s",
        ("call-1", exc),
    )
    assert RejectionLogFilter().filter(record) is True  # never drops a line
    assert record.levelno == level


def test_other_error_lines_are_untouched() -> None:
    record = _record("Error flushing spend logs queue on shutdown: %s", (ValueError("x"),))
    RejectionLogFilter().filter(record)
    assert record.levelno == logging.ERROR


def test_store_outage_is_logged_with_the_status_the_client_got() -> None:
    assert client_status(ConnectionRefusedError(111, "Connection refused"), auth_path=True) == 503
    assert client_status(ConnectionRefusedError(111, "Connection refused"), auth_path=False) is None
    assert client_status(ServiceUnavailable("down"), auth_path=False) == 503
