"""The configs the benchmark starts are ones the gateway accepts, and vanilla stays bare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench._servers import AGENT_MODEL, MODEL, Backends, ours, vanilla_config

ROOT = Path(__file__).resolve().parents[2]


def test_ours_bench_config_passes_check_config(tmp_path: Path) -> None:
    target = ours(
        tmp_path, "http://127.0.0.1:9/v1", workers=2, backends=Backends(redis_url="redis://127.0.0.1:9/0")
    )
    env = {**target.server.env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "custom_hooks.cli", "check-config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load((tmp_path / "ours.yaml").read_text())
    names = [m["model_name"] for m in cfg["model_list"]]
    assert MODEL in names and AGENT_MODEL in names
    assert cfg["gateway"]["agents"]["registry"][AGENT_MODEL]["model"] == MODEL
    assert cfg["gateway"]["routing"]["cache"]["enabled"] is False
    assert env["GATEWAY_WORKERS"] == "2" and env["GATEWAY_REDIS_URL"] == "redis://127.0.0.1:9/0"
    assert "GATEWAY_STORE_URL" not in env  # unset backends stay unset (SQLite)


def test_vanilla_is_master_key_and_the_priced_model_only() -> None:
    cfg = vanilla_config("http://up/v1")
    assert set(cfg) == {"model_list", "general_settings"}
    assert cfg["general_settings"] == {"master_key": "sk-vanilla-bench"}
    (model,) = cfg["model_list"]
    assert (
        model["model_info"]["input_cost_per_token"] > 0 and model["model_info"]["output_cost_per_token"] > 0
    )
    assert model["litellm_params"]["api_base"] == "http://up/v1"
    assert "litellm_settings" not in cfg and "callbacks" not in str(cfg)


def test_server_env_drops_the_callers_gateway_and_litellm_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_STORE_URL", "postgresql+asyncpg://someone-elses/db")
    monkeypatch.setenv("LITELLM_LOG", "DEBUG")
    env = ours(tmp_path, "http://127.0.0.1:9/v1").server.env
    assert "GATEWAY_STORE_URL" not in env
    assert env["LITELLM_LOG"] == "ERROR" and env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
