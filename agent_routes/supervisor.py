"""Config entry ``agent_routes.supervisor.build``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.agents.supervisor`.
"""

from agent_routes.agents.supervisor import build

__all__ = ["build"]
