"""Keys, teams, budgets, ledger and failure policy (gateway.governance)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["GovernanceConfig"]


class GovernanceConfig(BaseModel):
    """Keys, teams, budgets, ledger and failure policy (gateway.governance)."""

    model_config = ConfigDict(extra="forbid")
