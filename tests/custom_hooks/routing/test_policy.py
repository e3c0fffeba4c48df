"""Routing decisions as data: each row is (policy, caller, request) -> (action, model, reason, code).

Catalog used throughout (USD per token; a 1000-token prompt with max_tokens=1000 costs):
    big    1e-5 / 4e-5  -> 0.05     tools, vision, 100k context
    mid    1e-6 / 4e-6  -> 0.005    tools, vision, 100k context
    small  1e-7 / 4e-7  -> 0.0005   tools, no vision, 8k context
    narrow 1e-8 / 1e-8  -> 0.00002  no tools, no vision, 1k context
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from custom_hooks.core.pricing import ModelCatalog, RequestShape
from custom_hooks.core.sections.routing import RoutingConfig
from custom_hooks.routing.policy import (
    BudgetState,
    Decision,
    IdentityFacts,
    RequestFacts,
    decide,
    model_allowed,
)


def _m(
    name: str, inp: float, out: float, ctx: int, *, tools: bool = True, vision: bool = False, **kw: Any
) -> dict:
    info = {"input_cost_per_token": inp, "output_cost_per_token": out, "max_input_tokens": ctx,
            "supports_function_calling": tools, "supports_vision": vision, **kw}  # fmt: skip
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}"}, "model_info": info}


MODEL_LIST = [
    _m("big", 1e-5, 4e-5, 100_000, vision=True),
    _m("mid", 1e-6, 4e-6, 100_000, vision=True),
    _m("small", 1e-7, 4e-7, 8_000),
    _m("narrow", 1e-8, 1e-8, 1_000, tools=False),
    _m("emb-large", 1.3e-7, 0.0, 8_000, mode="embedding"),
    _m("emb-small", 2e-8, 0.0, 8_000, mode="embedding"),
    {"model_name": "unpriced", "litellm_params": {"model": "ollama_chat/local-thing"}},
    {"model_name": "agent/research", "litellm_params": {"model": "agent/research"}},
    {"model_name": "auto", "litellm_params": {"model": "demo/echo"}},  # the alias clients call
]
CHAINS = {"big": ["mid", "small"], "mid": ["small"], "small": ["mid"], "emb-large": ["emb-small", "mid"]}

CHAT = RequestShape(kind="chat", prompt_tokens=1000, max_output_tokens=1000)
TOOLS = RequestShape(kind="chat", prompt_tokens=1000, max_output_tokens=1000, has_tools=True)
IMAGES = RequestShape(kind="chat", prompt_tokens=1000, max_output_tokens=1000, has_images=True)
LONG = RequestShape(kind="chat", prompt_tokens=7_500, max_output_tokens=1000)
HUGE = RequestShape(kind="chat", prompt_tokens=150_000, max_output_tokens=1000)
EMB = RequestShape(kind="embedding", prompt_tokens=100_000)


def budgets(remaining: float, max_budget: float = 100.0, scope: str = "key") -> tuple[BudgetState, ...]:
    return (BudgetState(scope=scope, max_budget=max_budget, remaining=remaining),)


@dataclass(frozen=True)
class Case:
    id: str
    model: str
    expect: tuple[str, str, str, str | None]  # action, served model, reason, code
    policy: dict[str, Any] = field(default_factory=dict)  # gateway.routing.default
    shape: RequestShape = CHAT
    strict: bool = False
    ident: IdentityFacts = field(default_factory=IdentityFacts)
    routing: dict[str, Any] = field(default_factory=dict)  # other gateway.routing fields


CASES = [
    # --- cost ceiling -------------------------------------------------------------------
    Case("no policy keeps the request", "big", ("keep", "big", "within_policy", None)),
    Case(
        "under the ceiling keeps",
        "big",
        ("keep", "big", "within_policy", None),
        {"max_cost_per_request": 0.05},
    ),
    Case(
        "over the ceiling takes the first cheaper model that fits",
        "big",
        ("reroute", "mid", "cost_ceiling", None),
        {"max_cost_per_request": 0.01},
    ),
    Case(
        "walks the chain further when needed",
        "big",
        ("reroute", "small", "cost_ceiling", None),
        {"max_cost_per_request": 0.001},
    ),
    Case(
        "nothing fits: cost_limit_exceeded",
        "big",
        ("reject", "big", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.0001},
    ),
    Case(
        "a model without a chain is rejected over the ceiling",
        "narrow",
        ("reject", "narrow", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.00001},
    ),
    # --- strict opt-out -----------------------------------------------------------------
    Case(
        "strict keeps when it fits",
        "big",
        ("keep", "big", "strict", None),
        {"max_cost_per_request": 1.0},
        strict=True,
    ),
    Case(
        "strict rejects instead of rerouting",
        "big",
        ("reject", "big", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.01},
        strict=True,
    ),
    Case(
        "strict is ignored where the policy forbids it",
        "big",
        ("reroute", "mid", "cost_ceiling", None),
        {"max_cost_per_request": 0.01, "allow_strict": False},
        strict=True,
    ),
    # --- the key's model list -----------------------------------------------------------
    Case(
        "a cheaper model the key may not use is skipped",
        "big",
        ("reroute", "small", "cost_ceiling", None),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(models=("big", "small")),
    ),
    Case(
        "no usable cheaper tier: a clear rejection, not an upgrade",
        "big",
        ("reject", "big", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(models=("big",)),
    ),
    Case(
        "team model lists count too",
        "big",
        ("reroute", "small", "cost_ceiling", None),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(team_models=("big", "s*")),
    ),
    Case(
        "glob patterns allow",
        "big",
        ("reroute", "mid", "cost_ceiling", None),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(models=("b*", "m*")),
    ),
    Case(
        "LiteLLM's 'no models' marker allows nothing cheaper",
        "big",
        ("reject", "big", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(models=("no-default-models",)),
    ),
    # --- budgets ------------------------------------------------------------------------
    Case(
        "a low budget downgrades to the cheaper tier",
        "big",
        ("reroute", "mid", "budget_low", None),
        {"downgrade_below_remaining": 1.0},
        ident=IdentityFacts(budgets=budgets(0.5)),
    ),
    Case(
        "a budget above the threshold keeps",
        "big",
        ("keep", "big", "within_policy", None),
        {"downgrade_below_remaining": 1.0},
        ident=IdentityFacts(budgets=budgets(5.0)),
    ),
    Case(
        "a fractional threshold, per budget",
        "big",
        ("reroute", "mid", "budget_low", None),
        {"downgrade_below_remaining_fraction": 0.2},
        ident=IdentityFacts(budgets=budgets(1.9, max_budget=10)),
    ),
    Case(
        "the smallest remaining budget counts",
        "big",
        ("reroute", "small", "budget_remaining", None),
        ident=IdentityFacts(budgets=(*budgets(50.0), *budgets(0.003, scope="team"))),
    ),
    Case(
        "an estimate above what remains: cheaper model",
        "big",
        ("reroute", "small", "budget_remaining", None),
        ident=IdentityFacts(budgets=budgets(0.003)),
    ),
    Case(
        "nothing fits what remains: budget_exceeded",
        "big",
        ("reject", "big", "budget_remaining", "budget_exceeded"),
        ident=IdentityFacts(budgets=budgets(0.0001)),
    ),
    Case(
        "an overspent budget is zero left",
        "big",
        ("reject", "big", "budget_remaining", "budget_exceeded"),
        ident=IdentityFacts(budgets=budgets(-3.0)),
    ),
    Case(
        "budget rejection can be switched off",
        "big",
        ("keep", "big", "within_policy", None),
        {"reject_over_budget": False},
        ident=IdentityFacts(budgets=budgets(0.0001)),
    ),
    Case(
        "unknown budgets change nothing",
        "big",
        ("keep", "big", "within_policy", None),
        {"downgrade_below_remaining": 1.0},
        ident=IdentityFacts(budgets=None),
    ),
    Case(
        "budgets without a limit change nothing",
        "big",
        ("keep", "big", "within_policy", None),
        {"downgrade_below_remaining": 1.0},
        ident=IdentityFacts(budgets=(BudgetState("key", None, None),)),
    ),
    Case(
        "low budget, nothing cheaper: serve as asked",
        "small",
        ("keep", "small", "no_cheaper_model", None),
        {"downgrade_below_remaining": 1.0},
        ident=IdentityFacts(budgets=budgets(0.5)),
    ),
    Case(
        "ceiling would allow a cheaper model, budget not: budget_exceeded",
        "big",
        ("reject", "big", "budget_remaining", "budget_exceeded"),
        {"max_cost_per_request": 0.01},
        ident=IdentityFacts(budgets=budgets(0.0001)),
    ),
    Case(
        "a strict request with a low budget keeps",
        "big",
        ("keep", "big", "strict", None),
        {"downgrade_below_remaining": 1.0},
        strict=True,
        ident=IdentityFacts(budgets=budgets(0.5)),
    ),
    # --- capabilities and safety of the chain ------------------------------------------
    Case(
        "images: a cheaper model without vision is skipped",
        "big",
        ("reject", "big", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.001},
        shape=IMAGES,
    ),
    Case(
        "images: a cheaper model with vision is fine",
        "big",
        ("reroute", "mid", "cost_ceiling", None),
        {"max_cost_per_request": 0.01},
        shape=IMAGES,
    ),
    Case(
        "context: a model whose window is too small is skipped",
        "big",
        ("reroute", "mid", "cost_ceiling", None),
        {"max_cost_per_request": 0.1},
        shape=LONG,
    ),
    Case(
        "a reroute never upgrades",
        "small",
        ("reject", "small", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.0001},
    ),
    Case(
        "chains per policy replace the global ones",
        "big",
        ("reroute", "small", "cost_ceiling", None),
        {"max_cost_per_request": 0.01, "chains": {"big": ["small"]}},
    ),
    Case(
        "embeddings stay embeddings",
        "emb-large",
        ("reroute", "emb-small", "cost_ceiling", None),
        {"max_cost_per_request": 0.005},
        shape=EMB,
    ),
    Case(
        "embeddings never become chat",
        "emb-large",
        ("reject", "emb-large", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.001},
        shape=EMB,
    ),
    # --- auto ---------------------------------------------------------------------------
    Case("auto picks the cheapest capable priced model", "auto", ("reroute", "small", "auto", None)),
    Case(
        "auto needs tools: skips a model without",
        "auto",
        ("reroute", "small", "auto", None),
        shape=RequestShape(kind="chat", prompt_tokens=100, max_output_tokens=100, has_tools=True),
    ),
    Case(
        "auto, small prompt: even the narrow model",
        "auto",
        ("reroute", "narrow", "auto", None),
        shape=RequestShape(kind="chat", prompt_tokens=100, max_output_tokens=100),
    ),
    Case("auto needs images: vision models only", "auto", ("reroute", "mid", "auto", None), shape=IMAGES),
    Case("auto needs a long context", "auto", ("reroute", "mid", "auto", None), shape=LONG),
    Case(
        "auto honours the key's models",
        "auto",
        ("reroute", "big", "auto", None),
        ident=IdentityFacts(models=("auto", "big")),
    ),
    Case(
        "auto with no usable model: model_not_allowed",
        "auto",
        ("reject", "auto", "model_not_allowed", "model_not_allowed"),
        ident=IdentityFacts(models=("auto",)),
    ),
    Case(
        "auto with no capable model: no_suitable_model",
        "auto",
        ("reject", "auto", "no_suitable_model", "no_suitable_model"),
        shape=HUGE,
    ),
    Case(
        "auto skips models over the ceiling",
        "auto",
        ("reroute", "mid", "auto", None),
        {"max_cost_per_request": 0.01},
        shape=IMAGES,
    ),
    Case(
        "auto with nothing under the ceiling",
        "auto",
        ("reject", "auto", "cost_ceiling", "cost_limit_exceeded"),
        {"max_cost_per_request": 0.00001},
    ),
    Case(
        "auto with nothing under the remaining budget",
        "auto",
        ("reject", "auto", "budget_remaining", "budget_exceeded"),
        ident=IdentityFacts(budgets=budgets(0.00001)),
    ),
    Case(
        "auto from an explicit candidate list",
        "auto",
        ("reroute", "mid", "auto", None),
        routing={"auto": {"candidates": ["big", "mid"]}},
    ),
    Case(
        "auto under another name",
        "cheapest",
        ("reroute", "small", "auto", None),
        routing={"auto": {"model_name": "cheapest"}},
    ),
    # --- what routing leaves alone -----------------------------------------------------
    Case(
        "an unknown model is kept, unpriced",
        "not-in-config",
        ("keep", "not-in-config", "unpriced", None),
        {"max_cost_per_request": 0.0},
    ),
    Case(
        "an agent is never rerouted",
        "agent/research",
        ("keep", "agent/research", "agent", None),
        {"max_cost_per_request": 0.0},
    ),
    Case(
        "an agent whose estimate exceeds what remains is rejected",
        "agent/research",
        ("reject", "agent/research", "budget_remaining", "budget_exceeded"),
        ident=IdentityFacts(budgets=budgets(0.001)),
    ),
]


def _run(case: Case) -> Decision:
    policy = {"reject_over_budget": True, **case.policy}
    routing = RoutingConfig.model_validate({"chains": CHAINS, "default": policy, **case.routing})
    catalog = ModelCatalog.from_model_list(MODEL_LIST, routing)
    return decide(
        RequestFacts(model=case.model, shape=case.shape, strict=case.strict), case.ident, routing, catalog
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision(case: Case) -> None:
    d = _run(case)
    assert (d.action, d.model, d.reason, d.code) == case.expect
    assert d.requested_model == case.model
    assert d.estimated_cost >= 0
    if d.action == "reject":
        assert "To proceed:" in d.message


def test_the_estimate_is_the_served_models() -> None:
    d = _run(Case("x", "big", ("", "", "", None), {"max_cost_per_request": 0.01}))
    assert d.model == "mid" and d.estimated_cost == pytest.approx(1000 * 1e-6 + 1000 * 4e-6)
    kept = _run(Case("x", "big", ("", "", "", None)))
    assert kept.estimated_cost == pytest.approx(1000 * 1e-5 + 1000 * 4e-5)


def test_rejections_name_the_estimate_the_limit_and_blocked_models() -> None:
    d = _run(Case("x", "big", ("", "", "", None), {"max_cost_per_request": 0.01},
                  ident=IdentityFacts(models=("big",))))  # fmt: skip
    assert "$0.05" in d.message and "$0.01" in d.message
    assert "mid, small would fit, but this key may not use them" in d.message
    b = _run(Case("x", "big", ("", "", "", None), ident=IdentityFacts(budgets=budgets(0.0001, scope="team"))))
    assert "$0.0001 left in the team budget" in b.message
    s = _run(Case("x", "big", ("", "", "", None), {"max_cost_per_request": 0.01}, strict=True))
    assert "strict" in s.message


def test_policy_matching_first_match_wins() -> None:
    routing = RoutingConfig.model_validate(
        {
            "default": {"max_cost_per_request": 1.0},
            "policies": [
                {"match": {"team": "research", "model": "gpt-*"}, "max_cost_per_request": 0.1},
                {"match": {"tier": ["free", "trial"]}, "max_cost_per_request": 0.01},
                {"match": {"team": "research"}, "max_cost_per_request": 0.5},
            ],
        }
    )

    def ceiling(team: str | None, tier: str | None, model: str) -> float | None:
        return routing.policy_for(team=team, tier=tier, model=model).max_cost_per_request

    assert ceiling("research", "free", "gpt-4o") == 0.1
    assert ceiling("research", "free", "claude") == 0.01
    assert ceiling("research", "premium", "claude") == 0.5
    assert ceiling("sales", "trial", "claude") == 0.01
    assert ceiling(None, None, "claude") == 1.0  # a pattern never matches a missing value


@pytest.mark.parametrize(
    ("allowed", "model", "ok"),
    [
        ((), "anything", True),
        (("*",), "anything", True),
        (("all-proxy-models",), "anything", True),
        (("gpt-4o",), "gpt-4o-mini", False),
        (("gpt-4o*",), "gpt-4o-mini", True),
        (("no-default-models",), "gpt-4o", False),
    ],
)
def test_model_allowed(allowed: tuple[str, ...], model: str, ok: bool) -> None:
    assert model_allowed(allowed, model) is ok


def test_unknown_policy_fields_are_config_errors() -> None:
    with pytest.raises(ValueError, match="max_cost_per_requests"):
        RoutingConfig.model_validate({"default": {"max_cost_per_requests": 1}})


def test_config_problems_name_unknown_models_and_an_impossible_cache() -> None:
    routing = RoutingConfig.model_validate(
        {
            "chains": {"big": ["mid", "midd"]},
            "policies": [{"chains": {"bigg": ["small"]}}],
            "auto": {"candidates": ["small", "tiny"]},
            "models": {"agent/reserch": {"estimated_cost": 0.1}},
            "cache": {"enabled": True, "backend": "redis"},
        }
    )
    names = [e["model_name"] for e in MODEL_LIST]
    problems = {key: (problem, fatal) for key, problem, _, fatal in routing.problems(names, None)}
    assert problems["gateway.routing.chains.big"] == ("midd: not a model_name in model_list", False)
    assert problems["gateway.routing.policies[0].chains.bigg"][0].startswith("bigg:")
    assert problems["gateway.routing.auto.candidates"][0].startswith("tiny:")
    assert problems["gateway.routing.models"][0].startswith("agent/reserch:")
    assert problems["gateway.routing.cache.backend"][1] is True
    assert routing.problems(names, "redis://127.0.0.1:6379/0") != []
    assert RoutingConfig.model_validate({"chains": {"big": ["mid"]}}).problems(names, None) == []
    renamed = RoutingConfig.model_validate({"auto": {"model_name": "cheapest"}})
    assert [p[0] for p in renamed.problems(names, None)] == ["gateway.routing.auto.model_name"]
    assert RoutingConfig().problems([], None) == []  # nothing configured, nothing to say
