"""Where a request's metadata, its gateway decisions and the caller's identity live.

One reading for every hook (cost router, budget guard, guardrails, metrics), so that all
of a request's decisions land in the same dict:

- :func:`request_metadata`: ``data["metadata"]``, else ``data["litellm_metadata"]`` (the
  spelling LiteLLM uses on some routes), creating ``data["metadata"]`` only when neither
  is a dict;
- :func:`gateway_metadata`: its ``"gateway"`` sub-dict (created if missing);
- :func:`identity_of`: ``user_api_key_dict.metadata["gateway_identity"]`` (``{}`` when
  custom auth set none, e.g. the master key).
"""

from __future__ import annotations

from typing import Any

__all__ = ["gateway_metadata", "identity_of", "request_metadata"]


def request_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The request's metadata dict: ``metadata``, else ``litellm_metadata``, else a new ``metadata``."""
    for name in ("metadata", "litellm_metadata"):
        md = data.get(name)
        if isinstance(md, dict):
            return md
    md = data["metadata"] = {}
    return md


def gateway_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """``request_metadata(data)["gateway"]``, created if missing."""
    md = request_metadata(data)
    gw = md.get("gateway")
    if not isinstance(gw, dict):
        gw = md["gateway"] = {}
    return gw


def identity_of(user_api_key_dict: Any) -> dict[str, Any]:
    """The caller's ``gateway_identity`` (``{}`` when custom auth set none)."""
    meta = getattr(user_api_key_dict, "metadata", None) or {}
    ident = meta.get("gateway_identity") if isinstance(meta, dict) else None
    return ident if isinstance(ident, dict) else {}
