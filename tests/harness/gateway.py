"""Run the real gateway (``agent-gateway serve``) as a subprocess for end-to-end tests.

The config is the shipped ``config.yaml`` with every provider deployment pointed at the
fake upstream (the upstream sees ``model=<model_name>`` and, as API key,
``sk-fake-<model_info.id>`` so tests can tell deployments apart), plus test overrides
deep-merged on top (dicts merge, lists are replaced).
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = ["REPO_ROOT", "GatewayProcess", "deep_merge", "free_port", "make_test_config"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO_ROOT / "config.yaml"
_PROVIDERS = ("openai/", "azure/", "anthropic/", "ollama/", "ollama_chat/")
TEST_MASTER_KEY = "sk-admin-test-0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_test_config(upstream_url: str, overrides: dict[str, Any] | None, path: Path) -> Path:
    """Write the shipped config with providers pointed at ``upstream_url``."""
    cfg = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for entry in cfg.get("model_list") or []:
        params = entry.get("litellm_params") or {}
        if str(params.get("model", "")).startswith(_PROVIDERS):
            dep_id = (entry.get("model_info") or {}).get("id") or entry["model_name"]
            entry["litellm_params"] = {
                "model": f"openai/{entry['model_name']}",
                "api_base": upstream_url,
                "api_key": f"sk-fake-{dep_id}",
            }
    router = cfg.setdefault("router_settings", {})
    # A deployment cooled down by one test must not fail the next one.
    router["disable_cooldowns"] = True
    router["timeout"] = 20
    router.pop("cooldown_time", None)
    # Tests repeat prompts on purpose; the routing tests switch the response cache back on.
    cfg.setdefault("gateway", {}).setdefault("routing", {}).setdefault("cache", {})["enabled"] = False
    if overrides:
        cfg = deep_merge(cfg, overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class GatewayProcess:
    """One gateway subprocess on a free loopback port with its own data directory."""

    def __init__(
        self,
        config_path: Path,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        master_key: str | None = TEST_MASTER_KEY,
        provider_keys: bool = True,
    ) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self.port = port or free_port()
        # None: like a newcomer, let the gateway generate its admin key into the data dir.
        self.generate_key = master_key is None
        self.admin_key = master_key or ""
        self.extra_env = dict(env or {})
        self.provider_keys = provider_keys
        self.log_path = data_dir / f"gateway-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GATEWAY_", "LITELLM_", "OPENAI_", "ANTHROPIC_", "AZURE_"))
        }
        env.update(
            {
                "GATEWAY_CONFIG": str(self.config_path),
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(self.port),
                "GATEWAY_DATA_DIR": str(self.data_dir),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_TELEMETRY_DISABLED": "true",
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.provider_keys:
            env.update(
                {
                    "OPENAI_API_KEY": "sk-fake-openai",
                    "ANTHROPIC_API_KEY": "sk-fake-anthropic",
                    "AZURE_API_KEY": "sk-fake-azure",
                    "AZURE_API_BASE": "http://127.0.0.1:9",
                }
            )
        if not self.generate_key:
            env["GATEWAY_MASTER_KEY"] = self.admin_key
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> GatewayProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "custom_hooks.cli", "serve"],
            cwd=str(REPO_ROOT),
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        if self.generate_key:
            self.admin_key = (self.data_dir / "master.key").read_text().strip()
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self._proc.returncode}:\n{self.log_text()[-4000:]}")
            try:
                r = httpx.get(f"{self.root_url}/health/liveliness", timeout=1.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int | None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return proc.returncode
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)

    def restart(self) -> GatewayProcess:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, api_key: str | None = None, **kw: Any) -> Any:
        import openai

        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 60)
        return openai.OpenAI(base_url=self.base_url, api_key=api_key or self.admin_key, **kw)

    def aclient(self, api_key: str | None = None, **kw: Any) -> Any:
        import openai

        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 60)
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key or self.admin_key, **kw)

    def http(self, api_key: str | None = None) -> httpx.Client:
        """A plain HTTP client on the gateway root with the given (default admin) key."""
        return httpx.Client(
            base_url=self.root_url,
            headers={"Authorization": f"Bearer {api_key or self.admin_key}"},
            timeout=60,
        )
