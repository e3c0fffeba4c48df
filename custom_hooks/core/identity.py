"""The caller's identity, typed: what custom auth resolved and every hook reads.

Custom auth returns LiteLLM a ``UserAPIKeyAuth`` whose ``metadata["gateway_identity"]`` is
:meth:`Identity.as_metadata`: a plain JSON-safe dict, because LiteLLM copies that metadata
into every logging payload (``user_api_key_metadata``), which callbacks serialise. Hooks
never read that dict by key: :func:`identity_from_wire` gives back the :class:`Identity`
(the very object custom auth built when the dict is the one it wrote, else one parsed from
the dict and memoised), and :mod:`custom_hooks.core.record` finds the dict wherever
LiteLLM put it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from custom_hooks.core.model_access import NO_MODELS, expand_models, model_allowed

__all__ = ["Identity", "RunInfo", "identity_from_wire", "remember_identity"]


class _RunClaims(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def parent_request_id(self) -> str | None: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def depth(self) -> int: ...
    @property
    def allowed_models(self) -> Iterable[str]: ...


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


@dataclass(frozen=True)
class RunInfo:
    """The agent run a run token belongs to."""

    run_id: str
    parent_request_id: str | None
    agent: str | None
    depth: int
    allowed_models: tuple[str, ...]

    @classmethod
    def from_claims(cls, claims: _RunClaims) -> RunInfo:
        """The run a verified run token's claims describe."""
        return cls(
            run_id=claims.run_id,
            parent_request_id=claims.parent_request_id,
            agent=claims.agent,
            depth=int(claims.depth),
            allowed_models=tuple(claims.allowed_models),
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunInfo | None:
        """The run of :meth:`to_dict` (None without a run id)."""
        run_id = _opt_str(raw.get("run_id"))
        if run_id is None:
            return None
        return cls(
            run_id=run_id,
            parent_request_id=_opt_str(raw.get("parent_request_id")),
            agent=_opt_str(raw.get("agent")),
            depth=_opt_int(raw.get("depth")) or 0,
            allowed_models=_strs(raw.get("allowed_models")),
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

    @property
    def enforced_budgets(self) -> list[Mapping[str, Any]]:
        """The budgets with a ``max_budget`` (the ones the budget guard checks)."""
        return [b for b in self.budgets if isinstance(b, Mapping) and b.get("max_budget") is not None]

    def as_metadata(self) -> dict[str, Any]:
        """``metadata["gateway_identity"]``: this identity as a JSON-safe dict (no secrets)."""
        return {
            "key_hash": self.key_hash,
            "key_alias": self.key_alias,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "team_alias": self.team_alias,
            "tier": self.tier,
            "is_admin": self.is_admin,
            "key_models": list(self.key_models),
            "team_models": list(self.team_models),
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "max_parallel_requests": self.max_parallel_requests,
            "team_rpm_limit": self.team_rpm_limit,
            "team_tpm_limit": self.team_tpm_limit,
            "budgets": [dict(b) for b in self.budgets],
            "metadata": dict(self.metadata),
            "run": self.run.to_dict() if self.run else None,
        }

    @classmethod
    def from_metadata(cls, raw: Mapping[str, Any]) -> Identity:
        """The identity :meth:`as_metadata` wrote; missing or malformed fields take their defaults."""
        run = raw.get("run")
        budgets = raw.get("budgets")
        md = raw.get("metadata")
        return cls(
            key_hash=str(raw.get("key_hash") or ""),
            key_alias=_opt_str(raw.get("key_alias")),
            user_id=_opt_str(raw.get("user_id")),
            team_id=_opt_str(raw.get("team_id")),
            team_alias=_opt_str(raw.get("team_alias")),
            tier=_opt_str(raw.get("tier")),
            is_admin=raw.get("is_admin") is True,
            key_models=_strs(raw.get("key_models")),
            team_models=_strs(raw.get("team_models")),
            rpm_limit=_opt_int(raw.get("rpm_limit")),
            tpm_limit=_opt_int(raw.get("tpm_limit")),
            max_parallel_requests=_opt_int(raw.get("max_parallel_requests")),
            team_rpm_limit=_opt_int(raw.get("team_rpm_limit")),
            team_tpm_limit=_opt_int(raw.get("team_tpm_limit")),
            budgets=tuple(dict(b) for b in budgets if isinstance(b, Mapping))
            if isinstance(budgets, list | tuple)
            else (),
            metadata=dict(md) if isinstance(md, Mapping) else {},
            run=RunInfo.from_dict(run) if isinstance(run, Mapping) else None,
        )


# id(wire dict) -> (that dict, its Identity). The entry keeps the dict alive, so an id is
# never reused while its entry exists; the identity check below makes a stale id harmless.
_MEMO_SIZE = 4096
_memo: OrderedDict[int, tuple[Mapping[str, Any], Identity]] = OrderedDict()


def remember_identity(ident: Identity, wire: Mapping[str, Any]) -> None:
    """Record that ``wire`` (``ident.as_metadata()``) stands for ``ident`` itself."""
    _memo[id(wire)] = (wire, ident)
    if len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)


def identity_from_wire(wire: Mapping[str, Any]) -> Identity:
    """The :class:`Identity` behind a ``gateway_identity`` dict, parsed once per dict."""
    hit = _memo.get(id(wire))
    if hit is not None and hit[0] is wire:
        return hit[1]
    ident = Identity.from_metadata(wire)
    remember_identity(ident, wire)
    return ident
