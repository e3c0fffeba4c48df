"""Budgets: where spend is checked, reserved and settled, per key, team and user window."""
