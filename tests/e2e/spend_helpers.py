"""Helpers shared by the budget and multi-instance end-to-end tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from custom_hooks.store.store import Store
from tests.harness.gateway import GatewayProcess

HOOKS = ["custom_hooks.budget_guard.budget_guard", "custom_hooks.spend_ledger.spend_ledger"]

# claude-sonnet is priced 3e-6 in / 15e-6 out in config.yaml.
IN_PRICE, OUT_PRICE = 0.000003, 0.000015


def cost(prompt: int, completion: int) -> float:
    return prompt * IN_PRICE + completion * OUT_PRICE


def create_key(gw: GatewayProcess, **fields: Any) -> dict[str, Any]:
    """A virtual key through the admin API; the response holds the raw key once."""
    fields.setdefault("key_alias", f"spend-{uuid.uuid4().hex[:10]}")
    with gw.http() as http:
        r = http.post("/gateway/keys", json=fields)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def ask(n: int = 0) -> list[dict[str, str]]:
    """A unique prompt (so no response cache answers it)."""
    return [{"role": "user", "content": f"question {n} {uuid.uuid4().hex}"}]


async def _rows(url: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    store = await Store.open(url, run_migrations=False)
    try:
        return await store.ledger_rows(limit=10_000, **filters)
    finally:
        await store.close()


def ledger_rows(
    url: str, expect: int | None = None, timeout: float = 15.0, **filters: Any
) -> list[dict[str, Any]]:
    """Ledger rows matching ``filters``; waits (bounded) until ``expect`` rows are written."""
    deadline = time.monotonic() + timeout
    while True:
        rows = asyncio.run(_rows(url, filters))
        if expect is None or len(rows) >= expect or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def sqlite_url(gw: GatewayProcess) -> str:
    return f"sqlite+aiosqlite:///{gw.data_dir / 'gateway.db'}"
