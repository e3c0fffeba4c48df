"""Config entry ``custom_hooks.topic_guard.TopicGuard``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.guardrails.topic_guard`.
"""

from custom_hooks.guardrails.topic_guard import TopicGuard

__all__ = ["TopicGuard"]
