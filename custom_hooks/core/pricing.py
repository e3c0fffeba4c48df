"""Estimate what a request will cost before it is sent.

The estimate is ``prompt tokens x input price + output tokens x output price``:

- prompt tokens: LiteLLM's token counter for the target model (or characters / 4 when
  ``gateway.routing.token_counting: approx``), tools and message parts included, images
  at LiteLLM's default count (never fetched);
- output tokens: the request's ``max_tokens`` / ``max_completion_tokens``, else the
  per-model ``default_output_tokens``, else ``gateway.routing.default_output_tokens``;
- prices: ``gateway.routing.models.<name>`` overrides, else the deployment's
  ``model_info`` in config.yaml, else LiteLLM's local cost map. A model group with
  several deployments is priced at its most expensive one (an estimate is an upper bound
  that budgets reserve).

Agents (``agent/<name>``) get a fixed per-request estimate, since a run's cost is the sum
of inner calls that are estimated and charged one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import litellm
from litellm.utils import huggingface_tokenizer_kind

from custom_hooks.core.catalog import agent_of
from custom_hooks.core.sections.routing import ModelPricing, RoutingConfig

__all__ = [
    "ModelCatalog",
    "ModelSpec",
    "RequestShape",
    "catalog_for",
    "count_prompt_tokens",
    "counting_tokenizer",
    "estimate_cost",
    "is_agent_entry",
    "output_tokens_for",
    "process_catalog",
    "request_kind",
    "request_shape",
]

_FALLBACK_TOKENIZER = "gpt-4o"
_CHAT_MODES = frozenset({"chat", "completion", "responses"})


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What routing knows about one model group (a ``model_name`` in ``model_list``)."""

    name: str
    mode: str = "chat"
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_function_calling: bool = False
    supports_vision: bool = False
    default_output_tokens: int | None = None
    fixed_estimate: float | None = None
    tokenizer_model: str = _FALLBACK_TOKENIZER
    priced: bool = True

    @property
    def is_agent(self) -> bool:
        return self.mode == "agent"

    @property
    def is_chat(self) -> bool:
        return self.mode in _CHAT_MODES


@dataclass(frozen=True, slots=True)
class RequestShape:
    """The facts about a request that pricing and routing need (no prompt text)."""

    kind: str  # chat | embedding | completion | other
    prompt_tokens: int
    max_output_tokens: int | None = None
    has_tools: bool = False
    has_images: bool = False


def is_agent_entry(entry: Mapping[str, Any]) -> bool:
    """A model_list entry served by an agent (``model: agent/...``; see :mod:`custom_hooks.core.catalog`)."""
    return agent_of(entry.get("litellm_params")) is not None


def _cost_map_info(model: str) -> Mapping[str, Any]:
    """LiteLLM's local cost map entry for ``provider/model`` (quietly; {} when unknown)."""
    cost = litellm.model_cost
    if model in cost:
        return cost[model]  # type: ignore[no-any-return]
    base = model.split("/", 1)[1] if "/" in model else model
    return cost.get(base) or {}  # type: ignore[no-any-return]


