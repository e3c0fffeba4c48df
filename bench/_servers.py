"""The servers a benchmark compares: the fake upstream, vanilla LiteLLM and this gateway.

Vanilla is LiteLLM's own ``litellm --config`` of the same installed version, master key
only, with the same priced model entry; uvicorn picks httptools and uvloop (installed).
Ours is ``python -m custom_hooks.cli serve`` with the shipped ``config.yaml`` plus the
same model entry, an agent over it, and the response cache off. Both get the same
environment (offline price map, telemetry off, ``LITELLM_LOG=ERROR``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench._load import Server, free_port

__all__ = [
    "AGENT_MODEL",
    "BASE_ENV",
    "MODEL",
    "Backends",
    "Target",
    "bench_model",
    "env",
    "ours",
    "upstream",
    "vanilla",
    "vanilla_config",
]

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "bench"
AGENT_MODEL = "bench-agent"
PRICE = {"input_cost_per_token": 0.00000015, "output_cost_per_token": 0.0000006, "mode": "chat"}
BASE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_LOG": "ERROR",
}
VANILLA_KEY = "sk-vanilla-bench"
OURS_ADMIN_KEY = "sk-admin-bench"
# One LLM node calling MODEL through the gateway: an agent run makes exactly one inner call.
AGENT = {
    "graph": "tests.agent_routes.tiny_graphs.echo",
    "model": MODEL,
    "memory": False,
    "description": "benchmark: one LLM node",
}


@dataclass(frozen=True)
class Backends:
    """Where ours keeps shared state in ``--full`` mode (unset: in-process and SQLite)."""

    redis_url: str | None = None
    store_url: str | None = None
    checkpoint_url: str | None = None

    def env(self) -> dict[str, str]:
        pairs = {
            "GATEWAY_REDIS_URL": self.redis_url,
            "GATEWAY_STORE_URL": self.store_url,
            "GATEWAY_CHECKPOINT_URL": self.checkpoint_url,
        }
        return {k: v for k, v in pairs.items() if v}


@dataclass
class Target:
    """A started-or-not server and the key its load is sent with."""

    server: Server
    key: str
    config: dict[str, Any] = field(default_factory=dict)


def env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without GATEWAY_/LITELLM_ settings, plus BASE_ENV and ``extra``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "LITELLM_"))}
    return {**keep, **BASE_ENV, **extra}


def bench_model(upstream_url: str) -> dict[str, Any]:
    return {
        "model_name": MODEL,
        "litellm_params": {"model": f"openai/{MODEL}", "api_base": upstream_url, "api_key": "sk-bench"},
        "model_info": {"id": MODEL, **PRICE},
    }


def upstream() -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "bench._upstream", str(port)]
    return Server("upstream", cmd, env({"PYTHONPATH": str(REPO)}), port)


def vanilla_config(upstream_url: str) -> dict[str, Any]:
    """Vanilla LiteLLM's whole config: the priced model and a master key, nothing else."""
    return {"model_list": [bench_model(upstream_url)], "general_settings": {"master_key": VANILLA_KEY}}


def vanilla(tmp: Path, upstream_url: str, workers: int = 1) -> Target:
    cfg = vanilla_config(upstream_url)
    path = tmp / "vanilla.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    cmd = [str(BIN / "litellm"), "--config", str(path), "--port", str(port), "--host", "127.0.0.1"]
    if workers > 1:
        # uvicorn's default 5 s worker health check kills workers still importing LiteLLM on a
        # busy machine (a restart loop); ours serves with 60 s, so vanilla gets the same.
        cmd += ["--num_workers", str(workers), "--timeout_worker_healthcheck", "60"]
    return Target(Server("vanilla", cmd, env({}), port, log=tmp / "vanilla.log"), VANILLA_KEY, cfg)


def ours_config(upstream_url: str) -> dict[str, Any]:
    cfg: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["model_list"].append(bench_model(upstream_url))
    cfg["model_list"].append(
        {
            "model_name": AGENT_MODEL,
            "litellm_params": {"model": f"agent/{AGENT_MODEL}"},
            "model_info": {
                "id": AGENT_MODEL,
                "mode": "chat",
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
            },
        }
    )
    cfg["gateway"].setdefault("agents", {}).setdefault("registry", {})[AGENT_MODEL] = dict(AGENT)
    # Identical prompts would be served from the response cache: measure the full path.
    cfg["gateway"]["routing"]["cache"]["enabled"] = False
    return cfg


def compile_sources() -> None:
    """Byte-compile ours, as pip compiled vanilla's LiteLLM when it was installed.

    The image compiles at install too; a checkout compiles on first import. Only a machine
    that sets PYTHONDONTWRITEBYTECODE (this one does) would compile the whole tree again on
    every start of ours (about 0.4 s of its start-up) and never of vanilla's.
    """
    import compileall

    for package in ("custom_hooks", "agent_routes"):
        compileall.compile_dir(REPO / package, quiet=1)
    for module in ("__init__.py", "agent_routes/__init__.py", "agent_routes/tiny_graphs.py"):
        compileall.compile_file(REPO / "tests" / module, quiet=1)  # the bench agent's graph


def ours(tmp: Path, upstream_url: str, workers: int = 1, backends: Backends | None = None) -> Target:
    compile_sources()
    cfg = ours_config(upstream_url)
    path = tmp / "ours.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    extra = {
        "GATEWAY_CONFIG": str(path),
        "GATEWAY_PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_DATA_DIR": str(tmp / "ours-data"),
        "GATEWAY_MASTER_KEY": OURS_ADMIN_KEY,
        "GATEWAY_WORKERS": str(workers),
        "PYTHONPATH": str(REPO),
        **(backends or Backends()).env(),
    }
    cmd = [sys.executable, "-m", "custom_hooks.cli", "serve"]
    return Target(Server("ours", cmd, env(extra), port, log=tmp / "ours.log"), OURS_ADMIN_KEY, cfg)
