"""Resolve ``gateway.agents.registry`` into graph factories, and validate it at start."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent_routes.runtime.context import AgentContext
from custom_hooks.core.catalog import AGENT_PROVIDER, agent_model_names
from custom_hooks.core.config import GatewayConfig
from custom_hooks.core.sections.agents import AgentsConfig, AgentSpec

if TYPE_CHECKING:
    from agent_routes.runtime.threads import ThreadStore

__all__ = [
    "AGENT_PROVIDER",
    "GraphFactory",
    "agent_model_names",
    "agents_config",
    "build_graph",
    "build_problem",
    "check_agents_section",
    "pending_approvals_by_agent",
    "registry_problems",
    "resolve_factory",
]

GraphFactory = Callable[[AgentContext], Any]


def agents_config() -> AgentsConfig:
    """The running gateway's agents section."""
    from custom_hooks.core.lifecycle import current_config

    return current_config().gateway.agents


def resolve_factory(dotted: str) -> GraphFactory:
    """Import ``package.module.build`` (raises ImportError with a clear reason)."""
    from custom_hooks.core.config import resolve_dotted

    factory = resolve_dotted(dotted)
    if not callable(factory):
        raise ImportError(f"'{dotted}' is not callable")
    return factory  # type: ignore[no-any-return]


def build_graph(name: str, ctx: AgentContext) -> Any:
    """Compile agent ``name``'s graph for one run (or for drawing)."""
    return resolve_factory(ctx.spec.graph)(ctx)


class _NoCallModel(BaseChatModel):
    """A chat model for building a graph without running it: it refuses every call."""

    @property
    def _llm_type(self) -> str:
        return "gateway-build-check"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        raise RuntimeError("no LLM calls while checking the agent registry")


def _no_call_model(model: str, **kw: Any) -> BaseChatModel:
    return _NoCallModel(callbacks=kw.get("callbacks"))


_built: dict[tuple[str, str], str | None] = {}


def build_problem(name: str, spec: AgentSpec) -> str | None:
    """Why agent ``name``'s graph cannot be built from ``spec`` (None: it builds).

    Builds the graph once per distinct spec with models that make no calls and no
    checkpointer, so a bad tool option fails at start, not on the first request.
    """
    key = (name, spec.model_dump_json())
    if key not in _built:
        try:
            build_graph(name, AgentContext(name=name, spec=spec, model_factory=_no_call_model))
            _built[key] = None
        except Exception as exc:  # whatever the factory raises is the operator's to fix
            _built[key] = f"{type(exc).__name__}: {exc}"
    return _built[key]


def registry_problems(
    agents: AgentsConfig, model_list: list[dict[str, Any]]
) -> Iterator[tuple[str, str, str, bool]]:
    """(config key, problem, fix, fatal) for everything wrong with the agent registry.

    An agent with no ``model_list`` entry is not served (a warning); for a served agent an
    unloadable graph factory, an unknown model alias, or a graph that does not build from
    its options (e.g. a tool option the agent has no tool for) is fatal.
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
        else:
            problem = build_problem(name, spec)
            if problem is not None:
                yield (
                    f"{key}.tools",
                    f"agent '{name}' graph does not build from its options ({problem})",
                    "fix the tool options under tools: (or the graph module)",
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


async def pending_approvals_by_agent(
    store: ThreadStore | None = None, agents: AgentsConfig | None = None
) -> dict[str, int]:
    """Runs paused on a human approval, by agent: one indexed query on the thread-owner table.

    Every agent with ``approval_required`` tools is listed (0 when none wait), so a gauge
    fed from this drops back to 0. Empty when the thread store is not open in this process.
    """
    from agent_routes.runtime.threads import THREAD_STORE
    from custom_hooks.core.services import services

    if store is None:
        if not services().started(THREAD_STORE):
            return {}
        store = services().get(THREAD_STORE)
    registry = (agents or agents_config()).registry
    counts = {name: 0 for name, spec in registry.items() if spec.approval_required}
    counts.update(await store.pending_counts())
    return counts


def check_agents_section(config: GatewayConfig) -> Iterator[tuple[str, str, str, bool]]:
    """``check-config``'s check of ``gateway.agents`` (a :data:`~custom_hooks.core.config.SectionCheck`)."""
    return registry_problems(config.gateway.agents, config.model_list)
