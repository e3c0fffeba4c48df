"""Guardrail options shared by the guardrail hooks (gateway.guardrails)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["GuardrailsConfig"]


class GuardrailsConfig(BaseModel):
    """Guardrail options shared by the guardrail hooks (gateway.guardrails)."""

    model_config = ConfigDict(extra="forbid")
