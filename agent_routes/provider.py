"""Config entry ``agent_routes.provider.agent_provider``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.providers.agent`.
"""

from agent_routes.providers.agent import agent_provider

__all__ = ["agent_provider"]
