"""Load and validate ``config.yaml``: LiteLLM's sections plus our ``gateway:`` section.

LiteLLM reads the same file itself at start; we read it first so that a mistake fails
with a message naming the file, the key and the fix instead of a traceback mid-start.

The ``gateway:`` section is ours (LiteLLM ignores unknown top-level keys). Each area
owns its sub-model, so an unknown policy field is an error, not a silent no-op.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from custom_hooks.core.errors import ConfigError
from custom_hooks.core.moved import moved_path
from custom_hooks.core.sections.agents import AgentsConfig
from custom_hooks.core.sections.governance import GovernanceConfig
from custom_hooks.core.sections.guardrails import GuardrailsConfig, check_guardrail_entries
from custom_hooks.core.sections.observability import ObservabilityConfig
from custom_hooks.core.sections.routing import RoutingConfig
from custom_hooks.core.sections.security import SecurityConfig

__all__ = [
    "ConfigProblem",
    "GatewayConfig",
    "GatewaySection",
    "check_config",
    "dotted_paths",
    "load_config",
    "resolve_dotted",
]

ENV_PREFIX = "os.environ/"
WHOLE_FILE = "(file)"  # ConfigProblem.key of a problem whose message is already complete
REFERENCE = 'the README\'s "Configuration reference" section'


class GatewaySection(BaseModel):
    """Our own section of ``config.yaml``."""

    model_config = ConfigDict(extra="forbid")

    default_model: str = "default"
    governance: GovernanceConfig = GovernanceConfig()
    routing: RoutingConfig = RoutingConfig()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    agents: AgentsConfig = AgentsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    security: SecurityConfig = SecurityConfig()


@dataclass(frozen=True)
class GatewayConfig:
    """A parsed ``config.yaml``: the raw mapping LiteLLM sees and our validated section."""

    path: Path
    raw: dict[str, Any]
    gateway: GatewaySection

    @property
    def model_list(self) -> list[dict[str, Any]]:
        return list(self.raw.get("model_list") or [])

    def model_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for entry in self.model_list:
            seen.setdefault(str(entry.get("model_name")), None)
        return list(seen)

    def deployments(self, model_name: str) -> list[dict[str, Any]]:
        return [e for e in self.model_list if e.get("model_name") == model_name]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the config: where, what, and how to fix it."""

    key: str
    problem: str
    fix: str
    fatal: bool = True

    def render(self, path: Path) -> str:
        if self.key == WHOLE_FILE:  # already names the file, the key and the fix
            return self.problem
        level = "error" if self.fatal else "warning"
        return f"{path}: {level} at '{self.key}': {self.problem}\n    fix: {self.fix}"


@dataclass
class _Collector:
    problems: list[ConfigProblem] = field(default_factory=list)

    def add(self, key: str, problem: str, fix: str, *, fatal: bool = True) -> None:
        self.problems.append(ConfigProblem(key, problem, fix, fatal))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: file not found. Set GATEWAY_CONFIG or run from the project folder.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"{path}:{where}: malformed YAML ({reason}).\n    fix: correct the indentation or quoting there."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (model_list:, gateway:, ...).")
    return data


def _parse_gateway(path: Path, raw: dict[str, Any]) -> GatewaySection:
    try:
        return GatewaySection.model_validate(raw.get("gateway") or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = "gateway." + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                fix = f"remove it or check the spelling against {REFERENCE}"
                lines.append(f"{path}: error at '{key}': unknown field.\n    fix: {fix}.")
            else:
                fix = f"give it a value of the type and range {REFERENCE} lists for it"
                lines.append(f"{path}: error at '{key}': {err['msg']}.\n    fix: {fix}.")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path | str) -> GatewayConfig:
    """Parse ``config.yaml`` and validate the ``gateway:`` section (raises :class:`ConfigError`)."""
    p = Path(path)
    raw = _read_yaml(p)
    return GatewayConfig(path=p.resolve(), raw=raw, gateway=_parse_gateway(p, raw))


@lru_cache(maxsize=4)
def load_config_cached(path: str) -> GatewayConfig:
    """The config for this process, parsed once per path."""
    return load_config(path)


