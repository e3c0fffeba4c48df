"""Config entry ``agent_routes.support.build``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.agents.support`.
"""

from agent_routes.agents.support import build

__all__ = ["build"]
