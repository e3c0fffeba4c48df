"""Config entry ``custom_hooks.request_limits.RequestLimits``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.guardrails.request_limits`.
"""

from custom_hooks.guardrails.request_limits import RequestLimits

__all__ = ["RequestLimits"]
