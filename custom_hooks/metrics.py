"""Config entry ``custom_hooks.metrics.metrics``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.observability.metrics_logger`.
"""

from custom_hooks.observability.metrics_logger import metrics

__all__ = ["metrics"]
