"""From two servers' raw figures to table rows with a target and met / not met.

Pure functions over the JSON ``bench.gateway_bench`` writes, so the printed table, the
README table and their test all come from the same place. Targets are issue 13's: ratios
to vanilla LiteLLM measured in the same run, RSS as vanilla + a margin, agent overhead in
absolute milliseconds (vanilla has no agents).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Row", "Target", "errors", "replaced", "rows", "verdict"]

Figures = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """``ratio_max``: ours/vanilla <= value; ``plus_max``: ours <= vanilla + value;
    ``abs_max``: ours <= value (vanilla not needed)."""

    kind: Literal["ratio_max", "plus_max", "abs_max"]
    value: float
    unit: str = ""

    def text(self) -> str:
        if self.kind == "ratio_max":
            return f"ratio ≤ {self.value:g}"
        if self.kind == "plus_max":
            return f"≤ vanilla + {self.value:g} {self.unit}"
        return f"≤ {self.value:g} {self.unit}"

    def met(self, vanilla: float | None, ours: float | None) -> bool | None:
        if not _num(ours) or (self.kind != "abs_max" and not _num(vanilla)):
            return None
        assert ours is not None
        if self.kind == "abs_max":
            return ours <= self.value
        assert vanilla is not None
        if self.kind == "plus_max":
            return ours <= vanilla + self.value
        return vanilla > 0 and ours / vanilla <= self.value


@dataclass(frozen=True)
class _Spec:
    label: str
    unit: str
    get: Callable[[Figures], float | None]
    target: Target | None = None
    digits: int = 1
    ours_only: bool = False


@dataclass(frozen=True)
class Row:
    label: str
    vanilla: str
    ours: str
    ratio: str
    target: str
    verdict: str
    ratio_value: float | None = None  # ours/vanilla, unrounded (None: ours only or missing)

    def cells(self) -> list[str]:
        return [self.label, self.vanilla, self.ours, self.ratio, self.target, self.verdict]


def _num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _at(*path: str) -> Callable[[Figures], float | None]:
    def get(fig: Figures) -> float | None:
        node: Any = fig
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return float(node) if _num(node) else None

    return get


_COMMON = [
    _Spec("CPU per request, c=32", "ms", _at("c32", "cpu_ms_per_request"), Target("ratio_max", 1.0)),
    _Spec("CPU per 10-chunk stream", "ms", _at("stream10", "cpu_ms_per_stream"), Target("ratio_max", 1.0)),
    _Spec("CPU per chunk, 200-chunk stream", "µs", _at("cpu_us_per_chunk"), Target("ratio_max", 1.0), 0),
    _Spec("p99 latency, c=32", "ms", _at("c32", "p99_ms"), Target("ratio_max", 1.2), 0),
    _Spec("time to first token, p50", "ms", _at("stream10", "ttft_p50_ms"), Target("ratio_max", 1.1)),
    _Spec("requests/s, c=32", "", _at("c32", "rps")),
    _Spec("requests/s, c=1", "", _at("c1", "rps")),
    _Spec("p50 latency, c=1", "ms", _at("c1", "p50_ms")),
    _Spec("RSS (all processes)", "MB", _at("rss_mb"), Target("plus_max", 50, "MB"), 0),
    _Spec("start-up", "s", _at("startup_s"), Target("ratio_max", 1.1)),
    _Spec(
        "agent run: CPU beyond its inner call",
        "ms",
        _at("agent", "overhead_cpu_ms"),
        Target("abs_max", 8, "ms"),
        ours_only=True,
    ),
    _Spec(
        "agent run: CPU beyond inner call and outer pass",
        "ms",
        _at("agent", "overhead_beyond_outer_pass_cpu_ms"),
        ours_only=True,
    ),
]
_MIX = [
    # Issue 13 sets the mix its own target: "The Redis + PostgreSQL mix: <= 1.2 against vanilla
    # on the same mix" (the mix has agent runs, which vanilla's has not).
    _Spec("mix CPU per request, c=32", "ms", _at("mix", "cpu_ms_per_request"), Target("ratio_max", 1.2)),
    _Spec("mix requests/s, c=32", "", _at("mix", "rps")),
    _Spec(
        "Redis + PostgreSQL CPU per mix request",
        "ms",
        _at("mix", "services_cpu_ms_per_request"),
        ours_only=True,
    ),
]


def _fmt(value: float | None, spec: _Spec) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.{spec.digits}f}"
    return f"{text} {spec.unit}" if spec.unit else text


def verdict(target: Target | None, vanilla: float | None, ours: float | None) -> str:
    if target is None:
        return "—"
    met = target.met(vanilla, ours)
    return "n/a" if met is None else "met" if met else "not met"


def _row(spec: _Spec, vanilla: Figures, ours: Figures) -> Row:
    v = None if spec.ours_only else spec.get(vanilla)
    o = spec.get(ours)
    if spec.ours_only:
        ratio = "—"
    elif v is None or o is None or v == 0:
        ratio = "n/a"
    elif spec.target is not None and spec.target.kind == "plus_max":
        ratio = f"{o / v:.2f} ({o - v:+.0f} {spec.unit})"
    else:
        ratio = f"{o / v:.2f}"
    return Row(
        spec.label,
        "—" if spec.ours_only else _fmt(v, spec),
        _fmt(o, spec),
        ratio,
        spec.target.text() if spec.target else "—",
        verdict(spec.target, v, o),
        o / v if v and o is not None else None,
    )


def rows(result: Figures) -> list[Row]:
    """The table rows of one result file (``servers.vanilla`` / ``servers.ours``)."""
    servers = result.get("servers") or {}
    vanilla, ours = servers.get("vanilla") or {}, servers.get("ours") or {}
    specs = (_MIX if "mix" in ours or "mix" in vanilla else []) + _COMMON
    return [_row(spec, vanilla, ours) for spec in specs]


def errors(result: Figures) -> list[str]:
    """``"<server> <phase>: N"`` for every measured phase that saw failed requests."""
    out = []
    for name, fig in (result.get("servers") or {}).items():
        for phase, value in fig.items():
            if isinstance(value, dict) and value.get("errors"):
                out.append(f"{name} {phase}: {value['errors']}")
    return out


def replaced(result: Figures) -> list[str]:
    """``"<server>: N"`` for every server whose processes changed while it was measured."""
    out = []
    for name, fig in (result.get("servers") or {}).items():
        n = (fig.get("processes") or {}).get("replaced")
        if n:
            out.append(f"{name}: {n}")
    return out
