"""Config entry ``custom_hooks.request_log.request_log``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.observability.request_log`.
"""

from custom_hooks.observability.request_log import request_log

__all__ = ["request_log"]
