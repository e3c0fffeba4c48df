"""The ledger holds model calls only, and a rebuild reads it consistently.

Observed before: during a 15 s PostgreSQL outage every authentication failure became a
``failure`` row under the caller's key (353-392 rows); router refusals (every deployment
cooling down) added more; the request log said 500 where the client got 503; a budget
rebuild racing a batch write came out short by the batch.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
from litellm.types.router import RouterRateLimitError

from agent_routes.runtime.errors import AgentTimeout, provider_error
from custom_hooks.core.errors import ServiceUnavailable
from custom_hooks.core.sections.governance import LedgerSettings
from custom_hooks.ledger.spend_ledger import ledger_row
from custom_hooks.ledger.writer import LedgerWriter
from tests.e2e.spend_helpers import HOOKS, ask, create_key, ledger_rows
from tests.harness.gateway import GatewayProcess
from tests.harness.services import PostgresServer

_UPSTREAM_500 = httpx.Response(500, request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
START = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC)
END = START + timedelta(milliseconds=250)


def _failure(exception: BaseException | None = None, **extra: Any) -> dict[str, Any]:
    """A failure event's kwargs, shaped like LiteLLM 1.108's."""
    kwargs: dict[str, Any] = {
        "litellm_call_id": f"call-{uuid.uuid4().hex[:8]}",
        "standard_logging_object": {
            "id": "x",
            "model_group": "gpt-4o-mini",
            "metadata": {"user_api_key_hash": "kh"},
        },
        "exception": exception,
        "litellm_params": {"metadata": {"user_api_key_hash": "kh"}},
    }
    for k, v in extra.items():
        if k == "litellm_params":
            kwargs["litellm_params"].update(v)
        else:
            kwargs[k] = v
    return kwargs


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        (
            _failure(RuntimeError("store down"), litellm_no_upstream_llm_call=True),
            "auth failure (proxy-only marker)",
        ),
        (
            _failure(RuntimeError("x"), litellm_params={"proxy_rejected_before_routing": True}),
            "rejected pre-routing",
        ),
        (
            _failure(RouterRateLimitError("claude-sonnet", 5.0, False, ["d1"], ["d1"])),
            "every deployment cooling down",
        ),
        (_failure(ServiceUnavailable("store down")), "a GatewayError raised before the call"),
    ],
)
def test_refusals_before_a_model_call_are_not_ledger_rows(kwargs: dict[str, Any], what: str) -> None:
    assert ledger_row(kwargs, START, END, failed=True) is None, what


@pytest.mark.parametrize(
    "exception",
    [
        openai.InternalServerError("upstream 500", response=_UPSTREAM_500, body=None),
        provider_error(AgentTimeout("the agent run timed out")),  # the run called models
    ],
)
def test_failures_after_a_model_call_stay_rows(exception: BaseException) -> None:
    row = ledger_row(_failure(exception), START, END, failed=True)
    assert row is not None and row["status"] == "failure" and row["cost"] == 0.0


async def test_rebuild_counts_a_batch_being_written_exactly_once() -> None:
    committed: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def insert(rows: list[dict[str, Any]]) -> int:
        await gate.wait()  # the store is slow to commit this batch
        committed.extend(rows)
        return len(rows)

    writer = LedgerWriter(insert, LedgerSettings(batch_size=10))
    now = datetime.now(UTC)
    for i in range(5):
        writer.enqueue(
            {"request_id": f"r{i}", "key_hash": "kh", "cost": 0.1, "created_at": now, "status": "success"}
        )
    flush = asyncio.create_task(writer.flush_once())
    await asyncio.sleep(0)  # the batch is on its way to the store

    async def stored() -> float:
        value = sum(r["cost"] for r in committed)  # the query's snapshot
        await asyncio.sleep(0.1)  # ...while the query runs, the batch commits and leaves the buffer
        return value

    loop = asyncio.get_running_loop()
    loop.call_later(0.05, gate.set)
    total = await writer.spend("key", "kh", now - timedelta(hours=1), stored)
    await flush
    assert total == pytest.approx(0.5), "the rebuild missed (or double-counted) the batch in flight"


# --- end to end: a PostgreSQL outage ----------------------------------------------------

OVERRIDES = {
    "litellm_settings": {"callbacks": [*HOOKS, "custom_hooks.request_log.request_log"]},
    "router_settings": {"num_retries": 0, "fallbacks": []},
    "gateway": {"governance": {"identity": {"auth_cache_ttl_s": 0}}},
}


@pytest.fixture(scope="module")
def pg_gateway(gateway_factory: Any, postgres_server: PostgresServer) -> tuple[GatewayProcess, str]:
    url = postgres_server.create_database(f"refusals_{uuid.uuid4().hex[:8]}")
    return gateway_factory(config_overrides=OVERRIDES, env={"GATEWAY_STORE_URL": url}, name="refusals"), url


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_store_outage_leaves_no_ledger_rows_for_refused_calls(
    pg_gateway: tuple[GatewayProcess, str], postgres_server: PostgresServer
) -> None:
    gw, url = pg_gateway
    key = create_key(gw)
    client = gw.client(api_key=key["key"], timeout=20)
    client.chat.completions.create(model="gpt-4o-mini", messages=ask())  # one real call: one row
    offset = len(gw.log_text())
    postgres_server.stop()
    got: list[int] = []
    try:
        for i in range(10):
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=ask(i))
                got.append(200)
            except openai.APIStatusError as exc:
                got.append(exc.status_code)
    finally:
        postgres_server.start()
    assert 200 not in got and set(got) <= {500, 503}, got  # auth cannot read the key store
    rows = ledger_rows(url, expect=2, timeout=8, key_hash=key["key_hash"])  # waits for a stray row
    print(
        f"PostgreSQL outage: {len(got)} refused calls {Counter(got)}, ledger rows for them: {len(rows) - 1}"
    )
    assert [r["status"] for r in rows] == ["success"], rows
    logged = [
        json.loads(line[line.index("{") :])
        for line in gw.log_text()[offset:].splitlines()
        if '"event":"request"' in line
    ]
    logged_statuses = Counter(int(x["http_status"]) for x in logged if "http_status" in x)
    print(f"request log statuses {logged_statuses}, client statuses {Counter(got)}")
    assert logged_statuses == Counter(got)
