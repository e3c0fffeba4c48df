"""Custom auth: resolve the caller's key to a LiteLLM ``UserAPIKeyAuth``.

Configured as ``general_settings.custom_auth: custom_hooks.auth.user_api_key_auth``.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from custom_hooks._errors import AuthenticationFailed, to_proxy_exception
from custom_hooks._settings import get_settings

__all__ = ["user_api_key_auth"]


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """Authenticate ``Authorization: Bearer <key>``; the master key is the admin."""
    master = get_settings().resolved_master_key()
    if api_key and hmac.compare_digest(api_key.encode(), master.encode()):
        return UserAPIKeyAuth(
            api_key="admin",
            user_id="admin",
            user_role=LitellmUserRoles.PROXY_ADMIN,
        )
    raise to_proxy_exception(
        AuthenticationFailed("Invalid API key. Pass a gateway key as 'Authorization: Bearer <key>'.")
    )
