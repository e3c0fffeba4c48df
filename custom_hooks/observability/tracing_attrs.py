"""Span names and attributes for traces, as pure functions (OpenTelemetry GenAI conventions).

A request span follows the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.provider.name`` and the older ``gen_ai.system``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.usage.*``, ``gen_ai.request.max_tokens``...,
``error.type`` on failure) plus the gateway's own decisions under ``gateway.*``
(``gateway.route_reason``, ``gateway.served_model``, ``gateway.budget.*``,
``gateway.guardrail.actions``, ``gateway.request_id``, team and key alias).

Never in an attribute unless the operator opts in (``gateway.observability.tracing``):
prompt or completion text (``include_content``) and the key hash (``include_key_hash``).
Raw keys and exception messages never are (a message can quote the prompt).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from custom_hooks.core.request_event import RequestEvent

__all__ = [
    "RESUME",
    "AttributeValue",
    "ContentPolicy",
    "agent_end_attributes",
    "agent_start_attributes",
    "operation_for_path",
    "provider_name",
    "request_attributes",
    "span_name",
    "tool_attributes",
]

AttributeValue = str | bool | int | float | list[str]

# LiteLLM provider -> gen_ai.provider.name (well-known values of the conventions).
_PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}

# URL path suffix -> operation. Chat, completions, responses and messages are all "chat".
_OPERATIONS = (
    ("/chat/completions", "chat"),
    ("/completions", "chat"),
    ("/responses", "chat"),
    ("/messages", "chat"),
    ("/embeddings", "embeddings"),
)
_CONTENT_LIMIT = 32_000  # characters of prompt/completion JSON when include_content is on


@dataclass(frozen=True)
class ContentPolicy:
    """What the operator allowed into spans beyond the defaults."""

    include_content: bool = False
    include_key_hash: bool = False


RESUME = "resume"
"""Pseudo-operation of the agent resume route (``POST /agents/threads/{id}/resume``)."""
RESUME_SPAN = "POST /agents/threads/{thread_id}/resume"


def operation_for_path(method: str, path: str) -> str | None:
    """The GenAI operation a model route serves (None: not a model route, not traced).

    The agent resume route is :data:`RESUME` (its run is an ``invoke_agent`` child span).
    """
    if method != "POST":
        return None
    path = path.rstrip("/")
    for suffix, op in _OPERATIONS:
        if path.endswith(suffix):
            return op
    if path.endswith("/resume") and "/agents/threads/" in path:
        return RESUME
    return None


def provider_name(provider: str | None) -> str | None:
    """``gen_ai.provider.name`` for a LiteLLM provider (its own name when not well known)."""
    if not provider:
        return None
    return _PROVIDERS.get(provider, provider)


def span_name(operation: str, model: str | None) -> str:
    """``{operation} {model}``, or the operation alone when the model is unknown."""
    if operation == RESUME:
        return RESUME_SPAN
    return f"{operation} {model}" if model else operation


def _put(attrs: dict[str, AttributeValue], key: str, value: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool | int | float | str):
        attrs[key] = value
    elif isinstance(value, list | tuple) and value:
        attrs[key] = [str(v) for v in value]


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _json(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _CONTENT_LIMIT else text[:_CONTENT_LIMIT] + "...(truncated)"


def _finish_reasons(response: Any) -> list[str]:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        return []
    return [str(r) for r in (getattr(c, "finish_reason", None) for c in choices) if r]


def _guardrail_actions(guardrails: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(``guardrail:entity:action`` for each finding, guardrails that passed)."""
    actions, passed = [], set()
    for g in guardrails:
        name, action = str(g.get("guardrail") or "unknown"), str(g.get("action") or "unknown")
        if action == "allowed":
            passed.add(name)
        else:
            actions.append(f"{name}:{g.get('entity') or 'none'}:{action}")
    return sorted(set(actions)), sorted(passed)


