"""Virtual keys and the identity they resolve to: pure functions, no I/O.

- Keys are ``sk-gw-`` + 43 random URL-safe characters, shown once, stored as sha256 hex.
- Model allow-lists hold model and agent names with shell-style wildcards (``gpt-4o*``,
  ``*``); an empty list means "every model". A key never exceeds its team: its models are
  the intersection of both lists, its rpm/tpm/parallel limits the minimum of both.
- :class:`Identity` is what custom auth hands to every hook, as
  ``UserAPIKeyAuth.metadata["gateway_identity"]``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from custom_hooks.auth.model_access import NO_MODELS, expand_models, model_allowed

if TYPE_CHECKING:
    from custom_hooks.auth.run_tokens import RunClaims

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


@dataclass(frozen=True)
class RunInfo:
    """The agent run a run token belongs to."""

    run_id: str
    parent_request_id: str | None
    agent: str | None
    depth: int
    allowed_models: tuple[str, ...]

    @classmethod
    def from_claims(cls, claims: RunClaims) -> RunInfo:
        """The run a verified run token's claims describe."""
        return cls(
            run_id=claims.run_id,
            parent_request_id=claims.parent_request_id,
            agent=claims.agent,
            depth=int(claims.depth),
            allowed_models=tuple(claims.allowed_models),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "parent_request_id": self.parent_request_id,
            "agent": self.agent,
            "depth": self.depth,
            "allowed_models": list(self.allowed_models),
        }


@dataclass(frozen=True)
class Identity:
    """Who is calling, what they may call, and which budgets apply."""

    key_hash: str
    key_alias: str | None
    user_id: str | None
    team_id: str | None
    team_alias: str | None = None
    tier: str | None = None
    is_admin: bool = False
    key_models: tuple[str, ...] = ()
    team_models: tuple[str, ...] = ()
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    team_rpm_limit: int | None = None
    team_tpm_limit: int | None = None
    budgets: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    run: RunInfo | None = None

    def may_call(self, model: str) -> bool:
        """Whether this identity may call ``model`` (a model or agent name)."""
        if self.run is not None:
            return model_allowed(self.run.allowed_models, model) if self.run.allowed_models else False
        return model_allowed(self.key_models, model) and model_allowed(self.team_models, model)

    def allowed_model_names(self, names: Iterable[str]) -> list[str]:
        if self.run is not None:
            return [n for n in names if self.may_call(n)] or [NO_MODELS]
        return expand_models(self.key_models, self.team_models, names)

    def with_run(self, run: RunInfo) -> Identity:
        """The same caller inside an agent run: narrowed models, never admin."""
        return Identity(**{**self.__dict__, "run": run, "is_admin": False})

    def as_metadata(self) -> dict[str, Any]:
        """``metadata["gateway_identity"]`` as every hook reads it (no secrets)."""
        return {
            "key_hash": self.key_hash,
            "key_alias": self.key_alias,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "tier": self.tier,
            "budgets": [dict(b) for b in self.budgets],
            "metadata": dict(self.metadata),
            "run": self.run.to_dict() if self.run else None,
        }


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
