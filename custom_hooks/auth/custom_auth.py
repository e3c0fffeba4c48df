"""Custom auth: resolve the caller's key to a LiteLLM ``UserAPIKeyAuth``.

Configured as ``general_settings.custom_auth: custom_hooks.auth.user_api_key_auth``.
LiteLLM executes this file directly, so it holds no state: the logic and the key cache
live in :mod:`custom_hooks.auth.authenticator`.

Accepted: ``Authorization: Bearer <key>`` or ``api-key: <key>``; the master key (admin),
virtual keys from the store (``sk-gw-...``) and agent run tokens (``gwrun_...``).
"""

from __future__ import annotations

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth

from custom_hooks.auth.authenticator import get_authenticator
from custom_hooks.core.errors import GatewayError, to_proxy_exception

__all__ = ["user_api_key_auth"]


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """Authenticate one proxy request; rejects with 401/403 in OpenAI error format."""
    try:
        return await get_authenticator().authenticate(request, api_key)
    except GatewayError as err:
        failure = err
    # Raised outside the except block on purpose: with no GatewayError in the exception's
    # context, failure hooks that translate GatewayErrors (and would hand LiteLLM an
    # HTTPException it re-wraps as a bare "403"/"401") leave our ProxyException as it is.
    raise to_proxy_exception(failure)
