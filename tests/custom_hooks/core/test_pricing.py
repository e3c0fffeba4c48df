"""Pricing: where prices and capabilities come from, and what a request is estimated to cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import litellm
import pytest

from custom_hooks.core.config import load_config
from custom_hooks.core.pricing import (
    ModelCatalog,
    ModelSpec,
    RequestShape,
    count_prompt_tokens,
    estimate_cost,
    is_agent_entry,
    output_tokens_for,
    request_kind,
    request_shape,
)
from custom_hooks.core.sections.routing import RoutingConfig

REPO = Path(__file__).resolve().parents[3]


def entry(name: str, model: str, **info: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model}, "model_info": info}


def test_model_info_wins_over_the_cost_map_and_overrides_win_over_both() -> None:
    models = [
        entry("cheap-4o", "openai/gpt-4o", input_cost_per_token=1e-9, output_cost_per_token=2e-9),
        entry("mapped-4o", "openai/gpt-4o"),
        entry("forced", "openai/gpt-4o", input_cost_per_token=1e-9),
    ]
    routing = RoutingConfig.model_validate(
        {"models": {"forced": {"input_cost_per_token": 5e-6, "output_cost_per_token": 6e-6}}}
    )
    cat = ModelCatalog.from_model_list(models, routing)
    cheap, mapped, forced = cat.get("cheap-4o"), cat.get("mapped-4o"), cat.get("forced")
    assert cheap is not None and mapped is not None and forced is not None
    assert (cheap.input_cost_per_token, cheap.output_cost_per_token) == (1e-9, 2e-9)
    gpt4o = litellm.model_cost["gpt-4o"]
    assert mapped.input_cost_per_token == gpt4o["input_cost_per_token"]
    assert mapped.output_cost_per_token == gpt4o["output_cost_per_token"]
    assert mapped.supports_vision and mapped.max_input_tokens == gpt4o["max_input_tokens"]
    assert (forced.input_cost_per_token, forced.output_cost_per_token) == (5e-6, 6e-6)


def test_a_group_is_priced_at_its_dearest_deployment_and_capable_only_if_all_are() -> None:
    models = [
        entry("g", "openai/a", input_cost_per_token=1e-6, output_cost_per_token=1e-6, max_input_tokens=9000,
              supports_vision=True, supports_function_calling=True),
        entry("g", "azure/b", input_cost_per_token=3e-6, output_cost_per_token=2e-6, max_input_tokens=4000,
              supports_function_calling=True),
    ]  # fmt: skip
    spec = ModelCatalog.from_model_list(models).get("g")
    assert spec is not None
    assert (spec.input_cost_per_token, spec.output_cost_per_token) == (3e-6, 2e-6)
    assert spec.max_input_tokens == 4000
    assert spec.supports_function_calling and not spec.supports_vision


def test_unknown_prices_are_marked_unpriced() -> None:
    spec = ModelCatalog.from_model_list([entry("mystery", "ollama_chat/something-local")]).get("mystery")
    assert spec is not None and not spec.priced and spec.input_cost_per_token == 0.0


def test_agents_by_name_or_provider_get_a_fixed_estimate() -> None:
    models = [
        entry("agent/research", "agent/research"),
        {"model_name": "helpdesk", "litellm_params": {"model": "agent/helpdesk"}},
        entry("plain", "openai/gpt-4o-mini"),
    ]
    assert [is_agent_entry(m) for m in models] == [True, True, False]
    routing = RoutingConfig.model_validate(
        {"agent_default_estimate": 0.02, "models": {"helpdesk": {"estimated_cost": 0.5}}}
    )
    cat = ModelCatalog.from_model_list(models, routing)
    research, helpdesk = cat.get("agent/research"), cat.get("helpdesk")
    assert research is not None and research.is_agent and research.fixed_estimate == 0.02
    assert helpdesk is not None and helpdesk.is_agent and helpdesk.fixed_estimate == 0.5
    shape = RequestShape(kind="chat", prompt_tokens=100_000, max_output_tokens=100_000)
    assert estimate_cost(research, shape) == 0.02


@pytest.mark.parametrize(
    ("model", "tokenizer"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "gpt-4o"),  # LiteLLM's bundled one is pre-Claude-3 and slow
        ("together_ai/meta-llama/Llama-3-70b", "gpt-4o"),  # would be fetched from a hub: never
        ("replicate/llama-2-70b", "gpt-4o"),
        ("demo/echo", "echo"),
    ],
)
def test_the_token_counter_is_tiktoken_and_never_needs_a_download(model: str, tokenizer: str) -> None:
    spec = ModelCatalog.from_model_list([entry("m", model)]).get("m")
    assert spec is not None and spec.tokenizer_model == tokenizer


SPEC = ModelSpec(name="m", input_cost_per_token=1e-6, output_cost_per_token=4e-6, max_output_tokens=1000)


@pytest.mark.parametrize(
    ("spec", "requested", "expected"),
    [
        (SPEC, 50, 50),  # the request's cap
        (SPEC, None, 256),  # the gateway default
        (ModelSpec(name="m", default_output_tokens=900), None, 900),  # the model's default
        (ModelSpec(name="m", max_output_tokens=100), None, 100),  # never more than the model can emit
    ],
)
def test_output_tokens_assumed(spec: ModelSpec, requested: int | None, expected: int) -> None:
    assert output_tokens_for(spec, requested, 256) == expected


def test_estimate_is_prompt_plus_output_and_embeddings_have_no_output() -> None:
    shape = RequestShape(kind="chat", prompt_tokens=1000, max_output_tokens=500)
    assert estimate_cost(SPEC, shape) == pytest.approx(1000 * 1e-6 + 500 * 4e-6)
    emb = RequestShape(kind="embedding", prompt_tokens=1000)
    assert estimate_cost(SPEC, emb) == pytest.approx(1000 * 1e-6)


def test_prompt_tokens_are_litellms_count_for_the_model() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello " * 200}]
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    data = {"messages": messages, "tools": tools}
    got = count_prompt_tokens(data, "chat", "gpt-4o")
    assert got == litellm.token_counter(model="gpt-4o", messages=messages, tools=tools)
    assert got > count_prompt_tokens({"messages": messages}, "chat", "gpt-4o")  # tools count too
    approx = count_prompt_tokens(data, "chat", "gpt-4o", approx=True)
    assert 0.5 * got < approx < 2 * got


def test_request_shape_reads_caps_tools_and_images() -> None:
    data = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": "https://invalid.example/x.png"}}]}
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "max_tokens": 10,
        "max_completion_tokens": 20,
    }  # fmt: skip
    shape = request_shape(data, "chat", "gpt-4o")
    assert shape.has_images and shape.has_tools and shape.max_output_tokens == 20 and shape.prompt_tokens > 0
    plain = request_shape({"messages": [{"role": "user", "content": "hi"}]}, "chat", "gpt-4o")
    assert not plain.has_images and not plain.has_tools and plain.max_output_tokens is None


def test_embedding_inputs_strings_lists_and_token_arrays() -> None:
    one = request_shape({"input": "hello world"}, "embedding", "gpt-4o").prompt_tokens
    many = request_shape({"input": ["hello world"] * 3}, "embedding", "gpt-4o").prompt_tokens
    assert many == 3 * one
    assert request_shape({"input": [1, 2, 3, 4]}, "embedding", "gpt-4o").prompt_tokens == 4
    assert request_shape({"input": [[1, 2], [3]]}, "embedding", "gpt-4o").prompt_tokens == 3


@pytest.mark.parametrize(
    ("call_type", "data", "kind"),
    [
        ("acompletion", {}, "chat"),
        ("completion", {}, "chat"),
        ("aembedding", {}, "embedding"),
        ("embeddings", {}, "embedding"),
        ("atext_completion", {}, "completion"),
        ("aresponses", {}, "responses"),
        ("image_generation", {}, "other"),
        ("something_new", {"messages": []}, "chat"),
    ],
)
def test_request_kind(call_type: str, data: dict[str, Any], kind: str) -> None:
    assert request_kind(call_type, data) == kind


def test_every_model_in_the_shipped_config_is_priced() -> None:
    cfg = load_config(REPO / "config.yaml")
    cat = ModelCatalog.from_model_list(cfg.model_list, cfg.gateway.routing)
    unpriced = [name for name, spec in cat.models.items() if not spec.priced]
    assert unpriced == [], f"price these in model_info or gateway.routing.models: {unpriced}"


def test_an_agent_is_what_its_deployment_serves_not_its_name() -> None:
    """One rule (core/catalog.py): ``model: agent/...``. A registry agent's name on a plain
    deployment is priced as the plain model it calls; an agent deployment has the fixed estimate."""
    cat = ModelCatalog.from_model_list([entry("helper", "demo/echo"), entry("research", "agent/research")])
    helper, research = cat.get("helper"), cat.get("research")
    assert helper is not None and not helper.is_agent and helper.fixed_estimate is None
    assert research is not None and research.is_agent
    assert research.fixed_estimate == RoutingConfig().agent_default_estimate


@pytest.mark.parametrize("tokenizer_model", ["gpt-4o", "gpt-4o-mini", "claude-haiku-4-5", "unknown-model-x"])
def test_counts_equal_litellm_token_counter_with_its_own_tokenizer_selection(tokenizer_model: str) -> None:
    """The tokenizer is selected once per model; the counts are LiteLLM's, exactly."""
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "name": "bob", "content": "Wie spät ist es? 🕐 " * 20},
        {"role": "user", "content": [{"type": "text", "text": "and this part"}]},
    ]
    tools = [{"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}]
    for _ in range(2):  # the second call uses the cached tokenizer
        got = count_prompt_tokens({"messages": messages, "tools": tools}, "chat", tokenizer_model)
        assert got == litellm.token_counter(
            model=tokenizer_model, messages=messages, tools=tools, use_default_image_token_count=True
        )
        texts = {"input": ["first text", "zweiter Text 12345"]}
        want = sum(litellm.token_counter(model=tokenizer_model, text=t) for t in texts["input"])
        assert count_prompt_tokens(texts, "embedding", tokenizer_model) == want
