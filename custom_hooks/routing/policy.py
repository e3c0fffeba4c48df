"""The routing decision as a pure function: facts in, :class:`Decision` out.

``decide(request, identity, config, catalog)`` never performs I/O: the hook counts tokens,
reads remaining budgets and then asks this module what to do. Rules, in order:

1. the ``auto`` model: the cheapest catalog model that can serve the request (context
   window, tools, images), that the key may use, and whose estimate fits the limits;
2. an agent (``agent/<name>``) is never rerouted; only the budget check applies;
3. otherwise the first matching policy applies: keep the requested model when its
   estimate fits the cost ceiling and what remains of every budget, and no budget is
   under its downgrade threshold; else walk the cheaper chain to the first model that
   fits, is capable, is no more expensive, and that the key may use; else reject.

``metadata.routing: strict`` (when the policy allows it) means keep-or-reject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from custom_hooks.auth.model_access import model_allowed
from custom_hooks.core.pricing import ModelCatalog, ModelSpec, RequestShape, estimate_cost
from custom_hooks.core.sections.routing import RoutingConfig, RoutingPolicy

__all__ = [
    "BudgetState",
    "Decision",
    "IdentityFacts",
    "RequestFacts",
    "decide",
    "model_allowed",
]

Action = Literal["keep", "reroute", "reject"]

# Reasons (``x-gateway-route-reason``, metrics label): a small closed set.
WITHIN_POLICY = "within_policy"
STRICT = "strict"
AGENT = "agent"
UNPRICED = "unpriced"
NO_CHEAPER_MODEL = "no_cheaper_model"
COST_CEILING = "cost_ceiling"
BUDGET_LOW = "budget_low"
BUDGET_REMAINING = "budget_remaining"
AUTO = "auto"
MODEL_NOT_ALLOWED = "model_not_allowed"
NO_SUITABLE_MODEL = "no_suitable_model"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What was asked: the model, the request's shape, and whether rerouting is refused."""

    model: str
    shape: RequestShape
    strict: bool = False


@dataclass(frozen=True, slots=True)
class BudgetState:
    """One budget window of the caller: its size and what is left (USD)."""

    scope: str  # key | team | user
    max_budget: float | None
    remaining: float | None


@dataclass(frozen=True, slots=True)
class IdentityFacts:
    """Who asks: team, tier, allowed models, and budgets (None = not known)."""

    team_id: str | None = None
    tier: str | None = None
    models: tuple[str, ...] = ()
    team_models: tuple[str, ...] = ()
    budgets: tuple[BudgetState, ...] | None = None

    def may_use(self, model: str) -> bool:
        return model_allowed(self.models, model) and model_allowed(self.team_models, model)


@dataclass(frozen=True, slots=True)
class Decision:
    """What routing decided; the hook turns ``reject`` into an error with ``code``."""

    action: Action
    model: str
    reason: str
    estimated_cost: float
    requested_model: str
    code: str | None = None
    message: str = ""


def _usd(value: float) -> str:
    return f"${value:.6f}".rstrip("0").rstrip(".") if value else "$0"


def _capable(spec: ModelSpec, shape: RequestShape) -> bool:
    if shape.has_tools and not spec.supports_function_calling:
        return False
    if shape.has_images and not spec.supports_vision:
        return False
    if shape.kind == "embedding":  # the window applies per input, and a batch has many
        return True
    wanted_out = shape.max_output_tokens or 0
    if spec.max_input_tokens is not None and shape.prompt_tokens + wanted_out > spec.max_input_tokens:
        return False
    return not (
        shape.max_output_tokens is not None
        and spec.max_output_tokens is not None
        and shape.max_output_tokens > spec.max_output_tokens
    )


def _same_kind(a: ModelSpec, b: ModelSpec) -> bool:
    return a.is_chat == b.is_chat and (a.mode == "embedding") == (b.mode == "embedding") and not b.is_agent


