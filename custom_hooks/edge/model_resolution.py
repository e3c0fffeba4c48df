"""Resolve, once, the model a request will be served by.

LiteLLM reads a model from several places: the URL (``/openai/deployments/{m}/...``,
``/engines/{m}/...``), the query string (``?model=``) and the body. When they disagree,
the one it routes on is not always the one an allow-list checked. The gateway therefore
collects every candidate, refuses a request whose candidates disagree (400
``model_conflict``), and hands the one value to auth, routing, budgets and the ledger.

A name the config does not serve is 404 ``model_not_found`` (what the OpenAI and
Anthropic SDKs expect); a model asked for an operation it does not do (embeddings from a
chat model or an agent, chat from an embedding model) is 400 ``model_not_supported``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from custom_hooks.core.catalog import agent_of
from custom_hooks.core.errors import BadRequest, NotFound

__all__ = ["ModelConflict", "ModelDirectory", "ModelNotFound", "ModelNotSupported", "Resolved", "resolve"]


class ModelNotFound(NotFound):
    code = "model_not_found"


class ModelConflict(BadRequest):
    code = "model_conflict"


class ModelNotSupported(BadRequest):
    code = "model_not_supported"


@dataclass(frozen=True, slots=True)
class Resolved:
    """The model a request targets and where it was read from."""

    model: str | None
    source: str  # path | query | body | none


@dataclass(frozen=True)
class ModelDirectory:
    """The model names this gateway serves and what each does (chat, embedding, agent)."""

    modes: Mapping[str, str]  # model name -> mode (chat | embedding | completion | agent | ...)
    patterns: tuple[str, ...] = ()  # wildcard model names (``openai/*``)

    @classmethod
    def from_model_list(cls, model_list: Collection[Mapping[str, Any]]) -> ModelDirectory:
        modes: dict[str, str] = {}
        patterns: list[str] = []
        for entry in model_list:
            name = str(entry.get("model_name") or "")
            if not name:
                continue
            info = entry.get("model_info") or {}
            params = entry.get("litellm_params") or {}
            is_agent = agent_of(params) is not None
            modes.setdefault(name, "agent" if is_agent else str(info.get("mode") or "chat"))
            if "*" in name:
                patterns.append(name)
        return cls(modes=modes, patterns=tuple(patterns))

    def mode_of(self, model: str) -> str | None:
        """The model's mode, or None when this gateway does not serve it."""
        mode = self.modes.get(model)
        if mode is not None:
            return mode
        for pattern in self.patterns:
            if fnmatchcase(model, pattern):
                return self.modes[pattern]
        return None

    def names(self) -> list[str]:
        return [n for n in self.modes if "*" not in n]


# Which modes may serve which operation; a mode not listed serves anything (unknown).
_OPERATIONS: dict[str, frozenset[str]] = {
    "embeddings": frozenset({"embedding"}),
    "chat": frozenset({"chat", "agent", "completion", "responses"}),
    "completions": frozenset({"chat", "completion", "agent", "responses"}),
    "responses": frozenset({"chat", "agent", "responses", "completion"}),
    "messages": frozenset({"chat", "agent", "responses", "completion"}),
    "count_tokens": frozenset({"chat", "agent", "responses", "completion"}),
}
_KNOWN_MODES = frozenset({"chat", "agent", "embedding", "completion", "responses"})


def _candidates(path_model: str | None, query: Mapping[str, str], body: Mapping[str, Any]) -> list[Resolved]:
    found: list[Resolved] = []
    if path_model:
        found.append(Resolved(path_model, "path"))
    q = query.get("model")
    if q:
        found.append(Resolved(q, "query"))
    b = body.get("model")
    if b is not None:
        if not isinstance(b, str) or not b.strip():
            raise BadRequest(
                "'model' must be a non-empty string naming a model from GET /v1/models.", param="model"
            )
        found.append(Resolved(b, "body"))
    return found


def resolve(
    directory: ModelDirectory,
    *,
    kind: str | None,
    path_model: str | None,
    query: Mapping[str, str],
    body: Mapping[str, Any],
) -> Resolved:
    """The one model of a request on an LLM route of ``kind`` (raises a 4xx GatewayError)."""
    found = _candidates(path_model, query, body)
    if not found:
        return Resolved(None, "none")
    names = {r.model for r in found}
    if len(names) > 1:
        where = ", ".join(f"{r.source} '{r.model}'" for r in found)
        raise ModelConflict(
            f"The request names more than one model ({where}). Name the model once, in the body.",
            param="model",
        )
    chosen = found[0]
    model = chosen.model or ""
    if kind == "models":
        return chosen
    mode = directory.mode_of(model)
    if mode is None:
        raise ModelNotFound(
            f"The model '{model[:200]}' does not exist on this gateway. "
            "Call one of the models listed by GET /v1/models.",
            param="model",
        )
    allowed = _OPERATIONS.get(kind or "")
    if allowed is not None and mode in _KNOWN_MODES and mode not in allowed:
        what = {"embeddings": "embeddings"}.get(kind or "", f"{kind} requests")
        raise ModelNotSupported(
            f"The model '{model}' ({mode}) does not support {what}. "
            "Pick a model of the right kind from GET /v1/models.",
            param="model",
        )
    return chosen
