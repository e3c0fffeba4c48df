# ruff: noqa: RUF002  (look-alike characters are what this code is about)
"""Normalise text before the guardrail detectors match it, and map offsets back.

Attackers (and copy-paste) hide entities from regexes with characters a reader never
sees or cannot tell apart: zero-width joiners inside an email, a soft hyphen inside a
key, fullwidth digits in a card number, a Cyrillic "о" in "ignоre". :func:`normalize`
returns a :class:`Normalized` text in which

- invisible characters (zero-width space/joiners, word joiner, BOM, soft hyphen, bidi
  controls, variation selectors) are removed,
- Unicode tag characters (U+E0020-U+E007E, "ASCII smuggling") become the ASCII they
  encode,
- every character NFKC changes is replaced by its NFKC form (fullwidth -> ASCII,
  ligatures, no-break spaces, ...),
- Cyrillic/Greek look-alikes are mapped to Latin inside words that also contain Latin
  letters (a Russian sentence stays Russian).

:meth:`Normalized.span` maps a ``[start, end)`` of the normalised text to the original
text, so a finding masks the original characters, including the invisible ones inside
the entity. ASCII text (the common case) is returned as is, at the cost of one
``str.isascii``.

    >>> n = normalize("mail: bo\\u200bb@example.com")
    >>> n.text
    'mail: bob@example.com'
    >>> n.span(6, 21)
    (6, 22)
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["INVISIBLE", "Normalized", "normalize"]

INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0" + "".join(map(chr, range(0xFE00, 0xFE10)))
)

# Look-alikes of Latin letters (Unicode confusables, the ones seen in the wild).
_CONFUSABLE = {
    **dict(zip("асеорхуіјѕԁһԛԝвкмнтпгАВСЕНІЈКМОРЅТХУ", "aceopxyijsdhqwbkmhtnrABCEHIJKMOPSTXY", strict=True)),
    **dict(zip("αβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abeiknoptuxABEZHIKMNOPTYX", strict=True)),
}


def _nfkc_changes() -> str:
    """Character-class body of every BMP code point NFKC rewrites (computed once)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x80, 0x10000):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF or unicodedata.normalize("NFKC", ch) == ch:
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges
    )


_NFKC = _nfkc_changes()
_INVISIBLE_CLASS = "".join(re.escape(c) for c in sorted(INVISIBLE))
_CONFUSABLE_CLASS = "".join(re.escape(c) for c in sorted(_CONFUSABLE))
_SPECIAL = re.compile(f"[{_NFKC}{_INVISIBLE_CLASS}\U000e0000-\U000e007f]")
_SPECIAL_OR_CONFUSABLE = re.compile(f"[{_NFKC}{_INVISIBLE_CLASS}{_CONFUSABLE_CLASS}\U000e0000-\U000e007f]")
_HAS_CONFUSABLE = re.compile(f"[{_CONFUSABLE_CLASS}]")
_HAS_LATIN = re.compile("[A-Za-z]")
_TAG_BASE = 0xE0000


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalised ``text`` and how its offsets map to the ``original``."""

    text: str
    original: str
    # one mark per rewritten original character, in order: (norm start, norm end, orig index)
    _starts: list[int] = field(default_factory=list, repr=False)
    _ends: list[int] = field(default_factory=list, repr=False)
    _origin: list[int] = field(default_factory=list, repr=False)

    @property
    def changed(self) -> bool:
        return bool(self._origin)

    def position(self, i: int) -> int:
        """Original index of normalised character ``i`` (``len(text)`` maps to the end)."""
        if not self._origin:
            return i
        if i >= len(self.text):
            return len(self.original)
        j = bisect_right(self._ends, i)  # first mark ending after i
        if j < len(self._ends) and self._starts[j] <= i:
            return self._origin[j]  # i is (part of) a rewritten character
        if j == 0:
            return i
        return i + self._origin[j - 1] + 1 - self._ends[j - 1]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``[start, end)`` covering normalised ``[start, end)``."""
        if not self._origin:
            return start, end
        if end <= start:
            p = self.position(start)
            return p, p
        return self.position(start), self.position(end - 1) + 1


def _is_letter(ch: str) -> bool:
    return ch.isalpha() or ch in INVISIBLE


def _latin_word(text: str, i: int) -> tuple[int, int, bool]:
    """Bounds of the word around ``i`` and whether it holds an ASCII letter."""
    lo = i
    while lo > 0 and _is_letter(text[lo - 1]):
        lo -= 1
    hi = i + 1
    n = len(text)
    while hi < n and _is_letter(text[hi]):
        hi += 1
    word = text[lo:hi]
    return lo, hi, any(c.isascii() and c.isalpha() for c in word)


def normalize(text: str) -> Normalized:
    """See the module docstring; pure, and cheap when nothing needs rewriting."""
    if text.isascii():
        return Normalized(text, text)
    return _normalize_unicode(text)


# The three detectors normalise the same slot text one after the other: a small cache
# (keyed by the string, whose hash Python keeps) does the work once.
@lru_cache(maxsize=8)
def _normalize_unicode(text: str) -> Normalized:
    # look-alikes matter only in words that mix them with Latin letters: both must occur
    mixed = _HAS_CONFUSABLE.search(text) is not None and _HAS_LATIN.search(text) is not None
    special = _SPECIAL_OR_CONFUSABLE if mixed else _SPECIAL
    first = special.search(text)
    if first is None:
        return Normalized(text, text)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    origin: list[int] = []
    pos = 0  # original index copied up to
    out = 0  # length of the normalised text so far
    word_hi, word_latin = -1, False
    for m in special.finditer(text, first.start()):
        i = m.start()
        ch = m.group()
        if ch in INVISIBLE:
            rep = ""
        elif ch in _CONFUSABLE:
            if i >= word_hi:
                _, word_hi, word_latin = _latin_word(text, i)
            if not word_latin:
                continue
            rep = _CONFUSABLE[ch]
        elif ord(ch) >= _TAG_BASE:
            cp = ord(ch) - _TAG_BASE
            rep = chr(cp) if 0x20 <= cp < 0x7F else ""
        else:
            rep = "".join(_CONFUSABLE.get(c, c) for c in unicodedata.normalize("NFKC", ch))
        if i > pos:
            parts.append(text[pos:i])
            out += i - pos
        parts.append(rep)
        starts.append(out)
        out += len(rep)
        ends.append(out)
        origin.append(i)
        pos = i + 1
    if not origin:
        return Normalized(text, text)
    parts.append(text[pos:])
    return Normalized("".join(parts), text, starts, ends, origin)
