"""Helpers shared by the gateway's own routers (admin API, agent routes, health)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from custom_hooks.core.errors import BadRequest

__all__ = ["mount_at_front", "read_json_body"]


def mount_at_front(app: FastAPI, router: APIRouter) -> None:
    """Include ``router`` at the FRONT of ``app.router.routes``, ahead of LiteLLM's own
    routes and catch-alls (which would otherwise win)."""
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added


async def read_json_body(request: Request) -> Any:
    """The request's JSON body (``{}`` when empty); :class:`BadRequest` (400) if not JSON."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