def _tokenizer_for(model: str) -> str:
    """The model name to hand LiteLLM's token counter, never one that needs a download."""
    base = model.split("/", 1)[1] if "/" in model else model
    if huggingface_tokenizer_kind(base) is None:  # tiktoken: fast, and exact for OpenAI models
        return base or _FALLBACK_TOKENIZER
    # llama/cohere tokenizers would be fetched from a hub; LiteLLM's bundled Anthropic one
    # predates Claude 3 (no more exact than tiktoken) and costs ~7x the CPU (bench/routing_bench.py).
    return _FALLBACK_TOKENIZER


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _spec_for_group(
    name: str,
    entries: Sequence[Mapping[str, Any]],
    override: ModelPricing | None,
    agent_estimate: float,
) -> ModelSpec:
    infos: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for entry in entries:
        params = entry.get("litellm_params") or {}
        info = dict(_cost_map_info(str(params.get("model", ""))))
        info.update({k: v for k, v in (entry.get("model_info") or {}).items() if v is not None})
        infos.append((params, info))
    agent = any(is_agent_entry(e) for e in entries)
    first_params = infos[0][0] if infos else {}

    in_prices = [p for _, i in infos if (p := _num(i.get("input_cost_per_token"))) is not None]
    out_prices = [p for _, i in infos if (p := _num(i.get("output_cost_per_token"))) is not None]
    max_in = [m for _, i in infos if (m := _int(i.get("max_input_tokens"))) is not None]
    max_out = [m for _, i in infos if (m := _int(i.get("max_output_tokens"))) is not None]
    mode = "agent" if agent else str(infos[0][1].get("mode") or "chat") if infos else "chat"

    o = override or ModelPricing()
    input_cost = o.input_cost_per_token if o.input_cost_per_token is not None else max(in_prices, default=0.0)
    output_cost = (
        o.output_cost_per_token if o.output_cost_per_token is not None else max(out_prices, default=0.0)
    )
    fixed = o.estimated_cost if o.estimated_cost is not None else (agent_estimate if agent else None)
    return ModelSpec(
        name=name,
        mode=mode,
        input_cost_per_token=input_cost,
        output_cost_per_token=output_cost,
        max_input_tokens=min(max_in) if max_in else None,
        max_output_tokens=min(max_out) if max_out else None,
        supports_function_calling=bool(infos)
        and all(bool(i.get("supports_function_calling")) for _, i in infos),
        supports_vision=bool(infos) and all(bool(i.get("supports_vision")) for _, i in infos),
        default_output_tokens=o.default_output_tokens,
        fixed_estimate=fixed,
        tokenizer_model=_tokenizer_for(str(first_params.get("model", ""))),
        priced=fixed is not None or bool(in_prices) or o.input_cost_per_token is not None,
    )


@dataclass(frozen=True)
class ModelCatalog:
    """Every model group routing may keep or choose, in config order, priced and with capabilities."""

    models: Mapping[str, ModelSpec] = field(default_factory=dict)
    default_output_tokens: int = 256

    @classmethod
    def from_model_list(
        cls,
        model_list: Iterable[Mapping[str, Any]],
        routing: RoutingConfig | None = None,
    ) -> ModelCatalog:
        """Build the catalog from config.yaml's ``model_list`` and ``gateway.routing``.

        A group is an agent when its deployments are (``model: agent/...``, the one rule of
        :mod:`custom_hooks.core.catalog`).
        """
        cfg = routing or RoutingConfig()
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for entry in model_list:
            groups.setdefault(str(entry.get("model_name")), []).append(entry)
        models = {
            name: _spec_for_group(name, entries, cfg.models.get(name), cfg.agent_default_estimate)
            for name, entries in groups.items()
        }
        return cls(models=models, default_output_tokens=cfg.default_output_tokens)

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def names(self) -> list[str]:
        return list(self.models)


@lru_cache(maxsize=4)
def catalog_for(config_path: str) -> tuple[RoutingConfig, ModelCatalog]:
    """config.yaml's ``gateway.routing`` and its model catalog (agents included), built
    once per config file and shared by the cost router and the budget guard."""
    from custom_hooks.core.config import load_config_cached

    cfg = load_config_cached(config_path)
    routing = cfg.gateway.routing
    return routing, ModelCatalog.from_model_list(cfg.model_list, routing)


def process_catalog() -> tuple[RoutingConfig, ModelCatalog]:
    """This process's routing config and catalog, built once from config.yaml."""
    from custom_hooks.core.settings import get_settings

    return catalog_for(str(get_settings().config))


def counting_tokenizer(spec: ModelSpec | None) -> str:
    """The model name the prompt of a request to ``spec`` is counted with (never one that
    needs a download): the model's own tokenizer, else gpt-4o's for unknown models."""
    return spec.tokenizer_model if spec is not None else _FALLBACK_TOKENIZER


def output_tokens_for(spec: ModelSpec, requested: int | None, default: int) -> int:
    """Output tokens the estimate assumes: the request's cap, else the model's, else the default."""
    if requested is not None:
        return requested
    if spec.default_output_tokens is not None:
        return spec.default_output_tokens
    if spec.max_output_tokens is not None:
        return min(default, spec.max_output_tokens)
    return default


def estimate_cost(spec: ModelSpec, shape: RequestShape, default_output_tokens: int = 256) -> float:
    """Upper-bound USD cost of sending ``shape`` to ``spec``."""
    if spec.fixed_estimate is not None:
        return spec.fixed_estimate
    prompt_cost = shape.prompt_tokens * spec.input_cost_per_token
    if shape.kind == "embedding" or spec.mode == "embedding":
        return prompt_cost
    out = output_tokens_for(spec, shape.max_output_tokens, default_output_tokens)
    return prompt_cost + out * spec.output_cost_per_token