@dataclass(frozen=True, slots=True)
class _Limits:
    ceiling: float | None
    remaining: float | None  # the smallest remaining budget (None = no budget applies)
    scope: str | None  # which budget that is
    low: bool  # a budget is under its downgrade threshold
    enforce_budget: bool

    def fits_ceiling(self, cost: float) -> bool:
        return self.ceiling is None or cost <= self.ceiling

    def fits_budget(self, cost: float) -> bool:
        return not self.enforce_budget or self.remaining is None or cost <= self.remaining

    def fits(self, cost: float) -> bool:
        return self.fits_ceiling(cost) and self.fits_budget(cost)


def _limits(policy: RoutingPolicy, budgets: tuple[BudgetState, ...] | None) -> _Limits:
    remaining: float | None = None
    scope: str | None = None
    low = False
    for b in budgets or ():
        if b.max_budget is None or b.remaining is None:
            continue
        left = max(b.remaining, 0.0)
        if remaining is None or left < remaining:
            remaining, scope = left, b.scope
        if policy.downgrade_below_remaining is not None and left < policy.downgrade_below_remaining:
            low = True
        frac = policy.downgrade_below_remaining_fraction
        if frac is not None and left < frac * b.max_budget:
            low = True
    return _Limits(policy.max_cost_per_request, remaining, scope, low, policy.reject_over_budget)


def _reject(
    requested: str,
    estimate: float,
    lim: _Limits,
    *,
    model_shown: str,
    could_fit_ceiling: bool,
    blocked_by_access: Sequence[str],
    strict: bool = False,
) -> Decision:
    """A cost or budget rejection whose message says what to do next."""
    if lim.ceiling is not None and not could_fit_ceiling:
        code, reason = "cost_limit_exceeded", COST_CEILING
        what = f"exceeds the per-request cost limit of {_usd(lim.ceiling)}"
        fix = "lower max_tokens, shorten the prompt, or ask an admin to raise the limit"
    else:
        code, reason = "budget_exceeded", BUDGET_REMAINING
        what = f"exceeds the {_usd(lim.remaining or 0.0)} left in the {lim.scope or 'current'} budget"
        fix = "lower max_tokens, use a cheaper model, or wait for the budget window to reset"
    msg = f"Estimated cost {_usd(estimate)} for '{model_shown}' {what}, and no cheaper model fits."
    if strict:
        msg = (
            f"Estimated cost {_usd(estimate)} for '{model_shown}' {what}, and metadata.routing='strict' "
            "forbids serving a cheaper model."
        )
        fix = "drop 'strict' to allow a cheaper model, or " + fix
    if blocked_by_access:
        them = "it" if len(blocked_by_access) == 1 else "them"
        msg += f" {', '.join(blocked_by_access)} would fit, but this key may not use {them}."
        fix = f"ask an admin to grant this key access to {them}, or " + fix
    return Decision("reject", requested, reason, estimate, requested, code, f"{msg} To proceed: {fix}.")


def _budget_only(req: RequestFacts, spec: ModelSpec, lim: _Limits, estimate: float, reason: str) -> Decision:
    if lim.fits_budget(estimate):
        return Decision("keep", req.model, reason, estimate, req.model)
    return _reject(
        req.model, estimate, lim, model_shown=req.model, could_fit_ceiling=True, blocked_by_access=()
    )


