"""LiteLLM custom provider ``agent``: serves the agents in ``gateway.agents.registry``.

config.yaml::

    litellm_settings:
      custom_provider_map:
        - {provider: agent, custom_handler: agent_routes.provider.agent_provider}
    model_list:
      - model_name: research
        litellm_params: {model: agent/research}
        model_info: {input_cost_per_token: 0, output_cost_per_token: 0}  # inner calls carry the cost

LiteLLM executes this file directly, so it holds no state: the provider lives in
:mod:`agent_routes._serving`.
"""

from __future__ import annotations

from agent_routes._serving import AgentProvider

__all__ = ["agent_provider"]

agent_provider = AgentProvider()