# --- reading the request -----------------------------------------------------------


def _content_chars_and_images(content: Any) -> tuple[int, bool]:
    if isinstance(content, str):
        return len(content), False
    chars, images = 0, False
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            ptype = part.get("type")
            if ptype in ("image_url", "input_image", "image"):
                images = True
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
    return chars, images


def _messages_have_images(messages: Sequence[Any]) -> bool:
    for msg in messages:
        if isinstance(msg, dict) and isinstance(msg.get("content"), list):
            if _content_chars_and_images(msg["content"])[1]:
                return True
    return False


def _approx_tokens_messages(messages: Sequence[Any], tools: Any) -> int:
    chars = 0
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        chars += _content_chars_and_images(msg.get("content"))[0] + 16
        for call in msg.get("tool_calls") or []:
            chars += len(str(call))
    if tools:
        chars += len(str(tools))
    return chars // 4 + 3


def _texts(value: Any) -> tuple[list[str], int]:
    """Strings to count, and tokens already given as integer arrays."""
    if isinstance(value, str):
        return [value], 0
    texts: list[str] = []
    tokens = 0
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [], len(value)
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, list):
                tokens += len(item)
    return texts, tokens


@lru_cache(maxsize=64)
def _tokenizer_of(tokenizer_model: str) -> Any:
    """LiteLLM's tokenizer for a model name, selected once: ``token_counter`` selects it again
    on every call otherwise (about 60% of a short prompt's count)."""
    from litellm.utils import select_tokenizer

    return select_tokenizer(tokenizer_model)


def count_prompt_tokens(
    data: Mapping[str, Any], kind: str, tokenizer_model: str, *, approx: bool = False
) -> int:
    """Prompt tokens of a chat, completion or embedding request body."""
    if kind == "chat":
        messages = data.get("messages") or []
        tools = data.get("tools") or None
        if approx:
            return _approx_tokens_messages(messages, tools)
        return int(
            litellm.token_counter(
                model=tokenizer_model,
                custom_tokenizer=_tokenizer_of(tokenizer_model),
                messages=messages,
                tools=tools,
                use_default_image_token_count=True,
            )
        )
    source = data.get("input") if kind in ("embedding", "responses") else data.get("prompt")
    if kind == "responses" and isinstance(source, list) and source and isinstance(source[0], dict):
        return count_prompt_tokens({"messages": source}, "chat", tokenizer_model, approx=approx)
    texts, tokens = _texts(source)
    if approx:
        return tokens + sum(len(t) for t in texts) // 4
    tokenizer = _tokenizer_of(tokenizer_model)
    return tokens + sum(
        int(litellm.token_counter(model=tokenizer_model, custom_tokenizer=tokenizer, text=t))
        for t in texts
        if t
    )


_KIND_BY_CALL_TYPE = {
    "completion": "chat",
    "acompletion": "chat",
    "embeddings": "embedding",
    "embedding": "embedding",
    "aembedding": "embedding",
    "text_completion": "completion",
    "atext_completion": "completion",
    "responses": "responses",
    "aresponses": "responses",
}


def request_kind(call_type: str, data: Mapping[str, Any]) -> str:
    """chat | embedding | completion | responses | other."""
    kind = _KIND_BY_CALL_TYPE.get(str(call_type))
    if kind is None and "messages" in data:
        kind = "chat"
    return kind or "other"


def request_shape(
    data: Mapping[str, Any], kind: str, tokenizer_model: str, *, approx: bool = False
) -> RequestShape:
    """Count and classify a request body (the only place the prompt is read)."""
    if kind == "other":
        return RequestShape(kind=kind, prompt_tokens=0)
    max_out = _int(data.get("max_completion_tokens"))
    if max_out is None:
        max_out = _int(data.get("max_tokens") if kind != "responses" else data.get("max_output_tokens"))
    messages = (data.get("messages") or []) if kind == "chat" else []
    return RequestShape(
        kind=kind,
        prompt_tokens=count_prompt_tokens(data, kind, tokenizer_model, approx=approx),
        max_output_tokens=max_out,
        has_tools=bool(data.get("tools") or data.get("functions")),
        has_images=_messages_have_images(messages),
    )
