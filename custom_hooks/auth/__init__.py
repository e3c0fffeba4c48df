"""Who is calling: keys, run tokens, the model allow-list, LiteLLM's custom auth.

``general_settings.custom_auth: custom_hooks.auth.user_api_key_auth`` resolves here, lazily,
so importing one of this package's modules does not import the auth hook and LiteLLM.
"""

from __future__ import annotations

from typing import Any

__all__ = ["user_api_key_auth"]


def __getattr__(name: str) -> Any:
    if name == "user_api_key_auth":
        from custom_hooks.auth.custom_auth import user_api_key_auth

        return user_api_key_auth
    raise AttributeError(name)
