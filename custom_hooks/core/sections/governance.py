"""Keys, teams, budgets, ledger and failure policy (gateway.governance)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FailurePolicy",
    "GovernanceConfig",
    "IdentitySettings",
    "LedgerSettings",
    "RecoverySettings",
    "SpendSettings",
]


FailMode = Literal["open", "closed"]


class FailurePolicy(BaseModel):
    """What a check does when the state it needs is unreachable (gateway.governance.failure_policy).

    ``open`` lets the request through (logged and counted); ``closed`` rejects it with 503
    ``service_unavailable`` (clients may retry).
    """

    model_config = ConfigDict(extra="forbid")

    budget_counters: FailMode = Field(default="open", description="Redis down during a budget check.")
    budget_rebuild: FailMode = Field(
        default="open", description="Store down when a budget window must be rebuilt from the ledger."
    )
    rate_limits: FailMode = Field(
        default="open", description="Redis down during rpm/tpm/parallel checks (LiteLLM's limiter)."
    )


class LedgerSettings(BaseModel):
    """Batching of ledger writes (gateway.governance.ledger)."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=200, ge=1, le=10_000)
    flush_interval_s: float = Field(default=0.5, gt=0, le=60)
    max_buffered_rows: int = Field(default=100_000, ge=100, description="Rows kept while the store is down.")
    retry_max_backoff_s: float = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(default=20.0, gt=0, description="Time SIGTERM gives the queue to drain.")


class SpendSettings(BaseModel):
    """Budget enforcement (gateway.governance.spend)."""

    model_config = ConfigDict(extra="forbid")

    enforce_budgets: bool = True
    default_output_tokens: int = Field(
        default=1024,
        ge=1,
        description="Output tokens a reservation assumes when neither routing nor max_tokens says.",
    )
    reservation_ttl_s: float = Field(
        default=600.0, gt=0, description="A reservation never settled is dropped after this, even if renewed."
    )
    reservation_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A reservation expires this long after its instance last renewed it (every third of it),"
        " so a crashed instance's reservations free their budget within this many seconds.",
    )
    reconcile_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="Raise window counters to the ledger's spend this often (0: only after an outage).",
    )
    redis_timeout_s: float = Field(
        default=0.5, gt=0, description="Per-call timeout for budget counters in Redis."
    )
    headers: bool = Field(default=True, description="Send x-gateway-budget-* response headers.")


class RecoverySettings(BaseModel):
    """How fast limits and budgets come back after Redis returns (gateway.governance.recovery)."""

    model_config = ConfigDict(extra="forbid")

    probe_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often each instance PINGs Redis to notice its return."
    )
    breaker_recovery_s: int = Field(
        default=5,
        ge=1,
        le=600,
        description="Open time of LiteLLM's Redis circuit breakers (LiteLLM's default is 60 s); a breaker"
        " is also closed as soon as the probe sees Redis answer again.",
    )


class IdentitySettings(BaseModel):
    """Custom auth (gateway.governance.identity)."""

    model_config = ConfigDict(extra="forbid")

    auth_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a resolved key is cached in-process; another instance sees a block, "
        "delete or rotation within this many seconds.",
    )
    user_max_budget: float | None = Field(
        default=None, ge=0, description="Budget of every user_id (the 'user' scope); unset = none."
    )
    user_budget_duration: str | None = Field(
        default=None, description="Window of user_max_budget: 1h, 1d, 30d."
    )


class GovernanceConfig(BaseModel):
    """Keys, teams, budgets, ledger and failure policy (gateway.governance)."""

    model_config = ConfigDict(extra="forbid")

    identity: IdentitySettings = IdentitySettings()

    failure_policy: FailurePolicy = FailurePolicy()
    recovery: RecoverySettings = RecoverySettings()
    ledger: LedgerSettings = LedgerSettings()
    spend: SpendSettings = SpendSettings()
