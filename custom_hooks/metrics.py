"""Config entry for the metrics hook: ``litellm_settings.callbacks: [..., custom_hooks.metrics.metrics]``.

LiteLLM executes this file directly, so it holds no state: the class and the metrics
live in normally imported private modules.
"""

from __future__ import annotations

from custom_hooks._metrics_logger import Metrics

__all__ = ["metrics"]

metrics = Metrics()
