"""Resolve ``gateway.agents.registry`` into graph factories, and validate it at start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agent_routes._config import AgentsConfig, AgentSpec
from agent_routes._context import AgentContext

__all__ = [
    "AGENT_PROVIDER",
    "GraphFactory",
    "agent_model_names",
    "agents_config",
    "build_graph",
    "registry_problems",
    "resolve_factory",
]

AGENT_PROVIDER = "agent"
GraphFactory = Callable[[AgentContext], Any]


def agents_config() -> AgentsConfig:
    """The running gateway's agents section."""
    from custom_hooks._lifecycle import current_config

    return current_config().gateway.agents


def resolve_factory(dotted: str) -> GraphFactory:
    """Import ``package.module.build`` (raises ImportError with a clear reason)."""
    from custom_hooks._config import resolve_dotted

    factory = resolve_dotted(dotted)
    if not callable(factory):
        raise ImportError(f"'{dotted}' is not callable")
    return factory  # type: ignore[no-any-return]


def build_graph(name: str, ctx: AgentContext) -> Any:
    """Compile agent ``name``'s graph for one run (or for drawing)."""
    return resolve_factory(ctx.spec.graph)(ctx)


def agent_model_names(model_list: list[dict[str, Any]]) -> dict[str, str]:
    """model_name -> agent name for every ``model: agent/<name>`` entry."""
    out: dict[str, str] = {}
    for entry in model_list:
        model = str((entry.get("litellm_params") or {}).get("model", ""))
        if model.startswith(AGENT_PROVIDER + "/"):
            out[str(entry.get("model_name"))] = model.split("/", 1)[1]
    return out


def registry_problems(
    agents: AgentsConfig, model_list: list[dict[str, Any]]
) -> Iterator[tuple[str, str, str, bool]]:
    """(config key, problem, fix, fatal) for everything wrong with the agent registry.

    An agent with no ``model_list`` entry is not served (a warning); for a served agent an
    unloadable graph factory or an unknown model alias is fatal.
    """
    names = {str(e.get("model_name")) for e in model_list}
    served = set(agent_model_names(model_list).values())
    for name, spec in agents.registry.items():
        key = f"gateway.agents.registry.{name}"
        if name not in served:
            yield (
                key,
                f"agent '{name}' has no model_list entry, so clients cannot call it",
                f"add {{model_name: {name}, litellm_params: {{model: agent/{name}}}}} to model_list",
                False,
            )
            continue
        try:
            resolve_factory(spec.graph)
        except Exception as exc:  # any import failure is a config error at start
            yield (
                f"{key}.graph",
                f"cannot load graph factory '{spec.graph}' ({exc})",
                "check the module and name",
                True,
            )
        for alias in [spec.model, *spec.models]:
            if alias not in names:
                yield (
                    f"{key}.model",
                    f"model alias '{alias}' is not a model_name in model_list",
                    "name one of: " + ", ".join(sorted(names)),
                    True,
                )
        for sub in spec.agents:
            if sub not in agents.registry:
                yield f"{key}.agents", f"sub-agent '{sub}' is not in the registry", "add or remove it", True
    for model_name, agent in agent_model_names(model_list).items():
        if agent not in agents.registry:
            yield (
                "model_list",
                f"model '{model_name}' serves agent '{agent}', which is not in gateway.agents.registry",
                "add it to gateway.agents.registry or fix the name",
                True,
            )


def spec_for(name: str, agents: AgentsConfig | None = None) -> AgentSpec | None:
    return (agents or agents_config()).registry.get(name)
