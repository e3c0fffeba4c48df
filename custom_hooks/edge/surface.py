"""Which routes the gateway serves: an explicit list, everything else refused.

LiteLLM's app carries several hundred routes (provider passthroughs, files, batches,
vector stores, realtime, SSO, UI, ...). Many of them call a provider with the operator's
own credentials outside a key's model list and budget. The gateway therefore serves

- the LLM routes it governs (:data:`LLM_ROUTES`: chat completions, completions,
  embeddings, Responses, Anthropic messages and token counting, the model list),
- its own routes (admin API, agents, health, metrics: any route whose endpoint lives in
  ``custom_hooks`` or ``agent_routes``), and
- LiteLLM's liveness probes,

and answers 404 to every other route, before auth and before the body is read, unless
the operator enables it under ``gateway.security.routes.enable``. An enabled route is
admin-only unless a grant names the caller's key alias or team (checked by custom auth).

:func:`classify` is the per-request decision (a dict lookup, then a few regexes);
:func:`app_route_paths` enumerates what an app serves, so a test can prove that every
route of LiteLLM's app is either served-and-governed or refused after an upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

__all__ = [
    "LLM_ROUTES",
    "OWN_MODULES",
    "RouteInfo",
    "Surface",
    "app_route_paths",
    "build_surface",
]

Kind = Literal[
    "chat", "completions", "embeddings", "responses", "responses_item", "messages", "count_tokens", "models"
]
Access = Literal["llm", "own", "public", "enabled"]

OWN_MODULES = ("custom_hooks", "agent_routes")
_MODEL = r"(?P<model>[^/]+)"


@dataclass(frozen=True, slots=True)
class LlmRoute:
    template: str  # Starlette-style path, {model} marks a model in the path
    methods: frozenset[str]
    kind: Kind


def _llm(kind: Kind, methods: str, *templates: str) -> list[LlmRoute]:
    return [LlmRoute(t, frozenset(methods.split()), kind) for t in templates]


# The governed LLM surface. Every path here goes through custom auth (model resolution,
# allow-list, parameter policy), the pre-call hooks (routing, budget, guardrails) and the
# ledger. Paths with {model} carry the model in the URL; custom auth resolves it once.
LLM_ROUTES: tuple[LlmRoute, ...] = (
    *_llm(
        "chat",
        "POST",
        "/v1/chat/completions",
        "/chat/completions",
        "/openai/deployments/{model}/chat/completions",
        "/engines/{model}/chat/completions",
    ),
    *_llm(
        "completions",
        "POST",
        "/v1/completions",
        "/completions",
        "/openai/deployments/{model}/completions",
        "/engines/{model}/completions",
    ),
    *_llm(
        "embeddings",
        "POST",
        "/v1/embeddings",
        "/embeddings",
        "/openai/deployments/{model}/embeddings",
        "/engines/{model}/embeddings",
    ),
    *_llm("responses", "POST", "/v1/responses", "/responses", "/openai/v1/responses"),
    *_llm("responses_item", "GET DELETE", "/v1/responses/{response_id}", "/responses/{response_id}"),
    *_llm(
        "responses_item",
        "GET",
        "/v1/responses/{response_id}/input_items",
        "/responses/{response_id}/input_items",
    ),
    *_llm("messages", "POST", "/v1/messages"),
    *_llm("count_tokens", "POST", "/v1/messages/count_tokens"),
    *_llm("models", "GET", "/v1/models", "/models", "/v1/models/{model}", "/models/{model}"),
)

# LiteLLM routes anyone may call: the liveness probes load balancers use. Nothing else of
# LiteLLM's is public (readiness and /health reveal versions and call every model).
PUBLIC_ROUTES: dict[str, frozenset[str]] = {
    "/health/liveliness": frozenset({"GET", "HEAD"}),
    "/health/liveness": frozenset({"GET", "HEAD"}),
}

# Answered by our own middlewares rather than by a route (the scrape endpoint).
MIDDLEWARE_ROUTES = ("/metrics", "/metrics/")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """What the front door learned about a request's route (kept in ``scope["state"]``)."""

    access: Access
    kind: Kind | None = None
    path_model: str | None = None
    grant_keys: tuple[str, ...] = ()
    grant_teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteGrant:
    """An operator-enabled LiteLLM route (``gateway.security.routes.enable``)."""

    path: str  # glob, e.g. "/v1/files*"
    methods: frozenset[str]
    keys: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def matches(self, method: str, path: str) -> bool:
        return ("*" in self.methods or method in self.methods) and fnmatchcase(path, self.path)


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(re.escape("{model}"), _MODEL)
    pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", pattern)
    return re.compile(f"^{pattern}$")


