"""Config entry ``custom_hooks.injection_guard.InjectionGuard``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.guardrails.injection_guard`.
"""

from custom_hooks.guardrails.injection_guard import InjectionGuard

__all__ = ["InjectionGuard"]
