"""Blocked topics and terms: whole-word, case-insensitive, Unicode-aware matching.

A topic is a name and a list of terms. Text and terms are NFKC-normalised and
case-folded (so "STRASSE" matches "straße", full-width letters match ASCII), multi-word
terms match across any whitespace, and a term must stand as a whole word: "gun" does
not match "begun". Scripts written without spaces (Chinese, Japanese, Thai, ...) have no
word boundaries, so a side of a term that is such a character needs none.

    >>> TopicMatcher({"weapons": ["build a bomb"]}).first("How do I BUILD  a bomb?")
    'weapons'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

__all__ = ["TopicMatcher", "normalize"]


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _unspaced(ch: str) -> bool:
    """True for letters of scripts written without spaces between words."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # hiragana, katakana
        or 0x3400 <= o <= 0x9FFF  # CJK ideographs
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
        or 0x0E00 <= o <= 0x0EFF  # thai, lao
        or 0x1000 <= o <= 0x109F  # myanmar
        or 0x1780 <= o <= 0x17FF  # khmer
    )


# A word character of a spaced script: a neighbour like this means "inside a word".
_SPACED_WORD = "[^\\W\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"


def _term_pattern(term: str) -> str:
    t = normalize(term).strip()
    body = r"\s+".join(re.escape(w) for w in t.split())
    left = "" if _unspaced(t[0]) or not (t[0].isalnum() or t[0] == "_") else f"(?<!{_SPACED_WORD})"
    right = "" if _unspaced(t[-1]) or not (t[-1].isalnum() or t[-1] == "_") else f"(?!{_SPACED_WORD})"
    return left + body + right


class TopicMatcher:
    """One compiled alternation over every term; a match names its topic."""

    __slots__ = ("_needles", "_pattern", "_topic_of_group")

    def __init__(self, topics: Mapping[str, Sequence[str]]) -> None:
        branches: list[str] = []
        self._topic_of_group: dict[str, str] = {}
        # the longest word of each term: if none occurs as a substring, no term can match
        self._needles = tuple(
            sorted(
                {max(normalize(t).split(), key=len) for terms in topics.values() for t in terms if t.strip()}
            )
        )
        for i, (topic, terms) in enumerate(topics.items()):
            pats = sorted({_term_pattern(t) for t in terms if t.strip()}, key=len, reverse=True)
            if pats:
                group = f"t{i}"
                self._topic_of_group[group] = topic
                branches.append(f"(?P<{group}>{'|'.join(pats)})")
        self._pattern = re.compile("|".join(branches)) if branches else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def first(self, text: str) -> str | None:
        """The topic of the first blocked term in ``text``, or None."""
        if self._pattern is None:
            return None
        norm = normalize(text)
        if not any(n in norm for n in self._needles):
            return None
        m = self._pattern.search(norm)
        return self._topic_of_group[str(m.lastgroup)] if m else None
