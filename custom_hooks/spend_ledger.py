"""Config entry ``custom_hooks.spend_ledger.spend_ledger``: a stable dotted path for config.yaml.

The code is in :mod:`custom_hooks.ledger.spend_ledger`.
"""

from custom_hooks.ledger.spend_ledger import spend_ledger

__all__ = ["spend_ledger"]
