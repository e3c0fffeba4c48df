"""What the agents runtime tells operations: its readiness check and its pending approvals.

:mod:`agent_routes.runtime.startup` registers both with the observability package, which
knows nothing of agents.
"""

from __future__ import annotations

from agent_routes.runtime.context import AgentContext
from agent_routes.runtime.registry import agents_config, build_graph, registry_problems
from agent_routes.runtime.threads import THREAD_STORE, Owner
from custom_hooks.core.services import services
from custom_hooks.observability.health import CheckResult

__all__ = ["check_agents", "count_pending_approvals"]


async def check_agents() -> CheckResult:
    """Agents built: the registry resolves (every graph factory imports, every model exists)
    and, when agents are configured, their thread store (checkpointer) is open."""
    cfg = services().config
    registry = cfg.gateway.agents.registry
    problems: list[str] = []
    for key, problem, _fix, fatal in registry_problems(cfg.gateway.agents, cfg.model_list):
        if fatal:  # warnings don't fail readiness
            problems.append(f"{key}: {problem}")
    if registry and not problems and not services().started(THREAD_STORE):
        problems.append("the agents' thread store is not open (start-up did not finish or failed)")
    if problems:
        return CheckResult(False, "; ".join(problems[:5]))
    return CheckResult(True, detail=f"{len(registry)} agents")


async def count_pending_approvals(limit: int = 200) -> dict[str, int] | None:
    """Runs paused on a human approval, by agent (None when agents are not running here).

    Reads the thread store: for each thread of an agent that has ``approval_required``
    tools, the graph state's pending interrupts (at most ``limit`` threads). Run from the
    background loop, not per scrape.
    """
    if not services().started(THREAD_STORE):
        return None
    store = services().get(THREAD_STORE)
    registry = agents_config().registry
    gated = {name for name, spec in registry.items() if spec.approval_required}
    counts = dict.fromkeys(gated, 0)
    if not gated:
        return counts
    records = [r for r in await store.list(Owner(key_hash="", is_admin=True)) if r.agent in gated]
    for rec in records[:limit]:
        ctx = AgentContext(name=rec.agent, spec=registry[rec.agent], checkpointer=store.checkpointer)
        graph = build_graph(rec.agent, ctx)
        snapshot = await graph.aget_state({"configurable": {"thread_id": rec.thread_id}})
        if getattr(snapshot, "interrupts", None):
            counts[rec.agent] += 1
    return counts
