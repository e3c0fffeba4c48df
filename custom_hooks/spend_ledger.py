"""Config entry ``custom_hooks.spend_ledger.spend_ledger``: one ledger row per model call.

Stateless on purpose (LiteLLM may execute this file directly): the class and the write
queue live in :mod:`custom_hooks._spend_ledger` and :mod:`custom_hooks._ledger`.
"""

from custom_hooks._spend_ledger import SpendLedger

spend_ledger = SpendLedger()
