"""Where a request's gateway decisions and the caller's identity live, read and written typed.

Hooks talk to each other through LiteLLM's request metadata. LiteLLM deep-copies and
serialises that metadata (router, logging payload), so what travels is a plain dict; every
hook reads and writes it only through the typed views here:

- :func:`gateway_record` -> :class:`GatewayRecord`: the request id, routing decision,
  budget reservation, guardrail decisions and agent run of one request, found in a
  pre-call ``data`` dict, an agent provider's ``kwargs`` or a logging payload alike;
- :func:`identity_of` / :func:`identity_from_metadata` -> :class:`Identity`: the caller,
  from ``UserAPIKeyAuth`` (hooks) or from a logging payload's metadata (callbacks);
- :func:`request_metadata`: the metadata dict a client's own fields (``routing``,
  ``thread_id``, ...) are read from.

Which metadata holds the record. LiteLLM keeps its metadata under ``litellm_metadata`` on
some routes (``/v1/messages``, ``/v1/responses``, batches, ...), where ``metadata`` is the
provider's own parameter sent upstream, and under ``metadata`` everywhere else. In a
logging payload both sit in ``kwargs["litellm_params"]``, ``metadata`` being a shallow copy
of ``litellm_metadata`` or the client's provider metadata. LiteLLM's own dict is the one it
stamped ``user_api_key_*`` into, which no client can send; the record is read from and
written into that dict only, so a ``gateway`` dict in the client's provider metadata is
never read. (The front door also refuses ``gateway*`` and ``user_api_key*`` keys in either
spelling: :mod:`custom_hooks.edge.request_policy`.) Without a stamp (unit callers),
``litellm_metadata`` comes before ``metadata``, a non-empty dict before an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from custom_hooks.core.identity import Identity, identity_from_wire

__all__ = [
    "AgentRunRecord",
    "BudgetRecord",
    "GatewayRecord",
    "GuardrailDecision",
    "Identity",
    "RoutingRecord",
    "gateway_record",
    "identity_from_metadata",
    "identity_of",
    "identity_wire_from_metadata",
    "litellm_metadata",
    "request_metadata",
]

_SPELLINGS = ("litellm_metadata", "metadata")  # LiteLLM's own spelling first
_LITELLM_STAMPS = ("user_api_key_hash", "user_api_key_metadata", "user_api_key_auth_metadata")


class RoutingRecord(TypedDict):
    """The cost router's decision (``x-gateway-*`` headers, ledger ``routing_reason``)."""

    requested_model: str
    served_model: str
    reason: str
    estimated_cost: float


class BudgetRecord(TypedDict, total=False):
    """The budget guard's reservation, settled (or released) after the call."""

    reserved: float
    reservation_id: str | None
    scopes: list[str]
    agent: bool  # the outer request of an agent run: reserves and is charged nothing
    degraded: str  # why nothing was reserved (failure policy "open")
    limit: float
    remaining: float
    binding_scope: str
    reset_at: str | None


class GuardrailDecision(TypedDict):
    """One guardrail decision (never the text it was about)."""

    guardrail: str
    entity: str | None
    action: str
    count: int
    phase: str


class AgentRunRecord(TypedDict, total=False):
    """What the agent provider reports about a run while it runs (its runner fills it in)."""

    agent: str
    run_id: str
    thread_id: str | None
    depth: int
    parent_run_id: str | None
    outcome: str  # "running", then how it ended
    duration_s: float
    inner_calls: int
    steps: int
    cost: float  # the sum of its inner calls (each charged on its own)


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _holder(data: Mapping[str, Any]) -> dict[str, Any]:
    """Where the metadata dicts are: a payload's ``litellm_params``, else the request body itself."""
    params = data.get("litellm_params")
    return params if isinstance(params, dict) else cast("dict[str, Any]", data)


