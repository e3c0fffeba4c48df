"""Guardrail detectors over the labelled corpus: recall, false positives, throughput.

    .venv/bin/python -m bench.guardrail_corpus            # ~10 s

The corpus (``tests/guardrail_corpus/*.jsonl``) holds one case a line: ``id``, ``class``
(``pii`` | ``secrets`` | ``injection``), ``label`` (``positive`` | ``benign``), ``text``,
and for PII/secret positives the ``entity`` expected. A positive counts as found when
the class's detector reports that entity (PII, secrets) or scores at least the default
injection threshold; a benign case is a false positive when the detector reports
anything (or crosses the threshold). ``dev`` is what the detectors were tuned on;
``holdout`` was written first and never tuned on.

Printed: recall and false-positive rate per class and split, recall per entity, then the
detectors' throughput in µs per KB on mixed prose and on a 64 KB adversarial string
(long digit runs, ``@`` and ``:`` floods, base64-looking runs), against the pre-change
detectors read from git (``--baseline REV``, default: the commit before the detector
rewrite) when git has them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_hooks.core.sections.guardrails import InjectionOptions
from custom_hooks.guardrails.detectors.injection import score
from custom_hooks.guardrails.detectors.pii import PiiDetector
from custom_hooks.guardrails.detectors.secrets import SecretDetector

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "guardrail_corpus"
CLASSES = ("pii", "secrets", "injection")
THRESHOLD = InjectionOptions().threshold
BASELINE_REV = "a3226b4"


@dataclass
class ClassFigures:
    positives: int = 0
    found: int = 0
    benign: int = 0
    false_positives: int = 0
    by_entity: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    missed: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0

    @property
    def fp_rate(self) -> float:
        return self.false_positives / self.benign if self.benign else 0.0


def load(split: str) -> list[dict[str, Any]]:
    with (CORPUS / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


Detectors = dict[str, Callable[[str], set[str]]]


def detectors(pii: Any = None, secrets: Any = None, inject: Any = None) -> Detectors:
    """``text -> reported entities`` per class (injection reports ``{"injection"}``)."""
    p = pii or PiiDetector()
    s = secrets or SecretDetector()
    sc = inject or score

    def injection(text: str) -> set[str]:
        return {"injection"} if sc(text).score >= THRESHOLD else set()

    return {
        "pii": lambda t: {f.entity for f in p.scan(t)},
        "secrets": lambda t: {f.entity for f in s.scan(t)},
        "injection": injection,
    }


def evaluate(cases: Iterable[dict[str, Any]], dets: Detectors | None = None) -> dict[str, ClassFigures]:
    dets = dets or detectors()
    out = {c: ClassFigures() for c in CLASSES}
    for case in cases:
        fig = out[case["class"]]
        got = dets[case["class"]](case["text"])
        if case["label"] == "positive":
            want = case.get("entity") or "injection"
            hit = want in got
            fig.positives += 1
            fig.found += hit
            fig.by_entity[want][0] += 1
            fig.by_entity[want][1] += hit
            if not hit:
                fig.missed.append(case["id"])
        else:
            fig.benign += 1
            if got:
                fig.false_positives += 1
                fig.flagged.append(case["id"])
    return out


def _print_figures(split: str, figs: dict[str, ClassFigures], verbose: bool) -> None:
    print(f"\n== {split} ==")
    for cls, f in figs.items():
        print(
            f"{cls:10s} recall {f.recall:6.1%} ({f.found}/{f.positives})"
            f"   false positives {f.fp_rate:6.1%} ({f.false_positives}/{f.benign})"
        )
        if cls != "injection":
            for entity, (n, hit) in sorted(f.by_entity.items()):
                print(f"    {entity:20s} {hit}/{n}")
        if verbose and (f.missed or f.flagged):
            print(f"    missed: {' '.join(f.missed)}\n    flagged: {' '.join(f.flagged)}")


def _baseline(rev: str) -> Detectors | None:
    """The detectors as they were at ``rev``, loaded from git as private modules."""
    mods = {}
    for name, path in (("pii", "_pii.py"), ("secrets", "_secrets_scan.py"), ("injection", "_injection.py")):
        try:
            src = subprocess.run(
                ["git", "show", f"{rev}:custom_hooks/{path}"],
                capture_output=True,
                text=True,
                check=True,
                cwd=CORPUS.parent.parent,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        mod = types.ModuleType(f"_baseline_{name}")
        sys.modules[mod.__name__] = mod  # dataclasses look their module up
        exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
        mods[name] = mod
    return detectors(mods["pii"].PiiDetector(), mods["secrets"].SecretDetector(), mods["injection"].score)


def _prose(size: int) -> str:
    from bench.guardrails_bench import make_text

    return make_text(size)


def _adversarial(size: int) -> str:
    unit = (
        "1" * 300 + " " + "1-2" * 100 + " " + "@" * 200 + "a@" * 100 + ":" * 200 + "::1:" * 50
        + "A" * 300 + "+/" * 100 + " eyJ" * 50 + "ignore " * 40 + "sk-" * 60 + "=" * 100
        + "\u200b1" * 100 + "0x" + "f" * 300 + " password=" * 30
    )  # fmt: skip
    return (unit * (size // len(unit) + 1))[:size]


def _us_per_kb(fn: Callable[[str], Any], text: str, budget_s: float = 0.6) -> float:
    """Best of several timed batches: on a shared machine the minimum is the stable figure."""
    kb = len(text.encode()) / 1024
    fn(text)
    best, deadline = float("inf"), time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best / kb * 1e6


def _throughput(dets: Detectors, label: str) -> None:
    texts = {
        "prose 4 KB": _prose(4096),
        "prose 64 KB": _prose(65536),
        "adversarial 64 KB": _adversarial(65536),
    }
    for name, text in texts.items():
        figures = "   ".join(f"{cls} {_us_per_kb(fn, text):8.1f}" for cls, fn in dets.items())
        print(f"{label:9s} {name:18s} µs/KB   {figures}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default=BASELINE_REV, help="git revision of the pre-change detectors")
    ap.add_argument("-v", "--verbose", action="store_true", help="list missed and flagged case ids")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args(argv)
    base = _baseline(args.baseline)
    for split in ("dev", "holdout"):
        _print_figures(split, evaluate(load(split)), args.verbose)
        if base is not None:
            _print_figures(f"{split}, baseline {args.baseline}", evaluate(load(split), base), False)
    if args.no_speed:
        return
    print()
    _throughput(detectors(), "now")
    if base is not None:
        _throughput(base, "baseline")


if __name__ == "__main__":
    main()
