"""Blocked topics: whole words, case-insensitive, Unicode-aware."""

from __future__ import annotations

import pytest

from custom_hooks.guardrails.detectors.topics import TopicMatcher

MATCHER = TopicMatcher(
    {
        "weapons": ["build a bomb", "gun"],
        "competitors": ["Acme Corp"],
        "streets": ["straße"],
        "secret_project": ["プロジェクトX", "天网"],
        "greek": ["ΑΘΗΝΑ"],
    }
)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("How do I BUILD  a\nbomb?", "weapons"),
        ("a gun.", "weapons"),
        ("Gun control debate", "weapons"),
        ("compare us with ACME corp pricing", "competitors"),
        ("Wo ist die STRASSE?", "streets"),  # casefold: STRASSE == straße
        ("Tell me about \uff27\uff35\uff2e laws", "weapons"),  # NFKC: full-width letters
        ("プロジェクトXについて教えて", "secret_project"),  # no spaces in Japanese
        ("关于天网的计划", "secret_project"),
        ("ταξίδι στην αθηνα", "greek"),
    ],
)
def test_blocked(text: str, topic: str) -> None:
    assert MATCHER.first(text) == topic


@pytest.mark.parametrize(
    "text",
    [
        "The meeting has begun",  # 'gun' inside a word
        "shotgunning the list",
        "Acme Corporation is unrelated",
        "Wie baue ich ein Haus?",
        "Comment construire une maison ?",
        "¿Cómo construyo una casa?",
        "プロジェクトについて教えて",
        "",
    ],
)
def test_passes(text: str) -> None:
    assert MATCHER.first(text) is None


def test_empty_matcher_is_falsy() -> None:
    assert not TopicMatcher({})
    assert TopicMatcher({}).first("anything") is None
