"""Shared setup for the shipped agents' end-to-end tests (research, support, supervisor, approvals).

Each test module registers the shipped agent it tests twice: ``<name>`` whose LLM nodes
call alias ``gpt-4o-mini`` (which the harness points at the fake upstream, so tests script
the model and see every inner call arrive), and ``<name>-demo`` on the offline demo model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness.fake_upstream import FakeUpstream, RecordedRequest
from tests.harness.gateway import SHIPPED_CONFIG, GatewayProcess, make_test_config

__all__ = ["inner_calls", "new_key", "overrides", "stream_text"]


def overrides(upstream_url: str, agents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Config overrides serving ``agents`` (name -> registry entry) through the agent provider.

    ``model_list`` is replaced as a whole, so it is rebuilt from the test config (provider
    models pointed at the fake upstream, shipped agents kept) plus an ``agent/<name>`` entry
    for each new agent; registry entries merge over the shipped ones.
    """
    with tempfile.TemporaryDirectory() as tmp:
        base = yaml.safe_load(make_test_config(upstream_url, None, Path(tmp) / "c.yaml").read_text())
    shipped = yaml.safe_load(SHIPPED_CONFIG.read_text())
    models = list(base["model_list"])
    known = {m["model_name"] for m in models}
    for name in agents:
        if name not in known:
            models.append(
                {
                    "model_name": name,
                    "litellm_params": {"model": f"agent/{name}"},
                    "model_info": {
                        "id": f"agent-{name}",
                        "input_cost_per_token": 0,
                        "output_cost_per_token": 0,
                    },
                }
            )
    settings = shipped.get("litellm_settings") or {}
    providers = [p for p in settings.get("custom_provider_map") or [] if p["provider"] != "agent"]
    providers.append({"provider": "agent", "custom_handler": "agent_routes.provider.agent_provider"})
    callbacks = [c for c in settings.get("callbacks") or [] if c != "agent_routes.run_reporter.run_reporter"]
    callbacks.append("agent_routes.run_reporter.run_reporter")
    return {
        "model_list": models,
        "litellm_settings": {"custom_provider_map": providers, "callbacks": callbacks},
        "gateway": {"agents": {"registry": agents}},
    }


def new_key(gw: GatewayProcess, alias: str) -> str:
    r = httpx.post(
        f"{gw.root_url}/key/generate",
        json={"key_alias": alias},
        headers={"Authorization": f"Bearer {gw.admin_key}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def inner_calls(upstream: FakeUpstream) -> list[RecordedRequest]:
    return [r for r in upstream.requests if r.path.endswith("/chat/completions")]


def stream_text(stream: Any) -> tuple[str, str, int]:
    """(content, reasoning, number of tool_call deltas) of a streamed chat completion."""
    content, reasoning, tool_deltas = "", "", 0
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        reasoning += getattr(delta, "reasoning_content", None) or ""
        tool_deltas += len(delta.tool_calls or [])
    return content, reasoning, tool_deltas
