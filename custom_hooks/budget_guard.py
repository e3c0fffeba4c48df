"""Config entry ``custom_hooks.budget_guard.budget_guard``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.governance.budget_guard`.
"""

from custom_hooks.governance.budget_guard import budget_guard

__all__ = ["budget_guard"]
