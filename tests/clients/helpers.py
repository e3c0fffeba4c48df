"""Helpers for the client-library tests: what the gateway's own API says about threads."""

from __future__ import annotations

from typing import Any

import httpx

from tests.harness.gateway import GatewayProcess

__all__ = ["thread_ids", "thread_messages"]


def thread_ids(gw: GatewayProcess) -> set[str]:
    """The threads the admin key can see (every thread)."""
    r = httpx.get(f"{gw.root_url}/agents/threads", headers={"Authorization": f"Bearer {gw.admin_key}"})
    r.raise_for_status()
    return {t["thread_id"] for t in r.json()["data"]}


def thread_messages(gw: GatewayProcess, thread_id: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{gw.root_url}/agents/threads/{thread_id}", headers={"Authorization": f"Bearer {gw.admin_key}"}
    )
    r.raise_for_status()
    return list(r.json()["messages"])
