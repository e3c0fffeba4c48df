"""Config entry ``agent_routes.demo_model.demo_model``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.providers.demo_model`.
"""

from agent_routes.providers.demo_model import demo_model

__all__ = ["demo_model"]
