"""Test-only custom auth for the routing end-to-end tests: fixed keys with fixed identities.

Routing reads who calls from ``UserAPIKeyAuth`` (``models``, ``team_id``) and
``metadata["gateway_identity"]`` (tier, budgets). These keys exercise exactly that,
independently of the key store. Configured through ``general_settings.custom_auth``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from custom_hooks.core.errors import AuthenticationFailed, to_proxy_exception

__all__ = ["IDENTITIES", "user_api_key_auth"]

IDENTITIES: dict[str, dict[str, Any]] = {
    # a free-tier key: any model, routed under the free-tier policy
    "sk-route-free": {"team_id": "research", "tier": "free", "models": []},
    # a premium key of another team: no ceiling
    "sk-route-premium": {"team_id": "sales", "tier": "premium", "models": []},
    # free tier, but may only use gpt-4o: no cheaper tier to fall back to
    "sk-route-only-4o": {"team_id": "research", "tier": "free", "models": ["gpt-4o"]},
    # free tier limited to cheap models (and auto)
    "sk-route-cheap": {"team_id": "research", "tier": "free", "models": ["gpt-4o-mini", "demo", "auto"]},
}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    ident = IDENTITIES.get(api_key)
    if ident is None:
        raise to_proxy_exception(AuthenticationFailed("Unknown test key."))
    key_hash = "hash-" + api_key
    return UserAPIKeyAuth(
        api_key=key_hash,
        key_alias=api_key,
        user_id="u-" + api_key,
        team_id=ident["team_id"],
        user_role=LitellmUserRoles.INTERNAL_USER,
        models=list(ident["models"]),
        metadata={
            "gateway_identity": {
                "key_hash": key_hash,
                "key_alias": api_key,
                "user_id": "u-" + api_key,
                "team_id": ident["team_id"],
                "tier": ident["tier"],
                "budgets": [],
                "metadata": {},
                "run": None,
            }
        },
    )
