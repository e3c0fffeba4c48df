"""Config entry ``custom_hooks.tracing.tracing``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.observability.tracing_logger`.
"""

from custom_hooks.observability.tracing_logger import tracing

__all__ = ["tracing"]
