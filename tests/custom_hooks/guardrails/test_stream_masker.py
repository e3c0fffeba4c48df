"""Streaming masking: a secret split over any chunk boundary is still masked."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator

import pytest
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

from custom_hooks.guardrails.base import Span
from custom_hooks.guardrails.detectors.secrets import SecretDetector
from custom_hooks.guardrails.stream_masker import StreamMasker, mask_chunks, tail_risk_start

KEY = "sk-proj-aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"
TEXT = f"Here is the key {KEY} and then some more words to pad the stream out. The end."
DETECT = SecretDetector()


def scan(text: str) -> list[Span]:
    return [Span(f.start, f.end, "[KEY]", f.entity) for f in DETECT.scan(text)]


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, 40, 1000])
@pytest.mark.parametrize("holdback", [64, 128, 256])
def test_split_secret_is_masked(size: int, holdback: int) -> None:
    masker = StreamMasker(scan, holdback)
    out = "".join(masker.push(p) for p in pieces(TEXT, size)) + masker.flush()
    assert out == TEXT.replace(KEY, "[KEY]")


def test_prose_flows_one_word_behind() -> None:
    masker = StreamMasker(scan, 64)
    assert masker.push("one tw") == "one "
    assert masker.push("o three ") == "two three "
    assert masker.push("four") == "" and masker.flush() == "four"


def test_unbroken_text_is_held_at_most_holdback() -> None:
    masker = StreamMasker(scan, 64)
    assert masker.push("a" * 100) == "a" * 36 and masker.pending == 64


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("Bearer abcdefghij0123456789XYZ", "[KEY]"),  # opaque: only recognisable after "Bearer"
        ("api_key = Zx81kq0LmN2Bv7Tc9WqE", "api_key = [KEY]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nQUJDRA==\n-----END RSA PRIVATE KEY-----", "[KEY]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nQUJDRA==\nQUJDRA==", "[KEY]"),
    ],
)
@pytest.mark.parametrize("size", [1, 3, 8])
def test_multi_word_secrets_are_held_whole(secret: str, masked: str, size: int) -> None:
    masker = StreamMasker(scan, 128)
    text = f"see {secret}"
    sent = [masker.push(text[i : i + size]) for i in range(0, len(text), size)] + [masker.flush()]
    assert "".join(sent) == f"see {masked}"


def test_unterminated_private_key_is_held_until_the_end() -> None:
    masker = StreamMasker(scan, 64)
    body = "-----BEGIN PRIVATE KEY-----\n" + "QUJD" * 200
    out = "".join(masker.push(p) for p in pieces("start " + body, 7))
    assert "QUJD" not in out
    assert (out + masker.flush()) == "start [KEY]"


def _chunk(content: str | None, finish: str | None = None, role: str | None = None) -> ModelResponseStream:
    return ModelResponseStream(
        id="c1",
        choices=[StreamingChoices(index=0, delta=Delta(content=content, role=role), finish_reason=finish)],
    )


async def _stream(parts: list[str], finish: bool = True) -> AsyncIterator[ModelResponseStream]:
    yield _chunk("", role="assistant")
    for p in parts:
        yield _chunk(p)
    if finish:
        yield _chunk(None, finish="stop")


@pytest.mark.parametrize("finish", [True, False])
async def test_mask_chunks_keeps_every_chunk_and_masks(finish: bool) -> None:
    parts = pieces(TEXT, 4)
    applied: list[Span] = []
    out = [
        c async for c in mask_chunks(_stream(parts, finish), lambda: StreamMasker(scan, 32, applied.append))
    ]
    text = "".join(c.choices[0].delta.content or "" for c in out)
    assert text == TEXT.replace(KEY, "[KEY]")
    assert len(out) >= len(parts) + 1
    assert out[0].choices[0].delta.role == "assistant"
    if finish:
        assert out[-1].choices[0].finish_reason == "stop"
    assert [s.entity for s in applied] == ["openai_key"]


# -- where the held-back tail starts: the cheap path gives the full pattern's answer ---------

_FULL_TAIL_RISK = re.compile(  # the pattern as one regex, as it was before the cheap path
    r"(?:-----BEGIN[A-Z0-9 -]*"
    r"|[Bb]earer[ \t]*\S*"
    r"|(?i:[a-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd))[\"']?[ \t]*(?:[:=][ \t]*[\"']?\S*)?"
    r"|[A-Z0-9+(][A-Z0-9 .()/-]*"
    r"|\S+)\Z"
)
_PIECES = [
    *("the", "stream", "word", "Done.", "42", "4111 1111", "+1 (555)", "DE89 3704", "x@y.io"),
    *(" ", "  ", "\t", "\n", "=", ":", '"', "'", "-", "_", ".", "/", "(", "+"),
    *("key", "KEY", "api_key", "Secret", "toKEN", "passwd", "PassWord", "pwd", "Bearer", "bearer"),
    *("-----BEGIN", "-----BEGIN RSA PRIVATE KEY-----", "earer", "ke", "y", "sec", "ret"),
    # characters re's IGNORECASE equates with ASCII letters of the keywords
    *("\u212aey", "\u017fecret", "to\u212aen", "pa\u017f\u017fwd", "\u00df", "\u0130", "\u0131"),
]


def _full(text: str, start: int) -> int | None:
    m = _FULL_TAIL_RISK.search(text, start)
    return m.start() if m is not None else None


def test_tail_risk_start_matches_the_full_pattern_on_adversarial_text() -> None:
    rng = random.Random(13)
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        start = rng.randint(0, len(text))
        assert tail_risk_start(text, start) == _full(text, start), (text, start)


@pytest.mark.parametrize(
    "text",
    [
        "here is my \u017fecret = hunter2",  # long s: IGNORECASE matches it as "s"
        "the \u212aEY: abc",  # Kelvin sign as "K"
        "Authorization: Bearer eyJhbGciOi",
        "-----BEGIN OPENSSH PRIVATE",
        "plain prose ending in a word",
        "trailing space ",
        "",
    ],
)
def test_tail_risk_start_on_keyed_tails(text: str) -> None:
    for start in range(len(text) + 1):
        assert tail_risk_start(text, start) == _full(text, start)


def test_casefold_covers_what_ignorecase_equates_with_the_keyword_letters() -> None:
    """The cheap path looks for the keywords in the casefolded tail: that is exact only if
    every character re's IGNORECASE matches to a keyword letter casefolds to that letter."""
    letters = set("keysecrtokenpasswd")
    any_letter = re.compile(f"(?i:[{''.join(sorted(letters))}])")
    for cp in range(0x110000):
        c = chr(cp)
        if any_letter.fullmatch(c):
            folded = c.casefold()
            assert folded in letters and re.fullmatch(f"(?i:{folded})", c), hex(cp)