class Surface:
    """The served route table of one process, decided once at start."""

    def __init__(
        self,
        own: Iterable[tuple[str, Iterable[str]]] = (),
        grants: Sequence[RouteGrant] = (),
        llm_routes: Sequence[LlmRoute] = LLM_ROUTES,
    ) -> None:
        self._exact: dict[str, list[tuple[frozenset[str], RouteInfo]]] = {}
        self._patterns: list[tuple[re.Pattern[str], frozenset[str], Kind]] = []
        for route in llm_routes:
            if "{" in route.template:
                self._patterns.append((_compile(route.template), route.methods, route.kind))
            else:
                self._add(route.template, route.methods, RouteInfo("llm", route.kind))
        for path, methods in PUBLIC_ROUTES.items():
            self._add(path, methods, RouteInfo("public"))
        for path in MIDDLEWARE_ROUTES:
            self._add(path, frozenset({"GET", "HEAD"}), RouteInfo("own"))
        self._own_patterns: list[tuple[re.Pattern[str], frozenset[str]]] = []
        for path, own_methods in own:
            verbs = frozenset(m.upper() for m in own_methods) or frozenset({"GET"})
            if "{" in path:
                self._own_patterns.append((_compile(path), verbs))
            else:
                self._add(path, verbs, RouteInfo("own"))
        self._grants = tuple(grants)

    def _add(self, path: str, methods: frozenset[str], info: RouteInfo) -> None:
        self._exact.setdefault(path, []).append((methods, info))

    def classify(self, method: str, path: str) -> RouteInfo | None:
        """How ``method path`` is served, or None: refuse it (404)."""
        verb = "GET" if method == "HEAD" else method
        for methods, info in self._exact.get(path, ()):
            if verb in methods or method == "OPTIONS":
                return info
        for regex, methods, kind in self._patterns:
            m = regex.match(path)
            if m is not None and (verb in methods or method == "OPTIONS"):
                return RouteInfo("llm", kind, m.groupdict().get("model"))
        for regex, methods in self._own_patterns:
            if regex.match(path) and (verb in methods or method == "OPTIONS"):
                return RouteInfo("own")
        for grant in self._grants:
            if grant.matches(verb, path):
                return RouteInfo("enabled", grant_keys=grant.keys, grant_teams=grant.teams)
        return None


def app_route_paths(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, frozenset[str], str]]:
    """Every ``(path, methods, endpoint module)`` an ASGI app's route list serves.

    Walks Starlette mounts and FastAPI's lazily included routers; websocket routes report
    the method ``WEBSOCKET``, mounts (static files, sub-apps) ``MOUNT``.
    """
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI >= 0.16x: an included router, resolved lazily
            ctx = getattr(route, "include_context", None)
            sub_prefix = prefix + (getattr(ctx, "prefix", "") or "")
            yield from app_route_paths(original.routes, sub_prefix)
            continue
        path = prefix + str(getattr(route, "path", ""))
        endpoint = getattr(route, "endpoint", None)
        module = getattr(endpoint, "__module__", "") or ""
        methods = getattr(route, "methods", None)
        kind = type(route).__name__
        if "WebSocket" in kind:
            yield path, frozenset({"WEBSOCKET"}), module
        elif kind == "Mount":
            yield path, frozenset({"MOUNT"}), module
        else:
            yield path, frozenset(methods or ()), module


def build_surface(app_routes: Iterable[Any], grants: Sequence[RouteGrant] = ()) -> Surface:
    """The surface of an app: the LLM routes, our own routes (by module) and the grants."""
    own = [
        (path, methods)
        for path, methods, module in app_route_paths(app_routes)
        if module.split(".", 1)[0] in OWN_MODULES and "MOUNT" not in methods and "WEBSOCKET" not in methods
    ]
    return Surface(own=own, grants=grants)
