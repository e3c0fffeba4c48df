"""LiteLLM start-up warnings that do not apply to this gateway, filtered out of its logs.

LiteLLM warns, when ``custom_auth`` is set without ``custom_auth_run_common_checks``, that
"budgets, model-access allowlists, and per-model rate limits configured on your DB
team/project records will NOT be enforced". This gateway keeps no LiteLLM database
records: keys, teams, budgets and allow-lists live in its own store and are enforced by
its own hooks (``custom_hooks.auth``, ``budget_guard``, the cost router's allow-list
re-check), and rpm/tpm/parallel limits by LiteLLM's limiter from what our auth returns.
Left in, the line tells an operator their budgets are off when they are not.
"""

from __future__ import annotations

import logging

__all__ = ["NOT_APPLICABLE_PREFIXES", "NotApplicableWarnings", "install"]

# Stable opening words of each warning (LiteLLM 1.108.7, proxy/auth/auth_utils.py).
NOT_APPLICABLE_PREFIXES: tuple[str, ...] = (
    "custom_auth is configured but 'custom_auth_run_common_checks' is not set",
)


class NotApplicableWarnings(logging.Filter):
    """Drops the LiteLLM records listed in :data:`NOT_APPLICABLE_PREFIXES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(NOT_APPLICABLE_PREFIXES)


_FILTER = NotApplicableWarnings()


def install(logger_name: str = "LiteLLM Proxy") -> None:
    """Attach the filter to LiteLLM's proxy logger (idempotent)."""
    logger = logging.getLogger(logger_name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
