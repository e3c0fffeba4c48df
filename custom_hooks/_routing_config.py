"""Cost-aware routing policies and caching (gateway.routing)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["RoutingConfig"]


class RoutingConfig(BaseModel):
    """Cost-aware routing policies and caching (gateway.routing)."""

    model_config = ConfigDict(extra="forbid")
