"""Request bodies of the admin API, and how store rows are shown (never a secret)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from custom_hooks.auth.keys import ADMIN_ROLE, parse_duration
from custom_hooks.core.errors import BadRequest

__all__ = [
    "KeyCreate",
    "KeyUpdate",
    "TeamCreate",
    "TeamUpdate",
    "key_view",
    "parse_body",
    "team_view",
]

HEX64 = re.compile(r"^[0-9a-f]{64}$")  # a key hash (also how the admin API tells a hash from an alias)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


_INT32_MAX = 2**31 - 1


def _duration_or_none(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parse_duration(value)  # raises ValueError with a readable message
    return value.strip()


def _models(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [m.strip() for m in value]
    if any(not m for m in cleaned):
        raise ValueError("model names must be non-empty strings")
    return cleaned


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Limits(_Body):
    models: list[str] | None = Field(default=None, description="Model/agent names; wildcards '*' allowed.")
    max_budget: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    budget_duration: str | None = None
    # Bounded so a value always fits the store's integer columns (PostgreSQL INTEGER/BIGINT).
    rpm_limit: int | None = Field(default=None, ge=0, le=_INT32_MAX)
    tpm_limit: int | None = Field(default=None, ge=0, le=_INT32_MAX)
    max_parallel_requests: int | None = Field(default=None, ge=1, le=_INT32_MAX)
    metadata: dict[str, Any] | None = None
    blocked: bool | None = None

    @field_validator("budget_duration")
    @classmethod
    def _budget_duration(cls, v: str | None) -> str | None:
        return _duration_or_none(v)

    @field_validator("models")
    @classmethod
    def _model_list(cls, v: list[str] | None) -> list[str] | None:
        return _models(v)

    def _set_fields(self) -> dict[str, Any]:
        """The fields the client set, as store columns (subclasses convert theirs)."""
        return self.model_dump(exclude_unset=True)

    def to_fields(self) -> dict[str, Any]:
        """Store columns for the fields the client set (a null ``models``/``metadata`` is left out)."""
        data = self._set_fields()
        return {k: v for k, v in data.items() if not (k in ("models", "metadata") and v is None)}


class KeyCreate(_Limits):
    """``POST /gateway/keys`` (and LiteLLM-compatible ``/key/generate``)."""

    key_alias: str | None = Field(default=None, min_length=1, max_length=256)
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    team_id: str | None = Field(default=None, min_length=1, max_length=128)
    duration: str | None = Field(default=None, description="Expire this long after creation: 1h, 30d.")
    expires_at: datetime | None = None
    tier: str | None = Field(default=None, max_length=64)
    user_role: Literal["admin", "proxy_admin", "user", "internal_user"] | None = None

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        return _duration_or_none(v)

    @field_validator("key_alias")
    @classmethod
    def _alias(cls, v: str | None) -> str | None:
        if v is not None and (HEX64.match(v) or v.startswith("sk-")):
            raise ValueError("an alias may not look like a key or a key hash")
        return v

    def _set_fields(self) -> dict[str, Any]:
        data = super()._set_fields()
        duration = data.pop("duration", None)
        if duration:
            data["expires_at"] = datetime.now(UTC) + parse_duration(duration)
        if "user_role" in data:
            data["user_role"] = ADMIN_ROLE if data["user_role"] in ("admin", "proxy_admin") else None
        return data


class KeyUpdate(KeyCreate):
    """``PATCH /gateway/keys/{key}``: only the fields sent change (null clears)."""


class TeamCreate(_Limits):
    """``POST /gateway/teams`` (and LiteLLM-compatible ``/team/new``)."""

    team_id: str | None = None
    team_alias: str | None = Field(default=None, max_length=256)

    @field_validator("team_id")
    @classmethod
    def _team_id(cls, v: str | None) -> str | None:
        if v is not None and not _ID.match(v):
            raise ValueError("use letters, digits and _ . : @ - (up to 128 characters)")
        return v


class TeamUpdate(TeamCreate):
    """``PATCH /gateway/teams/{team_id}``."""


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: Any) -> M:
    """Validate a JSON body; a mistake becomes a 400 naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        if err["type"] == "extra_forbidden":
            msg = f"Unknown field '{param}'. See the README's admin API section for the fields."
        else:
            msg = f"Invalid '{param}': {err['msg']}."
        raise BadRequest(msg, param=param) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def key_view(row: dict[str, Any]) -> dict[str, Any]:
    """A key as the admin API shows it: everything but secrets (``token`` = LiteLLM's name)."""
    return {
        "key_hash": row["key_hash"],
        "token": row["key_hash"],
        "key_prefix": row["key_prefix"],
        "key_name": row["key_prefix"] + "...",
        "key_alias": row.get("key_alias"),
        "user_id": row.get("user_id"),
        "team_id": row.get("team_id"),
        "models": list(row.get("models") or []),
        "max_budget": row.get("max_budget"),
        "budget_duration": row.get("budget_duration"),
        "rpm_limit": row.get("rpm_limit"),
        "tpm_limit": row.get("tpm_limit"),
        "max_parallel_requests": row.get("max_parallel_requests"),
        "expires": _iso(row.get("expires_at")),
        "blocked": bool(row.get("blocked")),
        "tier": row.get("tier"),
        "user_role": row.get("user_role"),
        "metadata": dict(row.get("metadata") or {}),
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
        "rotated_at": _iso(row.get("rotated_at")),
        "deleted_at": _iso(row.get("deleted_at")),
    }


def team_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "team_id": row["team_id"],
        "team_alias": row.get("team_alias"),
        "models": list(row.get("models") or []),
        "max_budget": row.get("max_budget"),
        "budget_duration": row.get("budget_duration"),
        "rpm_limit": row.get("rpm_limit"),
        "tpm_limit": row.get("tpm_limit"),
        "max_parallel_requests": row.get("max_parallel_requests"),
        "blocked": bool(row.get("blocked")),
        "metadata": dict(row.get("metadata") or {}),
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
    }
