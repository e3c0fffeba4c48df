"""Config entry point: ``litellm_settings.callbacks: [custom_hooks.cost_router.cost_router, ...]``.

LiteLLM executes this file directly, so it holds no state: the class lives in
:mod:`custom_hooks._cost_router`.
"""

from custom_hooks._cost_router import CostRouter

cost_router = CostRouter()
