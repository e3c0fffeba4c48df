"""Who may call which model: the rule lives in :mod:`custom_hooks.core.model_access`.

Re-exported here, where auth and the cost router have always imported it; the core holds
it because :class:`custom_hooks.core.identity.Identity` (which every area reads) applies it.
"""

from __future__ import annotations

from custom_hooks.core.model_access import ALL_MODELS, NO_MODELS, expand_models, model_allowed

__all__ = ["ALL_MODELS", "NO_MODELS", "expand_models", "model_allowed"]
