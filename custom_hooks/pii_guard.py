"""Config entry ``custom_hooks.pii_guard.PiiGuard``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.guardrails.pii_guard`.
"""

from custom_hooks.guardrails.pii_guard import PiiGuard

__all__ = ["PiiGuard"]
