"""Virtual keys and the identity they resolve to: pure functions, no I/O.

- Keys are ``sk-gw-`` + 43 random URL-safe characters, shown once, stored as sha256 hex.
- Model allow-lists hold model and agent names with shell-style wildcards (``gpt-4o*``,
  ``*``); an empty list means "every model". A key never exceeds its team: its models are
  the intersection of both lists, its rpm/tpm/parallel limits the minimum of both.
- :class:`Identity` (defined in :mod:`custom_hooks.core.identity`, re-exported here) is
  what custom auth hands to every hook, as ``UserAPIKeyAuth.metadata["gateway_identity"]``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from custom_hooks.core.identity import Identity, RunInfo
from custom_hooks.core.model_access import expand_models, model_allowed

__all__ = [
    "ADMIN_ROLE",
    "KEY_PREFIX",
    "RUN_TOKEN_PREFIX",
    "Identity",
    "RunInfo",
    "effective_limit",
    "expand_models",
    "generate_key",
    "hash_key",
    "hashes_equal",
    "identity_from_records",
    "model_allowed",
    "parse_duration",
]

KEY_PREFIX = "sk-gw-"
RUN_TOKEN_PREFIX = "gwrun_"
ADMIN_ROLE = "admin"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX_DURATION = timedelta(days=36_525)


def generate_key() -> str:
    """A new random virtual key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> str:
    """The sha256 hex digest under which a key is stored and looked up."""
    return hashlib.sha256(raw.encode()).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def parse_duration(text: str) -> timedelta:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"30d"``, ``"2w"`` → timedelta (ValueError otherwise)."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration; use a number and a unit: 30s, 15m, 1h, 1d, 30d, 2w")
    try:
        value = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    except OverflowError:
        value = _MAX_DURATION * 2
    if value > _MAX_DURATION:
        raise ValueError(f"'{text}' is longer than the longest duration accepted (100 years)")
    return value


def effective_limit(*limits: int | None) -> int | None:
    """The tightest of the limits that are set."""
    set_ = [x for x in limits if x is not None]
    return min(set_) if set_ else None


def identity_from_records(
    key: Mapping[str, Any],
    team: Mapping[str, Any] | None,
    *,
    user_budget: tuple[float | None, str | None] = (None, None),
) -> Identity:
    """Combine a key row and its team row (store dicts) into the caller's identity."""
    team = team or {}
    budgets: list[dict[str, Any]] = [
        {
            "scope": "key",
            "id": key["key_hash"],
            "max_budget": key.get("max_budget"),
            "duration": key.get("budget_duration"),
        }
    ]
    if key.get("team_id"):
        budgets.append(
            {
                "scope": "team",
                "id": key["team_id"],
                "max_budget": team.get("max_budget"),
                "duration": team.get("budget_duration"),
            }
        )
    if key.get("user_id"):
        budgets.append(
            {"scope": "user", "id": key["user_id"], "max_budget": user_budget[0], "duration": user_budget[1]}
        )
    return Identity(
        key_hash=key["key_hash"],
        key_alias=key.get("key_alias"),
        user_id=key.get("user_id"),
        team_id=key.get("team_id"),
        team_alias=team.get("team_alias"),
        tier=key.get("tier"),
        is_admin=key.get("user_role") == ADMIN_ROLE,
        key_models=tuple(key.get("models") or ()),
        team_models=tuple(team.get("models") or ()),
        rpm_limit=effective_limit(key.get("rpm_limit"), team.get("rpm_limit")),
        tpm_limit=effective_limit(key.get("tpm_limit"), team.get("tpm_limit")),
        max_parallel_requests=effective_limit(
            key.get("max_parallel_requests"), team.get("max_parallel_requests")
        ),
        team_rpm_limit=team.get("rpm_limit"),
        team_tpm_limit=team.get("tpm_limit"),
        budgets=tuple(budgets),
        metadata=dict(key.get("metadata") or {}),
    )
