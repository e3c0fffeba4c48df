"""config.yaml validation: the shipped file resolves, broken files fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from litellm.proxy.types_utils.utils import get_instance_fn

from custom_hooks.core.config import check_config, dotted_paths, load_config, resolve_dotted
from custom_hooks.core.errors import ConfigError
from tests.harness.gateway import REPO_ROOT

SHIPPED = REPO_ROOT / "config.yaml"


def _write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _minimal(**extra: object) -> dict:
    cfg: dict = {
        "model_list": [
            {"model_name": "default", "litellm_params": {"model": "demo/echo"}},
            {
                "model_name": "paid",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/GW_TEST_UNSET"},
            },
        ],
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "demo", "custom_handler": "agent_routes.demo_model.demo_model"}
            ]
        },
        "gateway": {"default_model": "default"},
    }
    cfg.update(extra)
    return cfg


def test_shipped_config_has_no_fatal_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "AZURE_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    cfg, problems = check_config(SHIPPED)
    assert cfg is not None
    assert [p for p in problems if p.fatal] == []


@pytest.mark.parametrize("key,dotted", list(dotted_paths(yaml.safe_load(SHIPPED.read_text()))))
def test_every_dotted_path_in_shipped_config_resolves(key: str, dotted: str) -> None:
    # Both ways LiteLLM may load it: a normal import, and executing the file beside config.yaml.
    assert resolve_dotted(dotted) is not None, key
    assert get_instance_fn(dotted, config_file_path=str(SHIPPED)) is not None, key


def test_shipped_config_names_our_hooks() -> None:
    paths = dict(dotted_paths(yaml.safe_load(SHIPPED.read_text())))
    assert paths["general_settings.custom_auth"].startswith("custom_hooks.")
    assert any(v == "agent_routes.demo_model.demo_model" for v in paths.values())


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "model_list:\n  - model_name: a\n   litellm_params: {model: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message
    assert "line" in info.value.message and "malformed YAML" in info.value.message


def test_unknown_gateway_field_is_fatal_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path, _minimal(gateway={"default_model": "default", "no_such_policy": 1}))
    cfg, problems = check_config(path)
    assert cfg is None
    assert "gateway.no_such_policy" in problems[0].problem
    assert "unknown field" in problems[0].problem


def test_unknown_dotted_path_is_fatal(tmp_path: Path) -> None:
    path = _write(tmp_path, _minimal(general_settings={"custom_auth": "custom_hooks.nope.user_api_key_auth"}))
    _, problems = check_config(path)
    fatal = [p for p in problems if p.fatal]
    assert [p.key for p in fatal] == ["general_settings.custom_auth"]
    assert "custom_hooks.nope" in fatal[0].problem


def test_unset_env_for_default_model_is_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_UNSET", raising=False)
    path = _write(tmp_path, _minimal(gateway={"default_model": "paid"}))
    _, problems = check_config(path)
    fatal = [p for p in problems if p.fatal]
    assert len(fatal) == 1 and "GW_TEST_UNSET" in fatal[0].problem
    assert fatal[0].key == "model_list[1].litellm_params.api_key"


def test_unset_env_for_other_model_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_UNSET", raising=False)
    _, problems = check_config(_write(tmp_path, _minimal()))
    assert problems and not any(p.fatal for p in problems)
    assert "GW_TEST_UNSET" in problems[0].problem and "paid" in problems[0].problem


def test_default_model_must_exist(tmp_path: Path) -> None:
    _, problems = check_config(_write(tmp_path, _minimal(gateway={"default_model": "ghost"})))
    assert any(p.key == "gateway.default_model" and p.fatal for p in problems)


@pytest.mark.parametrize(
    "content,expected",
    [
        ("model_list: [\n", "malformed YAML"),
        (yaml.safe_dump(_minimal(gateway={"bogus": True})), "gateway.bogus"),
    ],
)
def test_cli_refuses_to_start_on_bad_config(tmp_path: Path, content: str, expected: str) -> None:
    path = _write(tmp_path, content)
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_PORT": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "custom_hooks.cli", "--config", str(path), "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 2
    assert str(path) in proc.stderr and expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_module_of_the_flat_layout_is_named_with_its_new_path(tmp_path: Path) -> None:
    """An operator's config written for the flat layout gets the new dotted path, not a bare ImportError."""
    cfg = _minimal(litellm_settings={"callbacks": ["custom_hooks._budgets.BudgetGuard"]})
    _, problems = check_config(_write(tmp_path, yaml.safe_dump(cfg)))
    moved = [p for p in problems if p.key == "litellm_settings.callbacks[0]"]
    assert moved and moved[0].fatal
    assert "custom_hooks.governance.budgets.BudgetGuard" in moved[0].fix + moved[0].problem
