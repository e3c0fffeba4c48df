"""Cost-aware routing policies and caching (``gateway.routing`` in config.yaml).

Example::

    gateway:
      routing:
        chains:                        # cheaper tiers, most to least expensive
          gpt-4o: [gpt-4o-mini, demo]
        default:
          max_cost_per_request: 0.50
        policies:                      # first match wins; `default` when none matches
          - match: {tier: free}
            max_cost_per_request: 0.01
            downgrade_below_remaining: 1.00
            allow_strict: false
        models:                        # per-model price/estimate overrides
          agent/research: {estimated_cost: 0.05}
        cache: {enabled: true, ttl_s: 600, scope: team}

The policy itself is evaluated by :func:`custom_hooks.routing.policy.decide`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AutoModelConfig",
    "CacheConfig",
    "ModelPricing",
    "PolicyMatch",
    "RoutingConfig",
    "RoutingPolicy",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelPricing(_Strict):
    """Per-model overrides of what the deployment's ``model_info`` (or LiteLLM's cost map) says."""

    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)
    default_output_tokens: int | None = Field(
        default=None, ge=1, description="Output tokens assumed when the request sets no max_tokens."
    )
    estimated_cost: float | None = Field(
        default=None, ge=0, description="A fixed per-request estimate (agents: their runs vary)."
    )


class PolicyMatch(_Strict):
    """Which requests a policy applies to; every field given must match (glob patterns allowed)."""

    team: list[str] | None = None
    tier: list[str] | None = None
    model: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    def matches(self, *, team: str | None, tier: str | None, model: str) -> bool:
        return _any_match(self.team, team) and _any_match(self.tier, tier) and _any_match(self.model, model)


def _any_match(patterns: list[str] | None, value: str | None) -> bool:
    if patterns is None:
        return True
    if value is None:
        return False
    return any(fnmatchcase(value, p) for p in patterns)


class RoutingPolicy(_Strict):
    """What routing does for the requests a policy matches."""

    match: PolicyMatch = PolicyMatch()
    max_cost_per_request: float | None = Field(
        default=None, ge=0, description="USD; above it walk the cheaper chain, else reject."
    )
    downgrade_below_remaining: float | None = Field(
        default=None, ge=0, description="USD left in any budget window under which the cheaper tier is used."
    )
    downgrade_below_remaining_fraction: float | None = Field(
        default=None, ge=0, le=1, description="Same, as a fraction of that budget (0.2 = last 20%)."
    )
    reject_over_budget: bool = Field(
        default=False,
        description="Reject (budget_exceeded) when no model's estimate fits what remains; off, the budget "
        "guard still rejects once spend has reached the budget.",
    )
    allow_strict: bool = Field(
        default=True, description="Honour metadata.routing='strict' (never reroute; reject instead)."
    )
    chains: dict[str, list[str]] | None = Field(
        default=None, description="Replaces the global chains for requests this policy matches."
    )

    @property
    def uses_budget(self) -> bool:
        return (
            self.reject_over_budget
            or self.downgrade_below_remaining is not None
            or self.downgrade_below_remaining_fraction is not None
        )


class AutoModelConfig(_Strict):
    """The ``auto`` model: the cheapest model that can serve the request."""

    model_name: str = "auto"
    candidates: list[str] = Field(
        default_factory=list, description="Models auto may choose; empty = every chat model in model_list."
    )


class CacheConfig(_Strict):
    """LiteLLM's exact-match response cache (never used for agent runs)."""

    enabled: bool = False
    backend: Literal["auto", "local", "redis"] = Field(
        default="auto", description="auto = Redis when GATEWAY_REDIS_URL is set, else in-process."
    )
    ttl_s: float = Field(default=600, gt=0)
    scope: Literal["global", "team", "key"] = Field(
        default="team", description="Who shares cache entries: everyone, a team (else the key), or one key."
    )
    max_messages: int | None = Field(
        default=4,
        ge=1,
        description="Skip the cache for longer conversations (LiteLLM's default); None = no limit.",
    )
    namespace: str = "gw-cache"


class RoutingConfig(_Strict):
    """Cost-aware routing policies and caching (``gateway.routing``)."""

    enabled: bool = True
    token_counting: Literal["exact", "approx"] = Field(
        default="exact", description="exact = LiteLLM's token counter; approx = characters / 4 (cheaper)."
    )
    default_output_tokens: int = Field(default=256, ge=1)
    agent_default_estimate: float = Field(default=0.01, ge=0)
    models: dict[str, ModelPricing] = Field(default_factory=dict)
    chains: dict[str, list[str]] = Field(default_factory=dict)
    default: RoutingPolicy = RoutingPolicy()
    policies: list[RoutingPolicy] = Field(default_factory=list)
    auto: AutoModelConfig = AutoModelConfig()
    cache: CacheConfig = CacheConfig()
    on_budget_lookup_error: Literal["open", "closed"] = Field(
        default="open",
        description="When remaining budget cannot be read (Redis down): open = route as if unknown, "
        "closed = reject with 503.",
    )

    budget_lookup_timeout_s: float = Field(default=0.5, gt=0)

    def policy_for(self, *, team: str | None, tier: str | None, model: str) -> RoutingPolicy:
        """The first policy whose ``match`` fits the request, else ``default``."""
        for policy in self.policies:
            if policy.match.matches(team=team, tier=tier, model=model):
                return policy
        return self.default

    def chain_for(self, policy: RoutingPolicy, model: str) -> list[str]:
        chains = policy.chains if policy.chains is not None else self.chains
        return list(chains.get(model) or [])

    def problems(
        self, model_names: Collection[str], redis_url: str | None
    ) -> list[tuple[str, str, str, bool]]:
        """(key, problem, fix, fatal) for ``check_config``: unknown model names, a cache that cannot start."""
        out: list[tuple[str, str, str, bool]] = []
        known = set(model_names)
        fix = "name a model_name from model_list"

        def unknown(key: str, names: Iterable[str]) -> None:
            missing = [n for n in names if n not in known]
            if missing:
                out.append((key, f"{', '.join(missing)}: not a model_name in model_list", fix, False))

        policies = [("gateway.routing.default", self.default)] + [
            (f"gateway.routing.policies[{i}]", p) for i, p in enumerate(self.policies)
        ]
        chains = [("gateway.routing.chains", self.chains)] + [
            (f"{key}.chains", p.chains) for key, p in policies if p.chains is not None
        ]
        for key, chain_map in chains:
            for model, chain in chain_map.items():
                unknown(f"{key}.{model}", [model, *chain])
        unknown("gateway.routing.auto.candidates", self.auto.candidates)
        unknown("gateway.routing.models", self.models)
        if "auto" in self.model_fields_set and self.auto.model_name not in known:
            out.append(
                (
                    "gateway.routing.auto.model_name",
                    f"'{self.auto.model_name}' has no model_list entry, so clients cannot call it",
                    "add a model_list entry with that name (see config.yaml's `auto`)",
                    False,
                )
            )
        if self.cache.enabled and self.cache.backend == "redis" and not redis_url:
            out.append(
                (
                    "gateway.routing.cache.backend",
                    "the cache is set to Redis but GATEWAY_REDIS_URL is not set",
                    "export GATEWAY_REDIS_URL=redis://host:6379/0, or use backend: auto",
                    True,
                )
            )
        return out

    @property
    def needs_budget_lookup(self) -> bool:
        """Whether any policy can use remaining budget (so the lookup may be skipped)."""
        return any(p.uses_budget for p in [self.default, *self.policies])
