"""Quality gate: the detectors over the labelled dev corpus (recall and false positives).

The corpus and its scoring live with the bench (``python -m bench.guardrail_corpus``
prints the same figures per entity, plus the hold-out split, which is not gated here:
it measures how well the rules generalise, so it must not be tuned against).
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.guardrail_corpus import CLASSES, evaluate, load

DEV = load("dev")
FIGURES = evaluate(DEV)


def test_corpus_is_large_and_balanced() -> None:
    assert len(DEV) >= 300
    labels = Counter(c["label"] for c in DEV)
    assert labels["benign"] >= 0.4 * len(DEV)
    assert len({c["id"] for c in DEV}) == len(DEV)
    assert all(c["class"] in CLASSES and c["label"] in ("positive", "benign") for c in DEV)
    assert all(c.get("entity") for c in DEV if c["label"] == "positive" and c["class"] != "injection")


@pytest.mark.parametrize("cls", CLASSES)
def test_recall(cls: str) -> None:
    f = FIGURES[cls]
    assert f.recall >= 0.90, f"{cls} recall {f.recall:.1%}, missed: {f.missed}"


@pytest.mark.parametrize("cls", CLASSES)
def test_false_positive_rate(cls: str) -> None:
    f = FIGURES[cls]
    assert f.fp_rate <= 0.05, f"{cls} false positives {f.fp_rate:.1%}: {f.flagged}"
