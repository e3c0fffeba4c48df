"""Config entry ``agent_routes.research.build``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.agents.research`.
"""

from agent_routes.agents.research import build

__all__ = ["build"]