def dotted_paths(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (config key, dotted path) in the config that names our Python code."""
    general = raw.get("general_settings") or {}
    if isinstance(general.get("custom_auth"), str):
        yield "general_settings.custom_auth", general["custom_auth"]
    settings = raw.get("litellm_settings") or {}
    for name in ("callbacks", "success_callback", "failure_callback"):
        for i, cb in enumerate(settings.get(name) or []):
            if isinstance(cb, str) and "." in cb:
                yield f"litellm_settings.{name}[{i}]", cb
    for i, entry in enumerate(settings.get("custom_provider_map") or []):
        if isinstance(entry, dict) and isinstance(entry.get("custom_handler"), str):
            yield f"litellm_settings.custom_provider_map[{i}].custom_handler", entry["custom_handler"]
    for i, guard in enumerate(raw.get("guardrails") or []):
        params = (guard or {}).get("litellm_params") or {}
        target = params.get("guardrail")
        if isinstance(target, str) and "." in target:
            yield f"guardrails[{i}].litellm_params.guardrail", target


def resolve_dotted(path: str) -> Any:
    """Import ``package.module.attr`` the normal way and return ``attr``."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImportError(f"'{path}' is not a dotted path")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        moved = moved_path(path)
        if moved is None:
            raise
        raise ImportError(f"'{module_name}' moved in the area layout: use '{moved}'") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module '{module_name}' has no attribute '{attr}'") from None


def _env_refs(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        yield prefix, value[len(ENV_PREFIX) :]
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _env_refs(v, f"{prefix}.{k}" if prefix else str(k))


def _models_used_by_default(cfg: GatewayConfig) -> set[str]:
    """The default alias plus whatever the router may fall back to from it."""
    used = {cfg.gateway.default_model}
    router = cfg.raw.get("router_settings") or {}
    for fb in router.get("fallbacks") or []:
        if isinstance(fb, dict):
            for src, targets in fb.items():
                if src in used:
                    used.update(str(t) for t in targets or [])
    return used


SectionCheck = Callable[["GatewayConfig"], Iterable[tuple[str, str, str, bool]]]
"""``config -> (config key, problem, fix, fatal)``: a package's own checks of its section."""


def check_config(
    path: Path | str, section_checks: Iterable[SectionCheck] = ()
) -> tuple[GatewayConfig | None, list[ConfigProblem]]:
    """Validate everything that can be checked before LiteLLM starts.

    ``section_checks`` are the checks packages outside the core bring for their own
    sections (the agents runtime checks its registry); the CLI passes them.

    Returns the parsed config (None when it could not be parsed) and the problems
    found; any fatal problem means the gateway must not start.
    """
    p = Path(path)
    out = _Collector()
    try:
        cfg = load_config(p)
    except ConfigError as exc:
        return None, [ConfigProblem(WHOLE_FILE, exc.message, "")]

    model_list = cfg.raw.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        out.add("model_list", "no models are declared", "add at least one entry under model_list")
    else:
        for i, entry in enumerate(model_list):
            if not isinstance(entry, dict) or "model_name" not in entry or "litellm_params" not in entry:
                out.add(f"model_list[{i}]", "needs model_name and litellm_params", "see config.yaml examples")

    for key, dotted in dotted_paths(cfg.raw):
        try:
            resolve_dotted(dotted)
        except ImportError as exc:
            moved = moved_path(dotted)
            fix = f"this module moved: use '{moved}'" if moved else "check the module and attribute name"
            out.add(key, f"cannot import '{dotted}' ({exc})", fix)
    for key, problem, fix in check_guardrail_entries(cfg.raw):
        out.add(key, problem, fix)

    names = set(cfg.model_names())
    if cfg.gateway.default_model not in names:
        out.add(
            "gateway.default_model",
            f"'{cfg.gateway.default_model}' is not a model_name in model_list",
            "name one of: " + ", ".join(sorted(names)),
        )
    for key, problem, fix, fatal in cfg.gateway.routing.problems(names, os.environ.get("GATEWAY_REDIS_URL")):
        out.add(key, problem, fix, fatal=fatal)
    for check in section_checks:
        for key, problem, fix, fatal in check(cfg):
            out.add(key, problem, fix, fatal=fatal)
    used = _models_used_by_default(cfg)
    unset_elsewhere: dict[str, list[str]] = {}
    for i, entry in enumerate(cfg.model_list):
        name = str(entry.get("model_name"))
        for key, var in _env_refs(entry.get("litellm_params") or {}, f"model_list[{i}].litellm_params"):
            if os.environ.get(var):
                continue
            if name in used:
                out.add(
                    key,
                    f"environment variable {var} is unset, and model '{name}' is used by default",
                    f"export {var}=... or point gateway.default_model at another model",
                )
            elif name not in unset_elsewhere.setdefault(var, []):
                unset_elsewhere[var].append(name)
    for var, affected in unset_elsewhere.items():
        out.add(
            "model_list",
            f"{var} is unset; calls to {', '.join(affected)} will fail until it is set",
            f"export {var}=... to use them",
            fatal=False,
        )
    return cfg, out.problems
