"""The agent registry (``gateway.agents`` in config.yaml).

Example::

    gateway:
      agents:
        max_depth: 3
        registry:
          research:                              # the model name clients use
            description: "Searches and cites sources"
            graph: agent_routes.research.build   # factory: build(ctx) -> compiled graph
            model: default                       # alias its LLM nodes call (a model_list name)
            tools: {web_search: {max_results: 5}}
            step_limit: 25                       # LangGraph recursion_limit
            timeout_s: 120
            memory: true                         # persist threads (metadata.thread_id)
            approval_required: []                # tool names that wait for a human
            multitask: reject                    # a 2nd message while a turn runs: 409 thread_busy
            # multitask: enqueue                 # or wait for the turn, up to enqueue_timeout_s
            # enqueue_timeout_s: 30

Each agent also needs a ``model_list`` entry ``{model_name: research, litellm_params:
{model: agent/research}}`` priced at zero (the inner calls carry the cost).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AgentSpec", "AgentsConfig"]


class AgentSpec(BaseModel):
    """One agent served as a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    graph: str = Field(description="Dotted path of the factory, e.g. agent_routes.research.build.")
    model: str = Field(default="default", description="The model alias the agent's LLM nodes call.")
    models: list[str] = Field(default_factory=list, description="Further aliases its nodes may call.")
    agents: list[str] = Field(
        default_factory=list, description="Other agents it may call as models (supervisor -> workers)."
    )
    tools: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Tool name -> options.")
    step_limit: int = Field(default=25, ge=1, le=1000, description="LangGraph recursion_limit.")
    timeout_s: float = Field(default=120.0, gt=0, description="Wall time for one run.")
    memory: bool = Field(default=True, description="Persist threads when a thread id is sent.")
    approval_required: list[str] = Field(default_factory=list, description="Tools that need a human's ok.")
    multitask: Literal["reject", "enqueue"] = Field(
        default="reject",
        description=(
            "A message for a thread while another turn runs on it: 'reject' answers 409 thread_busy at "
            "once (nothing runs), 'enqueue' waits for the turn up to enqueue_timeout_s, then 409."
        ),
    )
    enqueue_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="How long an 'enqueue' message waits for the thread's turn."
    )

    def allowed_models(self) -> list[str]:
        """Every model name a run of this agent may call through the gateway."""
        seen: dict[str, None] = {}
        for name in [self.model, *self.models, *self.agents]:
            seen.setdefault(name, None)
        return list(seen)


class AgentsConfig(BaseModel):
    """Agents served as models (gateway.agents)."""

    model_config = ConfigDict(extra="forbid")

    registry: dict[str, AgentSpec] = Field(default_factory=dict)
    max_depth: int = Field(
        default=3, ge=1, le=10, description="Nested agent runs allowed (an agent calling an agent)."
    )
    run_token_ttl_s: float = Field(
        default=900.0, gt=0, description="Upper bound of a run token's life (the run's timeout + slack)."
    )
    thread_lease_ttl_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description=(
            "Life of a thread's turn lease; the run renews it every third of this, so a crashed "
            "instance's turn frees its thread within one TTL."
        ),
    )
    thread_scope: Literal["key", "team"] = Field(
        default="key", description="Who may continue a thread: its creating key, or that key's team too."
    )
    steps_default: bool = Field(default=True, description="Stream steps as reasoning_content by default.")
    inner_calls: Literal["in_process", "http"] = Field(
        default="in_process",
        description=(
            "How a run's LLM calls reach the gateway: 'in_process' hands them to this process's app "
            "(every middleware and hook, no socket); 'http' sends them to the public URL."
        ),
    )
    shared_state_failure: Literal["closed", "open"] = Field(
        default="closed",
        description=(
            "When Redis (active runs) is unreachable: 'closed' refuses run tokens (inner calls fail), "
            "'open' accepts any correctly signed, unexpired token."
        ),
    )