def request_attributes(
    event: RequestEvent,
    *,
    operation: str,
    params: Mapping[str, Any] | None = None,
    response: Any = None,
    policy: ContentPolicy = ContentPolicy(),
) -> dict[str, AttributeValue]:
    """Attributes of a model request's span from its finished :class:`RequestEvent`.

    ``params`` are the request's optional parameters (``max_tokens``, ``temperature``...);
    ``response`` the model response object of a success (finish reasons, response id).
    """
    a: dict[str, AttributeValue] = {"gen_ai.operation.name": operation}
    provider = provider_name(event.provider)
    _put(a, "gen_ai.provider.name", provider)
    _put(a, "gen_ai.system", provider)
    agent = (event.agent_run or {}).get("agent")
    _put(a, "gen_ai.request.model", event.requested_model)
    _put(a, "gen_ai.response.model", event.response_model or event.served_model)
    if event.status == "success":
        _put(a, "gen_ai.usage.input_tokens", event.prompt_tokens)
        _put(a, "gen_ai.usage.output_tokens", event.completion_tokens)
        _put(a, "gen_ai.response.finish_reasons", _finish_reasons(response))
        _put(a, "gen_ai.response.id", getattr(response, "id", None))
    p = params or {}
    for name, key in (
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("max_completion_tokens", "gen_ai.request.max_tokens"),
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("seed", "gen_ai.request.seed"),
    ):
        number = _number(p.get(name))
        if number is not None and key not in a:
            a[key] = int(number) if key.endswith(("max_tokens", "seed")) else float(number)
    _put(a, "gateway.request_id", event.request_id)
    _put(a, "gateway.key_alias", event.key_alias)
    _put(a, "gateway.team_id", event.team_id)
    if policy.include_key_hash:
        _put(a, "gateway.key_hash", event.key_hash)
    _put(a, "gateway.served_model", event.served_model)
    _put(a, "gateway.stream", event.stream)
    if event.cache_hit:
        a["gateway.cache_hit"] = True
    if event.fallback:
        a["gateway.fallback"] = True
    if event.cost_usd is not None and (event.status == "success" or event.cost_usd):
        a["gateway.cost_usd"] = float(event.cost_usd)
    routing = event.routing or {}
    _put(a, "gateway.requested_model", routing.get("requested_model"))
    _put(a, "gateway.route_reason", routing.get("reason"))
    _put(a, "gateway.routing.estimated_cost_usd", _number(routing.get("estimated_cost")))
    budget = event.budget or {}
    for name in ("reserved", "remaining", "limit"):
        _put(a, f"gateway.budget.{name}", _number(budget.get(name)))
    _put(a, "gateway.budget.binding_scope", budget.get("binding_scope"))
    _put(a, "gateway.budget.scopes", budget.get("scopes"))
    _put(a, "gateway.budget.degraded", budget.get("degraded"))
    actions, passed = _guardrail_actions(event.guardrails)
    _put(a, "gateway.guardrail.actions", actions)
    _put(a, "gateway.guardrail.passed", passed)
    _put(a, "gateway.agent.name", agent)
    _put(a, "gateway.agent.run_id", (event.agent_run or {}).get("run_id") or event.run_id)
    if event.status != "success":
        a["error.type"] = event.reason or event.error_type or (event.error_code or "_OTHER")
        _put(a, "gateway.rejected", event.rejected)
    if policy.include_content:
        _put(a, "gen_ai.input.messages", _json(event.messages))
        _put(a, "gen_ai.output.messages", _json(event.response))
    return a


def agent_start_attributes(
    *,
    agent: str,
    run_id: str,
    thread_id: str | None,
    depth: int,
    parent_run_id: str | None,
    model: str | None,
) -> dict[str, AttributeValue]:
    """Attributes of an ``invoke_agent {agent}`` span when the run starts."""
    a: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.agent.id": agent,
        "gateway.agent.run_id": run_id,
        "gateway.agent.depth": depth,
    }
    _put(a, "gen_ai.conversation.id", thread_id)
    _put(a, "gateway.agent.parent_run_id", parent_run_id)
    _put(a, "gen_ai.request.model", model)
    return a


def agent_end_attributes(
    *,
    outcome: str,
    steps: int,
    inner_calls: int,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float | None,
    error_type: str | None,
) -> dict[str, AttributeValue]:
    """Attributes an ``invoke_agent`` span gets when the run ends (any outcome)."""
    a: dict[str, AttributeValue] = {
        "gateway.agent.outcome": outcome,
        "gateway.agent.steps": steps,
        "gateway.agent.inner_calls": inner_calls,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if cost_usd is not None:
        a["gateway.cost_usd"] = float(cost_usd)
    _put(a, "error.type", error_type)
    return a


def tool_attributes(name: str, call_id: str | None) -> dict[str, AttributeValue]:
    """Attributes of an ``execute_tool {tool}`` span (never the tool's arguments or result)."""
    a: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    _put(a, "gen_ai.tool.call.id", call_id)
    return a
