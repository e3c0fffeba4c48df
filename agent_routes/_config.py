"""The agent registry (gateway.agents in config.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["AgentsConfig"]


class AgentsConfig(BaseModel):
    """Agents served as models (gateway.agents)."""

    model_config = ConfigDict(extra="forbid")
