"""Config entry ``custom_hooks.budget_guard.budget_guard``: key/team/user budgets.

Stateless on purpose (LiteLLM may execute this file directly): the class and its state
live in :mod:`custom_hooks.governance.budgets`.
"""

from custom_hooks.governance.budgets import BudgetGuard

budget_guard = BudgetGuard()
