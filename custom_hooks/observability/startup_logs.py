"""LiteLLM start-up warnings that do not apply to this gateway, filtered out of its logs.

LiteLLM warns, when ``custom_auth`` is set without ``custom_auth_run_common_checks``, that
"budgets, model-access allowlists, and per-model rate limits configured on your DB
team/project records will NOT be enforced". This gateway keeps no LiteLLM database
records: keys, teams, budgets and allow-lists live in its own store and are enforced by
its own hooks (``custom_hooks.auth``, ``budget_guard``, the cost router's allow-list
re-check), and rpm/tpm/parallel limits by LiteLLM's limiter from what our auth returns.
Left in, the line tells an operator their budgets are off when they are not.

LiteLLM also warns, for each priced model it has no built-in entry for, that prompt-cache
reads and writes "will default to 0". For the models our own providers serve (``agent/...``
runs, charged by their inner calls; the offline ``demo/...`` models) there is no prompt
cache to price, so a fresh start printed a dozen warnings that asked the operator to fix
nothing. The same warning about a real provider's model is kept.
"""

from __future__ import annotations

import logging
import re

__all__ = ["NOT_APPLICABLE_PREFIXES", "OWN_PROVIDERS", "NotApplicableWarnings", "install"]

# Stable opening words of each warning (LiteLLM 1.108.7, proxy/auth/auth_utils.py).
NOT_APPLICABLE_PREFIXES: tuple[str, ...] = (
    "custom_auth is configured but 'custom_auth_run_common_checks' is not set",
)


# LiteLLM 1.108.7, utils.py (register_model); the model's name is its one argument (LiteLLM's
# own filter may have merged it into the message by the time ours runs).
_CACHE_PRICING = re.compile(r"register_model: model=(\S+) has custom pricing but not in built-in cost map")
OWN_PROVIDERS: tuple[str, ...] = ("agent/", "demo/")


class NotApplicableWarnings(logging.Filter):
    """Drops the LiteLLM records listed in :data:`NOT_APPLICABLE_PREFIXES`, and the
    cache-pricing warning about models of :data:`OWN_PROVIDERS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("register_model: "):
            found = _CACHE_PRICING.match(record.getMessage())
            return not (found and found.group(1).startswith(OWN_PROVIDERS))
        return not message.startswith(NOT_APPLICABLE_PREFIXES)


_FILTER = NotApplicableWarnings()


def install(logger_names: tuple[str, ...] = ("LiteLLM Proxy", "LiteLLM")) -> None:
    """Attach the filter to LiteLLM's proxy and core loggers (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
