"""Is this model an agent? One answer, read from ``model_list``, for every area.

A deployment is an agent when its ``litellm_params.model`` is ``agent/<name>`` (the
``agent`` custom provider). The front door's model directory, routing's price catalog,
the guardrails (in-process models), the agents runtime and the CLI all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["AGENT_PROVIDER", "agent_model_names", "agent_of"]

AGENT_PROVIDER = "agent"
_PREFIX = AGENT_PROVIDER + "/"


def agent_of(litellm_params: Mapping[str, Any] | None) -> str | None:
    """The agent a deployment serves (``agent/research`` -> ``research``), else None."""
    model = str((litellm_params or {}).get("model") or "")
    return model[len(_PREFIX) :] if model.startswith(_PREFIX) else None


def agent_model_names(model_list: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """model_name -> agent name for every ``model: agent/<name>`` entry."""
    out: dict[str, str] = {}
    for entry in model_list:
        agent = agent_of(entry.get("litellm_params"))
        if agent is not None:
            out[str(entry.get("model_name"))] = agent
    return out
