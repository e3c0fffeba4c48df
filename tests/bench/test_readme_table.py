"""The README's benchmark table is what ``python -m bench.readme_table`` renders from the
committed ``bench/results/*.json``, and its verdicts follow the targets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import readme_table as table
from bench._figures import Target, errors, rows, verdict

ROOT = Path(__file__).resolve().parents[2]


def test_readme_section_is_the_rendered_table() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(table.BEGIN) + len(table.BEGIN), readme.index(table.END)
    assert readme[start:end].strip("\n") == table.render(table.load()).strip("\n"), (
        "run `python -m bench.readme_table`"
    )
    assert readme.index("## Benchmarks") < readme.index(table.BEGIN)


def test_committed_results_are_strict_json_with_what_the_table_needs() -> None:
    results = table.load()
    assert "single" in results, "commit bench/results/single.json from a `make bench` run"
    for mode, result in results.items():
        text = (table.RESULTS / f"{mode}.json").read_text()
        assert not any(c in text for c in ("NaN", "Infinity")), f"{mode}.json is not strict JSON"
        assert json.loads(text) == result
        assert result["mode"] == mode
        assert result["machine"]["cores"] >= 1 and result["git"]["commit"] and result["date"]
        assert set(result["servers"]) == {"vanilla", "ours"}
        assert result["setup"]["vanilla_config"]["general_settings"] == {"master_key": "sk-vanilla-bench"}


@pytest.mark.parametrize(
    ("target", "vanilla", "ours", "expected"),
    [
        (Target("ratio_max", 1.0), 10.0, 10.0, "met"),
        (Target("ratio_max", 1.0), 10.0, 10.01, "not met"),
        (Target("ratio_max", 1.2), 100.0, 119.0, "met"),
        (Target("ratio_max", 1.0), 0.0, 5.0, "not met"),  # no division by zero passes as met
        (Target("ratio_max", 1.0), math.nan, 5.0, "n/a"),
        (Target("ratio_max", 1.0), 5.0, None, "n/a"),
        (Target("plus_max", 50, "MB"), 386.0, 436.0, "met"),
        (Target("plus_max", 50, "MB"), 386.0, 437.0, "not met"),
        (Target("abs_max", 8, "ms"), None, 8.0, "met"),
        (Target("abs_max", 8, "ms"), None, 8.5, "not met"),
        (Target("abs_max", 8, "ms"), None, math.inf, "n/a"),
        (None, 1.0, 2.0, "—"),
    ],
)
def test_verdict(target: Target | None, vanilla: float | None, ours: float | None, expected: str) -> None:
    assert verdict(target, vanilla, ours) == expected


def _figures(cpu: float, agent: float | None = None, mix: float | None = None) -> dict[str, Any]:
    fig: dict[str, Any] = {
        "startup_s": 10.0,
        "rss_mb": 400.0,
        "c1": {"rps": 50.0, "p50_ms": 20.0, "errors": 0},
        "c32": {"rps": 60.0, "p99_ms": 700.0, "cpu_ms_per_request": cpu, "errors": 2},
        "stream10": {"cpu_ms_per_stream": 40.0, "ttft_p50_ms": 20.0},
        "cpu_us_per_chunk": 900.0,
    }
    if agent is not None:
        fig["agent"] = {"overhead_cpu_ms": agent, "overhead_beyond_outer_pass_cpu_ms": agent - 15}
    if mix is not None:
        fig["mix"] = {"cpu_ms_per_request": mix, "rps": 80.0, "services_cpu_ms_per_request": 1.0}
    return fig


def test_rows_carry_values_ratio_target_and_verdict() -> None:
    result = {"servers": {"vanilla": _figures(20.0), "ours": _figures(19.0, agent=21.5)}}
    by_label = {r.label: r for r in rows(result)}
    cpu = by_label["CPU per request, c=32"]
    assert (cpu.vanilla, cpu.ours, cpu.ratio, cpu.target, cpu.verdict) == (
        "20.0 ms",
        "19.0 ms",
        "0.95",
        "ratio ≤ 1",
        "met",
    )
    agent = by_label["agent run: CPU beyond its inner call"]
    assert (agent.vanilla, agent.ours, agent.ratio, agent.verdict) == ("—", "21.5 ms", "—", "not met")
    assert by_label["RSS (all processes)"].ratio == "1.00 (+0 MB)"
    assert cpu.ratio_value == pytest.approx(0.95) and agent.ratio_value is None
    assert by_label["requests/s, c=32"].verdict == "—"
    assert not any(label.startswith("mix") for label in by_label), "no mix rows without a mix"
    assert errors(result) == ["vanilla c32: 2", "ours c32: 2"]


def test_mix_rows_come_first_in_full_results_and_missing_figures_say_n_a() -> None:
    vanilla = _figures(20.0, mix=15.0)
    del vanilla["cpu_us_per_chunk"]
    result = {"servers": {"vanilla": vanilla, "ours": _figures(22.0, agent=7.0, mix=16.5)}}
    out = rows(result)
    # The mix's own target is 1.2 (issue 13), not the plain calls' 1.0.
    assert (out[0].label, out[0].ratio, out[0].target, out[0].verdict) == (
        "mix CPU per request, c=32",
        "1.10",
        "ratio ≤ 1.2",
        "met",
    )
    over = rows({"servers": {"vanilla": vanilla, "ours": _figures(22.0, agent=7.0, mix=18.75)}})
    assert (over[0].ratio, over[0].verdict) == ("1.25", "not met")
    chunk = next(r for r in out if r.label.startswith("CPU per chunk"))
    assert (chunk.vanilla, chunk.ratio, chunk.verdict) == ("n/a", "n/a", "n/a")


def test_render_says_how_to_get_a_missing_mode_and_check_catches_a_stale_readme(tmp_path: Path) -> None:
    result = {
        "mode": "single",
        "quick": True,
        "date": "2026-12-01T15:00Z",
        "machine": {"cores": 2},
        "git": {"commit": "abc", "dirty": True},
        "servers": {"vanilla": _figures(20.0), "ours": _figures(19.0, agent=5.0)},
    }
    body = table.render({"single": result})
    assert "exited during the run" not in body
    result["servers"]["ours"]["processes"] = {"at_start": 3, "at_end": 3, "replaced": 1}
    assert "Processes that exited during the run (a worker restarted; its CPU is missing): ours: 1." in (
        table.render({"single": result})
    )
    assert "quick run): 2026-12-01 15:00 UTC, 2 cores, commit abc + uncommitted changes." in body
    assert "No `full` results yet: run `make bench-full`" in body
    assert "| agent run: CPU beyond its inner call | — | 5.0 ms | — | ≤ 8 ms | met |" in body
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{table.BEGIN}\nstale\n{table.END}\nafter\n")
    assert table.main(["--check", "--readme", str(readme)]) == 1
    assert table.main(["--readme", str(readme)]) == 0
    assert table.main(["--check", "--readme", str(readme)]) == 0
    assert "stale" not in readme.read_text() and readme.read_text().endswith(f"{table.END}\nafter\n")


def test_replace_section_refuses_a_readme_without_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        table.replace_section(f"# x\n{table.END}\n{table.BEGIN}\n", "body")


def test_rounds_take_each_figures_median_and_keep_non_numbers_from_the_first() -> None:
    from bench.gateway_bench import median_of

    rounds = [
        {"ours": {"c32": {"cpu_ms_per_request": 20.0, "errors": 0}, "key": "virtual"}},
        {"ours": {"c32": {"cpu_ms_per_request": 26.0, "errors": 2}, "key": "other"}},
        {"ours": {"c32": {"cpu_ms_per_request": 18.0, "errors": 1}, "key": "third"}},
    ]
    assert median_of(rounds) == {"ours": {"c32": {"cpu_ms_per_request": 20.0, "errors": 1}, "key": "virtual"}}
    # a phase missing (or NaN) in one round is not averaged with the others: the first's value stands
    assert median_of([{"x": 1.0}, {"x": float("nan")}, {"x": 3.0}]) == {"x": 1.0}
    assert median_of([{"x": 1.0, "y": 5.0}, {"x": 2.0}]) == {"x": 1.5, "y": 5.0}