def _metadata_dicts(holder: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The holder's metadata dicts that may hold the record, LiteLLM's own first.

    LiteLLM's are the ones it stamped ``user_api_key_*`` into (a client cannot send those
    keys): when there is one, only those count. Without a stamp (a unit caller's payload):
    every dict, a non-empty one first, ``litellm_metadata`` before ``metadata``.
    """
    found = [md for md in (holder.get(name) for name in _SPELLINGS) if isinstance(md, dict)]
    if len(found) > 1:
        stamped = [md for md in found if any(k in md for k in _LITELLM_STAMPS)]
        found = stamped or sorted(found, key=lambda md: not md)
    return found


def litellm_metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    """LiteLLM's metadata dict of a request or payload (``{}`` when it has none)."""
    found = _metadata_dicts(_holder(data))
    return found[0] if found else {}


class GatewayRecord:
    """Typed view over one request's ``gateway`` dict (created on the first write).

    >>> data = {"metadata": {}}
    >>> gateway_record(data).request_id = "req-1"
    >>> gateway_record(data).request_id
    'req-1'
    """

    __slots__ = ("_holder", "_raw")

    def __init__(self, holder: dict[str, Any], raw: dict[str, Any] | None) -> None:
        self._holder = holder
        self._raw = raw

    def _get(self, name: str) -> Any:
        return None if self._raw is None else self._raw.get(name)

    def _written(self) -> dict[str, Any]:
        if self._raw is None:
            found = _metadata_dicts(self._holder)
            md = found[0] if found else None
            if md is None:
                md = self._holder["metadata"] = {}
            raw = _dict(md.get("gateway"))
            if raw is None:
                raw = md["gateway"] = {}
            self._raw = raw
        return self._raw

    def __bool__(self) -> bool:
        return bool(self._raw)

    def as_dict(self) -> dict[str, Any]:
        """The record as it travels (a copy; ``{}`` when nothing was recorded)."""
        return dict(self._raw or {})

    @property
    def request_id(self) -> str | None:
        rid = self._get("request_id")
        return None if rid in (None, "") else str(rid)

    @request_id.setter
    def request_id(self, value: str) -> None:
        self._written()["request_id"] = value

    @property
    def routing(self) -> RoutingRecord | None:
        r = self._get("routing")
        return r if isinstance(r, dict) and r else None  # type: ignore[return-value]

    @routing.setter
    def routing(self, value: RoutingRecord) -> None:
        self._written()["routing"] = value

    @property
    def budget(self) -> BudgetRecord | None:
        b = self._get("budget")
        return b if isinstance(b, dict) and b else None  # type: ignore[return-value]

    @budget.setter
    def budget(self, value: BudgetRecord) -> None:
        self._written()["budget"] = value

    @property
    def reservation_id(self) -> str | None:
        """The budget reservation to settle or release (None: nothing reserved)."""
        rid = (self.budget or {}).get("reservation_id")
        return str(rid) if rid else None

    @property
    def guardrails(self) -> list[GuardrailDecision]:
        g = self._get("guardrails")
        return [e for e in g if isinstance(e, dict)] if isinstance(g, list) else []  # type: ignore[misc]

    def add_guardrail_decisions(self, entries: list[GuardrailDecision]) -> None:
        raw = self._written()
        existing = raw.get("guardrails")
        if isinstance(existing, list):
            existing.extend(entries)
        else:
            raw["guardrails"] = list(entries)

    @property
    def agent_run(self) -> AgentRunRecord | None:
        run = self._get("agent_run")
        return run if isinstance(run, dict) and run else None  # type: ignore[return-value]

    def agent_run_report(self) -> dict[str, Any]:
        """The agent run's record, created empty: the runner fills it in as the run goes."""
        raw = self._written()
        report = _dict(raw.get("agent_run"))
        if report is None:
            report = raw["agent_run"] = {}
        return report


def gateway_record(data: Mapping[str, Any]) -> GatewayRecord:
    """The :class:`GatewayRecord` of a pre-call ``data`` dict, provider ``kwargs`` or logging payload."""
    holder = _holder(data)
    for md in _metadata_dicts(holder):
        raw = _dict(md.get("gateway"))
        if raw is not None:
            return GatewayRecord(holder, raw)
    return GatewayRecord(holder, None)


def request_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The request's metadata dict: ``metadata``, else ``litellm_metadata``, else a new ``metadata``."""
    for name in ("metadata", "litellm_metadata"):
        md = data.get(name)
        if isinstance(md, dict):
            return md
    md = data["metadata"] = {}
    return md


def identity_of(user_api_key_dict: Any) -> Identity | None:
    """The caller's :class:`Identity` (None when custom auth set none, e.g. LiteLLM's own auth)."""
    meta = getattr(user_api_key_dict, "metadata", None)
    wire = meta.get("gateway_identity") if isinstance(meta, dict) else None
    return identity_from_wire(wire) if isinstance(wire, dict) else None


def identity_wire_from_metadata(md: Mapping[str, Any]) -> dict[str, Any] | None:
    """``gateway_identity`` as custom auth returned it, from a logging payload's metadata."""
    for name in ("user_api_key_metadata", "user_api_key_auth_metadata"):
        meta = md.get(name)
        if isinstance(meta, dict) and isinstance(meta.get("gateway_identity"), dict):
            return meta["gateway_identity"]  # type: ignore[no-any-return]
    meta = getattr(md.get("user_api_key_auth"), "metadata", None)
    if isinstance(meta, dict) and isinstance(meta.get("gateway_identity"), dict):
        return meta["gateway_identity"]  # type: ignore[no-any-return]
    return None


def identity_from_metadata(md: Mapping[str, Any]) -> Identity | None:
    """The caller's :class:`Identity` from LiteLLM's metadata (see :func:`litellm_metadata`)."""
    wire = identity_wire_from_metadata(md)
    return None if wire is None else identity_from_wire(wire)
