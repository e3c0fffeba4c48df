"""The README's "Configuration reference" is generated from the config models and complete;
check-config messages point at it and name the file once."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_hooks.admin import config_reference as ref
from custom_hooks.core.config import GatewaySection, check_config
from custom_hooks.server.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_section_is_the_generated_reference() -> None:
    start, end = README.index(ref.BEGIN) + len(ref.BEGIN), README.index(ref.END)
    assert README[start:end].strip("\n") == ref.render().strip("\n"), "run `make config-reference`"
    assert "## Configuration reference" in README[: README.index(ref.BEGIN)]


def _leaf_paths(model: type, prefix: str) -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        sub, suffix = ref._model_of(field.annotation)
        key = f"{prefix}.{name}"
        if sub is None:
            out.add(key)
        else:
            out |= _leaf_paths(sub, key + suffix)
    return out


def test_every_field_is_listed_with_type_default_and_meaning() -> None:
    rows = list(ref.rows())
    keys = {r.key for r in rows if not r.section}
    assert keys == _leaf_paths(GatewaySection, "gateway")
    for row in rows:
        assert row.meaning.strip(), f"{row.key} has no meaning: describe it (Field description or MEANINGS)"
        if not row.section:
            assert row.type and row.default, row.key
    text = ref.render()
    for key in keys:
        assert f"`{key}`" in text


def test_nested_defaults_are_the_ones_that_apply() -> None:
    by_key = {r.key: r for r in ref.rows()}
    # LimitsOptions.default is TierLimit(200000, 500), not TierLimit's own None defaults.
    assert by_key["gateway.guardrails.limits.default.max_input_tokens"].default == "200000"
    assert by_key["gateway.guardrails.limits.tiers.<name>.max_input_tokens"].default == "unset"
    assert by_key["gateway.agents.registry.<name>.graph"].default == "required"
    assert by_key["gateway.routing.cache.enabled"].default == "false"


def test_meanings_table_has_no_stale_or_shadowed_entries() -> None:
    described: dict[tuple[str, str], bool] = {}

    def walk(model: type) -> None:
        for name, field in model.model_fields.items():
            described[(model.__name__, name)] = bool(field.description)
            sub, _ = ref._model_of(field.annotation)
            if sub is not None:
                walk(sub)

    walk(GatewaySection)
    for entry in ref.MEANINGS:
        assert entry in described, f"MEANINGS names a field that does not exist: {entry}"
        assert not described[entry], f"{entry} has a Field description; drop it from MEANINGS"


def test_cli_prints_and_writes_the_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out == ref.render()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{ref.BEGIN}\nstale\n{ref.END}\n\nafter\n")
    assert main(["config-reference", "--write", str(readme)]) == 0
    text = readme.read_text()
    assert "stale" not in text and ref.render() in text and text.endswith(f"{ref.END}\n\nafter\n")


def _rendered(tmp_path: Path, body: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(body)
    _, problems = check_config(path)
    return "\n".join(p.render(path) for p in problems)


def test_malformed_yaml_names_the_file_once_and_gives_a_real_fix(tmp_path: Path) -> None:
    out = _rendered(tmp_path, "model_list:\n  - model_name: [unclosed\n")
    assert out.count(str(tmp_path / "config.yaml")) == 1, out
    assert "error at '(file)'" not in out and "see above" not in out
    assert "fix:" in out


def test_field_errors_point_at_the_configuration_reference(tmp_path: Path) -> None:
    base = (ROOT / "config.yaml").read_text()
    typo = _rendered(tmp_path, base.replace("  routing:\n", "  routing:\n    ceilng: 1\n", 1))
    assert "gateway.routing.ceilng': unknown field" in typo
    assert 'the README\'s "Configuration reference" section' in typo
    assert "## Configuration reference" in README  # the section the message names exists
    # config.yaml ends inside its gateway: section, so this lands at gateway.governance
    assert "\n  governance:" not in base
    bad = _rendered(tmp_path, base + "\n  governance:\n    failure_policy: {rate_limits: maybe}\n")
    assert "gateway.governance.failure_policy.rate_limits" in bad
    assert "Configuration reference" in bad and "see the README reference" not in bad
