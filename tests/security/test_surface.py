"""Every route of the app is served-and-governed or refused: an upgrade cannot open a door.

The route table is read from a fresh process with ``LITELLM_DISABLE_LAZY_ROUTES`` set, so
LiteLLM's lazily registered features (messages, vector stores, MCP, realtime, ...) are
enumerated too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import lru_cache

import pytest

from custom_hooks.edge.surface import (
    LLM_ROUTES,
    MIDDLEWARE_ROUTES,
    PUBLIC_ROUTES,
    RouteGrant,
    Surface,
    build_surface,
)
from tests.harness.gateway import REPO_ROOT

_DUMP = """
import json, sys
from custom_hooks.server.app import app
from custom_hooks.edge.surface import app_route_paths
from litellm.proxy._lazy_features import register_all_features
register_all_features(app)  # what lazy mode would add on first hit
rows = [[p, sorted(m), mod] for p, m, mod in app_route_paths(app.routes)]
sys.stdout.write("ROUTES" + json.dumps(rows))
"""


@lru_cache(maxsize=1)
def app_routes() -> tuple[tuple[str, frozenset[str], str], ...]:
    env = {
        **os.environ,
        "LITELLM_DISABLE_LAZY_ROUTES": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "GATEWAY_CONFIG": str(REPO_ROOT / "config.yaml"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", _DUMP], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300
    )
    assert "ROUTES" in out.stdout, out.stderr[-3000:]
    rows = json.loads(out.stdout.split("ROUTES", 1)[1])
    return tuple((p, frozenset(m), mod) for p, m, mod in rows)


def _concrete(path: str) -> str:
    """A request path that the route template matches."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def _served_templates() -> set[str]:
    return {r.template for r in LLM_ROUTES} | set(PUBLIC_ROUTES) | set(MIDDLEWARE_ROUTES)


def test_every_route_is_served_and_governed_or_refused() -> None:
    routes = app_routes()
    assert len(routes) > 300, "the full LiteLLM route table was not enumerated"
    own = [(p, m) for p, m, mod in routes if mod.split(".")[0] in ("custom_hooks", "agent_routes")]
    surface = Surface(own=[(p, m) for p, m in own if "MOUNT" not in m and "WEBSOCKET" not in m])
    served_litellm: set[tuple[str, str]] = set()
    for path, methods, module in routes:
        for method in methods or {"GET"}:
            if method == "OPTIONS":
                continue  # CORS preflight of a served path; answers no request
            verb = "GET" if method in ("WEBSOCKET", "MOUNT") else method
            info = surface.classify(verb, _concrete(path))
            if info is None:
                continue  # refused: 404 before auth
            if info.access == "own":
                assert (
                    module.split(".")[0] in ("custom_hooks", "agent_routes")
                    or path in MIDDLEWARE_ROUTES
                    or (
                        # a LiteLLM route shadowed by one of ours at the same path (ours is mounted first)
                        any(o[0] == path for o in own)
                    )
                ), (path, method, module)
                continue
            assert info.access in ("llm", "public"), (path, method, info)
            assert method not in ("WEBSOCKET", "MOUNT"), (path, method)
            served_litellm.add((path, method))
    # What of LiteLLM's is served is exactly the governed list (paths normalised: {model:path} -> {model}).
    normalised = {(re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", p), m) for p, m in served_litellm}
    expected = {(re.sub(r"\{(\w+)\}", r"{\1}", r.template), m) for r in LLM_ROUTES for m in r.methods} | {
        (p, m) for p, ms in PUBLIC_ROUTES.items() for m in ms if m != "HEAD"
    }

    # Path parameter names differ between our templates and LiteLLM's (model_id, response_id...).
    def shape(items: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(re.sub(r"\{[^}]+\}", "{}", p), m) for p, m in items}

    assert shape(normalised) <= shape(expected), shape(normalised) - shape(expected)
    missing = shape(expected) - shape(normalised)
    assert not missing, f"served templates with no LiteLLM route behind them (stale list): {missing}"


def test_websocket_and_mounts_are_never_served_by_default() -> None:
    surface = build_surface([])
    for path, methods, _ in app_routes():
        if "WEBSOCKET" in methods or "MOUNT" in methods:
            assert surface.classify("GET", _concrete(path)) is None or path in _served_templates(), path


@pytest.mark.parametrize(
    ("method", "path", "access", "kind", "model"),
    [
        ("POST", "/v1/chat/completions", "llm", "chat", None),
        ("POST", "/openai/deployments/gpt-4o/chat/completions", "llm", "chat", "gpt-4o"),
        ("POST", "/engines/demo/embeddings", "llm", "embeddings", "demo"),
        ("GET", "/v1/models/demo", "llm", "models", "demo"),
        ("HEAD", "/health/liveliness", "public", None, None),
        ("OPTIONS", "/v1/chat/completions", "llm", "chat", None),
        ("GET", "/metrics", "own", None, None),
    ],
)
def test_classify_served(method: str, path: str, access: str, kind: str | None, model: str | None) -> None:
    info = build_surface([]).classify(method, path)
    assert info is not None
    assert (info.access, info.kind, info.path_model) == (access, kind, model)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),  # wrong method
        ("POST", "/v1/chat/completions/"),
        ("POST", "/v1//chat/completions"),
        ("POST", "/v1/chat/completions/../files"),
        ("POST", "/V1/chat/completions"),
        ("POST", "/openai/deployments/a/b/chat/completions"),
        ("GET", "/v1/files"),
        ("GET", "/health"),
        ("POST", "/key/health"),
    ],
)
def test_classify_refused(method: str, path: str) -> None:
    assert build_surface([]).classify(method, path) is None


def test_grants_enable_only_their_methods() -> None:
    grant = RouteGrant("/v1/files*", frozenset({"GET"}), keys=("bot",), teams=())
    surface = build_surface([], [grant])
    info = surface.classify("GET", "/v1/files/abc")
    assert info is not None and info.access == "enabled" and info.grant_keys == ("bot",)
    assert surface.classify("DELETE", "/v1/files/abc") is None
    assert surface.classify("GET", "/v1/batches") is None
