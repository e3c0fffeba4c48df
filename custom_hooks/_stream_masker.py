"""Mask (or restore) text in a stream without letting a match slip through a chunk split.

:class:`StreamMasker` keeps the text not yet sent. On every chunk it finds where a match
could still be forming at the end (the last word, a trailing run of digits, "Bearer ...",
"api_key = ...", a private-key header; at most ``holdback`` chars back), scans the
text, and sends everything before that point, minus any match that reaches past it
(a recognised key, placeholder or unterminated private-key block is held whole, however
long). At the end of the stream the rest is scanned once more and flushed. So a secret
split over any number of chunks is replaced as a whole, while ordinary prose flows
about one word behind the model.

:func:`mask_chunks` applies one masker per choice to a LiteLLM chunk stream. It only
rewrites ``delta.content``: every chunk is still yielded (with held-back text removed),
so SSE framing, roles, tool-call deltas, finish reasons and usage pass unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from custom_hooks._guardrail_core import Span, apply_spans

__all__ = ["Scanner", "StreamMasker", "mask_chunks"]

Scanner = Callable[[str], list[Span]]  # sorted, non-overlapping spans with replacements


# Where a match could still be forming at the end of the text: the last word (emails,
# keys, placeholders, JWTs have no spaces), a run of digits/capitals with separators
# (phones, cards, IBANs, SSNs), "Bearer <token>", "api_key = <value>", or a private-key
# header. Anything before the earliest such start can be sent.
_TAIL_RISK = re.compile(
    r"(?:-----BEGIN[A-Z0-9 -]*"
    r"|[Bb]earer[ \t]*\S*"
    r"|(?i:[a-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd))[\"']?[ \t]*(?:[:=][ \t]*[\"']?\S*)?"
    r"|[A-Z0-9+(][A-Z0-9 .()/-]*"
    r"|\S+)\Z"
)


class StreamMasker:
    """Incremental masking: ``push`` returns what is safe to send, ``flush`` the rest."""

    __slots__ = ("_pending", "holdback", "on_apply", "scan")

    def __init__(
        self, scan: Scanner, holdback: int = 128, on_apply: Callable[[Span], None] | None = None
    ) -> None:
        self.scan = scan
        self.holdback = holdback
        self.on_apply = on_apply
        self._pending = ""

    def push(self, text: str) -> str:
        pending = self._pending + text
        n = len(pending)
        risky = _TAIL_RISK.search(pending, max(0, n - self.holdback))
        cut = risky.start() if risky is not None else n
        if cut <= 0:
            self._pending = pending
            return ""
        done: list[Span] = []
        for s in self.scan(pending):
            if s.end > cut or s.end == n:  # may still grow (or reaches the held tail): hold it whole
                cut = min(cut, s.start)
                break
            done.append(s)
        self._pending = pending[cut:]
        return self._apply(pending[:cut], done)

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return self._apply(pending, self.scan(pending)) if pending else ""

    def _apply(self, text: str, spans: list[Span]) -> str:
        if self.on_apply is not None:
            for s in spans:
                self.on_apply(s)
        return apply_spans(text, spans)

    @property
    def pending(self) -> int:
        return len(self._pending)


def _set_content(delta: Any, value: str) -> None:
    # Delta is a pydantic model whose validating __setattr__ costs more per chunk than
    # the masking itself; a plain str into its field storage is what it would store.
    fields = getattr(delta, "__dict__", None)
    if isinstance(fields, dict) and "content" in fields:
        fields["content"] = value
    else:
        delta.content = value


def _choices(chunk: Any) -> list[Any]:
    return list(getattr(chunk, "choices", None) or ())


async def mask_chunks(
    chunks: AsyncIterator[Any], make_masker: Callable[[], StreamMasker]
) -> AsyncIterator[Any]:
    """Yield ``chunks`` with each choice's ``delta.content`` passed through its own masker."""
    maskers: dict[int, StreamMasker] = {}
    template: Any = None
    async for chunk in chunks:
        for choice in _choices(chunk):
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            idx = int(getattr(choice, "index", 0) or 0)
            masker = maskers.get(idx)
            if masker is None:
                masker = maskers[idx] = make_masker()
            content = getattr(delta, "content", None)
            out = masker.push(content) if isinstance(content, str) and content else ""
            if getattr(choice, "finish_reason", None):
                out += masker.flush()
            if (isinstance(content, str) or out) and out != content:
                _set_content(delta, out)
            template = chunk
        yield chunk
    # The stream ended without a finish reason for some choice: send what is held back.
    for idx, masker in maskers.items():
        rest = masker.flush()
        if rest and template is not None:
            extra = copy.deepcopy(template)
            kept = [c for c in _choices(extra) if int(getattr(c, "index", 0) or 0) == idx][:1]
            if not kept:
                continue
            _set_content(kept[0].delta, rest)
            kept[0].finish_reason = None
            extra.choices = kept
            yield extra
