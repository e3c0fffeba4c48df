"""Config entry ``custom_hooks.secrets_guard.SecretsGuard``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.guardrails.secrets_guard`.
"""

from custom_hooks.guardrails.secrets_guard import SecretsGuard

__all__ = ["SecretsGuard"]
