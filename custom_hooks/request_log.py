"""Config entry for the request log (``custom_hooks.request_log.request_log`` in litellm_settings.callbacks).

LiteLLM executes this file directly, so it holds no state: the class lives in
:mod:`custom_hooks._request_log`.
"""

from __future__ import annotations

from custom_hooks._request_log import RequestLog

__all__ = ["request_log"]

request_log = RequestLog()