def _decide_auto(
    req: RequestFacts, ident: IdentityFacts, config: RoutingConfig, catalog: ModelCatalog, lim: _Limits
) -> Decision:
    auto = config.auto.model_name
    names = config.auto.candidates or [  # unpriced models would look free: only when listed
        n for n, s in catalog.models.items() if s.is_chat and not s.is_agent and s.priced and n != auto
    ]
    capable = [
        s
        for n in names
        if n != auto and (s := catalog.get(n)) is not None and s.is_chat and _capable(s, req.shape)
    ]
    if not capable:
        needs = [f"{req.shape.prompt_tokens + (req.shape.max_output_tokens or 0)} tokens of context"]
        needs += ["tools"] * req.shape.has_tools + ["images"] * req.shape.has_images
        return Decision(
            "reject", auto, NO_SUITABLE_MODEL, 0.0, auto, "no_suitable_model",
            f"No configured model can serve this request (it needs {', '.join(needs)}). "
            "To proceed: shorten the prompt or lower max_tokens, or name a model explicitly.",
        )  # fmt: skip
    allowed = [s for s in capable if ident.may_use(s.name)]
    if not allowed:
        return Decision(
            "reject", auto, MODEL_NOT_ALLOWED, 0.0, auto, "model_not_allowed",
            f"'{auto}' found models that can serve this request ({', '.join(s.name for s in capable)}), "
            "but this key may use none of them. To proceed: ask an admin to grant this key one of them.",
        )  # fmt: skip
    priced = sorted(
        ((estimate_cost(s, req.shape, catalog.default_output_tokens), i, s) for i, s in enumerate(allowed)),
        key=lambda t: (t[0], t[1]),
    )
    for cost, _, spec in priced:
        if lim.fits(cost):
            return Decision("reroute", spec.name, AUTO, cost, auto)
    cheapest, _, spec = priced[0]
    return _reject(
        auto,
        cheapest,
        lim,
        model_shown=spec.name,
        could_fit_ceiling=lim.fits_ceiling(cheapest),
        blocked_by_access=(),
    )


def decide(req: RequestFacts, ident: IdentityFacts, config: RoutingConfig, catalog: ModelCatalog) -> Decision:
    """Keep, reroute or reject one request; pure and cheap (no token counting, no I/O)."""
    requested = req.model
    policy = config.policy_for(team=ident.team_id, tier=ident.tier, model=requested)
    lim = _limits(policy, ident.budgets)
    if requested == config.auto.model_name:
        return _decide_auto(req, ident, config, catalog, lim)

    spec = catalog.get(requested)
    if spec is None:
        return Decision("keep", requested, UNPRICED, 0.0, requested)
    default_out = catalog.default_output_tokens
    estimate = estimate_cost(spec, req.shape, default_out)
    if spec.is_agent:
        return _budget_only(req, spec, lim, estimate, AGENT)

    strict = req.strict and policy.allow_strict
    if lim.fits(estimate) and (strict or not lim.low):
        return Decision(
            "keep", requested, STRICT if req.strict and strict else WITHIN_POLICY, estimate, requested
        )
    if strict:
        return _reject(
            requested, estimate, lim, model_shown=requested,
            could_fit_ceiling=lim.fits_ceiling(estimate), blocked_by_access=(), strict=True,
        )  # fmt: skip

    blocked: list[str] = []
    could_fit_ceiling = lim.fits_ceiling(estimate)
    for name in config.chain_for(policy, requested):
        cand = catalog.get(name)
        if cand is None or name == requested or not _same_kind(spec, cand) or not _capable(cand, req.shape):
            continue
        cost = estimate_cost(cand, req.shape, default_out)
        if cost > estimate:  # a reroute never upgrades
            continue
        if not ident.may_use(name):
            if lim.fits(cost):
                blocked.append(name)
            continue
        could_fit_ceiling = could_fit_ceiling or lim.fits_ceiling(cost)
        if not lim.fits(cost):
            continue
        if not lim.fits_ceiling(estimate):
            reason = COST_CEILING
        elif not lim.fits_budget(estimate):
            reason = BUDGET_REMAINING
        else:
            reason = BUDGET_LOW
        return Decision("reroute", name, reason, cost, requested)

    if lim.fits(estimate):  # budget is low but nothing cheaper is usable: serve as asked
        return Decision("keep", requested, NO_CHEAPER_MODEL, estimate, requested)
    return _reject(
        requested,
        estimate,
        lim,
        model_shown=requested,
        could_fit_ceiling=could_fit_ceiling,
        blocked_by_access=blocked,
    )
