"""Who may call which model: the one allow-list rule, with LiteLLM's semantics.

Auth, the cost router's reroute check and the model list all ask :func:`model_allowed`,
so a key's list means the same thing everywhere:

- an empty list: every model (no restriction at this level);
- ``*`` or ``all-proxy-models`` (LiteLLM's spelling): every model;
- ``all-team-models`` on a key: no restriction of its own, the team's list applies;
- ``no-default-models``: no model at all;
- otherwise model names and shell-style wildcards (``gpt-4o*``).

A key never exceeds its team: a caller may call a model only if both lists allow it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

__all__ = ["ALL_MODELS", "NO_MODELS", "expand_models", "model_allowed"]

ALL_MODELS = frozenset({"*", "all-proxy-models", "all-team-models"})
NO_MODELS = "no-default-models"  # LiteLLM's marker for "this key may list no model"


def model_allowed(patterns: Sequence[str], model: str) -> bool:
    """True if ``patterns`` (one key's or team's list) lets ``model`` through."""
    if not patterns:
        return True
    for p in patterns:
        if p in ALL_MODELS or p == model or fnmatchcase(model, p):
            return True
    return False


def expand_models(key_models: Sequence[str], team_models: Sequence[str], names: Iterable[str]) -> list[str]:
    """The concrete model names a key may call, for LiteLLM's ``models`` field.

    ``[]`` when neither list restricts anything; ``["no-default-models"]`` when the
    intersection is empty (LiteLLM reads an empty list as "all models").
    """
    if _unrestricted(key_models) and _unrestricted(team_models):
        return []
    allowed = [n for n in names if model_allowed(key_models, n) and model_allowed(team_models, n)]
    return allowed or [NO_MODELS]


def _unrestricted(patterns: Sequence[str]) -> bool:
    return not patterns or any(p in ALL_MODELS for p in patterns)
