"""Config entry ``agent_routes.approvals.build``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.agents.approvals`.
"""

from agent_routes.agents.approvals import build

__all__ = ["build"]
