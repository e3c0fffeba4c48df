"""Metrics, scraping and request logs (gateway.observability)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ObservabilityConfig"]


class ObservabilityConfig(BaseModel):
    """Metrics, scraping and request logs (gateway.observability)."""

    model_config = ConfigDict(extra="forbid")
