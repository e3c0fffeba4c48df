"""Config entry ``custom_hooks.cost_router.cost_router``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.routing.cost_router`.
"""

from custom_hooks.routing.cost_router import cost_router

__all__ = ["cost_router"]
