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
rewrites ``delta.content`` (``text`` for legacy completions) and tool-call arguments:
every chunk is still yielded (with held-back text removed), so SSE framing, roles,
finish reasons and usage pass unchanged. Responses and Anthropic streams:
``_stream_surfaces``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from pydantic import BaseModel

from custom_hooks.guardrails.base import Span, apply_spans

__all__ = ["MaskerChain", "Scanner", "StreamMasker", "TextMasker", "mask_chunks"]

Scanner = Callable[[str], list[Span]]  # sorted, non-overlapping spans with replacements
_setattr = object.__setattr__


# Where a match could still be forming at the end of the text: the last word (emails,
# keys, placeholders, JWTs have no spaces), a run of digits/capitals with separators
# (phones, cards, IBANs, SSNs), "Bearer <token>", "api_key = <value>", or a private-key
# header. Anything before the earliest such start can be sent.
_RISK_KEYED = (  # each matches only a tail containing one of _RISK_CASED or _RISK_WORDS
    r"-----BEGIN[A-Z0-9 -]*",
    r"[Bb]earer[ \t]*\S*",
    r"(?i:[a-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd))[\"']?[ \t]*(?:[:=][ \t]*[\"']?\S*)?",
)
_RISK_ALWAYS = (r"[A-Z0-9+(][A-Z0-9 .()/-]*", r"\S+")
_TAIL_RISK = re.compile("(?:" + "|".join((*_RISK_KEYED, *_RISK_ALWAYS)) + r")\Z")
# Without the keyed alternatives: the same earliest start wherever none of them can match,
# for a quarter to a tenth of the cost (their backtracking over every word is most of it).
_TAIL_RISK_PLAIN = re.compile("(?:" + "|".join(_RISK_ALWAYS) + r")\Z")
_RISK_CASED = ("-----BEGIN", "earer")  # the first two alternatives, case-sensitive
# the third, case-insensitive: casefold maps the other characters re's IGNORECASE equates
# with these letters (the Kelvin sign, the long s) to them
_RISK_WORDS = ("key", "secret", "token", "passw", "pwd")


def tail_risk_start(text: str, start: int) -> int | None:
    """Where, at or after ``start``, a match could still be forming at the end of ``text``."""
    tail = text[start:]
    folded = tail.casefold()
    keyed = any(w in tail for w in _RISK_CASED) or any(w in folded for w in _RISK_WORDS)
    risky = (_TAIL_RISK if keyed else _TAIL_RISK_PLAIN).search(text, start)
    return risky.start() if risky is not None else None


class TextMasker(Protocol):
    """What the stream walkers drive: one streamed text's masker (or chain of them)."""

    def push(self, text: str) -> str: ...
    def end(self, text: str) -> str: ...
    def flush(self) -> str: ...


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
        risky = tail_risk_start(pending, max(0, n - self.holdback))
        cut = risky if risky is not None else n
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

    def end(self, text: str) -> str:
        """The text's last piece: ``push(text)`` (when non-empty) and ``flush()``."""
        return (self.push(text) if text else "") + self.flush()

    def _apply(self, text: str, spans: list[Span]) -> str:
        if self.on_apply is not None:
            for s in spans:
                self.on_apply(s)
        return apply_spans(text, spans)

    @property
    def pending(self) -> int:
        return len(self._pending)


class MaskerChain:
    """Several guardrails' maskers over one text, run as their separate stream passes
    ran them: each masker gets exactly the pieces the one before it let through (an empty
    piece is not pushed), and at the end each gets the previous one's last piece and
    flushes. So the text sent is the text the passes sent one after the other."""

    __slots__ = ("maskers",)

    def __init__(self, maskers: list[StreamMasker]) -> None:
        self.maskers = maskers

    def push(self, text: str) -> str:
        for m in self.maskers:
            if not text:
                return ""
            text = m.push(text)
        return text

    def end(self, text: str) -> str:
        for m in self.maskers:
            text = m.end(text)
        return text

    def flush(self) -> str:
        return self.end("")


def _read(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)``, minus pydantic's slow path per chunk: LiteLLM's deltas
    keep ``content`` and ``tool_calls`` as extra fields, which plain attribute access only
    finds after ``__getattr__`` (about 3.5 us each; a plain dict lookup is 0.1)."""
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and name in fields:
        return fields[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if isinstance(extra, dict) and name in extra:
        return extra[name]
    return getattr(obj, name, None)


def _set_field(obj: Any, name: str, value: Any) -> None:
    # Deltas are pydantic models whose validating __setattr__ costs more per chunk than
    # the masking itself; a plain str into the field (or extra-field) storage is what it
    # would store.
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and name in fields:
        fields[name] = value
        return
    extra = getattr(obj, "__pydantic_extra__", None)
    if isinstance(extra, dict) and name in extra:
        extra[name] = value
    else:
        setattr(obj, name, value)


def _clone(obj: Any) -> Any:
    """A shallow copy: pydantic's ``__copy__`` (what ``model_copy()`` does) without its
    overhead, for models; ``copy.copy`` for anything else."""
    if not isinstance(obj, BaseModel):
        return copy.copy(obj)
    new = object.__new__(type(obj))
    _setattr(new, "__dict__", dict(obj.__dict__))
    extra = obj.__pydantic_extra__
    _setattr(new, "__pydantic_extra__", None if extra is None else dict(extra))
    _setattr(new, "__pydantic_fields_set__", set(obj.__pydantic_fields_set__))
    private = getattr(obj, "__pydantic_private__", None)
    _setattr(new, "__pydantic_private__", None if private is None else dict(private))
    return new


def _text_holder(choice: Any) -> tuple[Any, str]:
    """Where a choice's streamed text lives: ``delta.content`` (chat) or ``text`` (legacy
    completions); (None, "") for neither."""
    delta = _read(choice, "delta")
    if delta is not None:
        return delta, "content"
    if hasattr(choice, "text"):
        return choice, "text"
    return None, ""


def _choices(chunk: Any) -> list[Any]:
    return list(_read(chunk, "choices") or ())


class _ArgsMaskers:
    """One masker per streamed tool call (by its index) for ``function.arguments``."""

    def __init__(self, make: Callable[[], TextMasker]) -> None:
        self.make = make
        self.maskers: dict[int, TextMasker] = {}
        self.templates: dict[int, Any] = {}

    def push(self, delta: Any) -> None:
        for call in getattr(delta, "tool_calls", None) or ():
            fn = getattr(call, "function", None)
            args = getattr(fn, "arguments", None)
            if not isinstance(args, str):
                continue
            i = int(getattr(call, "index", 0) or 0)
            masker = self.maskers.get(i)
            if masker is None:
                masker = self.maskers[i] = self.make()
                self.templates[i] = call
            out = masker.push(args) if args else ""
            if out != args:
                _set_field(fn, "arguments", out)

    def flush_into(self, delta: Any) -> None:
        """Append the held-back argument text to ``delta`` as continuation tool-call deltas."""
        extra = []
        for i, masker in self.maskers.items():
            rest = masker.flush()
            if rest:
                call = copy.deepcopy(self.templates[i])
                _set_field(call, "id", None)
                _set_field(call, "type", None)
                _set_field(call.function, "name", None)
                _set_field(call.function, "arguments", rest)
                extra.append(call)
        if extra:
            delta.tool_calls = [*(getattr(delta, "tool_calls", None) or []), *extra]


def _owned(chunk: Any) -> Any:
    """A private copy of ``chunk`` to rewrite.

    LiteLLM's stream wrapper keeps every chunk it yields and assembles the complete response
    from them afterwards: for the spend log and for the response cache. Holding text back
    moves it from one chunk to a later one; done in place, the assembled response lost the
    text of chunks kept by reference and repeated the text of chunks kept as copies (the
    final usage chunk), so a cached stream replayed wrong text and invalid tool-call JSON.
    """
    if not isinstance(chunk, BaseModel):
        return copy.deepcopy(chunk)
    # Only the choices and their deltas (or legacy ``text``) are rewritten: copying those
    # three levels shallowly is enough, and far cheaper per chunk than a deep copy.
    new = _clone(chunk)
    choices = []
    for choice in _choices(chunk):
        c = _clone(choice)
        delta = _read(c, "delta")
        if delta is not None:
            d = _clone(delta)
            calls = _read(d, "tool_calls")
            if isinstance(calls, list):
                tc = [
                    t.model_copy(deep=True) if hasattr(t, "model_copy") else copy.deepcopy(t) for t in calls
                ]
                _set_field(d, "tool_calls", tc)
            _set_field(c, "delta", d)
        choices.append(c)
    _set_field(new, "choices", choices)
    return new


async def mask_chunks(
    chunks: AsyncIterator[Any],
    make_masker: Callable[[], TextMasker],
    make_args_masker: Callable[[], TextMasker] | None = None,
) -> AsyncIterator[Any]:
    """Yield ``chunks`` with each choice's ``delta.content`` (and, with ``make_args_masker``,
    its tool-call arguments) passed through maskers of their own."""
    maskers: dict[int, TextMasker] = {}
    args_maskers: dict[int, _ArgsMaskers] = {}
    template: Any = None
    async for chunk in chunks:
        owned = False  # rewrite a copy: LiteLLM keeps the chunks it yields (see _owned)
        for pos, choice in enumerate(_choices(chunk)):
            delta, name = _text_holder(choice)
            if delta is None:
                continue
            idx = int(_read(choice, "index") or 0)
            masker = maskers.get(idx)
            if masker is None:
                masker = maskers[idx] = make_masker()
            content = _read(delta, name)
            text = content if isinstance(content, str) else ""
            finished = bool(_read(choice, "finish_reason"))
            out = masker.end(text) if finished else masker.push(text) if text else ""
            rewrite = bool((isinstance(content, str) or out) and out != content)
            args = make_args_masker is not None and bool(
                _read(delta, "tool_calls") or (finished and idx in args_maskers)
            )
            if (rewrite or args) and not owned:
                chunk, owned = _owned(chunk), True
                choice = _choices(chunk)[pos]
                delta, name = _text_holder(choice)
            if rewrite:
                _set_field(delta, name, out)
            if make_args_masker is not None:
                am = args_maskers.get(idx)
                if am is None and _read(delta, "tool_calls"):
                    am = args_maskers[idx] = _ArgsMaskers(make_args_masker)
                if am is not None:
                    am.push(delta)
                    if finished:
                        am.flush_into(delta)
            template = chunk
        yield chunk
    # The stream ended without a finish reason for some choice: send what is held back.
    for idx, masker in maskers.items():
        rest = masker.flush()
        am = args_maskers.get(idx)
        if (rest or am is not None) and template is not None:
            extra = copy.deepcopy(template)
            kept = [c for c in _choices(extra) if int(getattr(c, "index", 0) or 0) == idx][:1]
            if not kept:
                continue
            holder, name = _text_holder(kept[0])
            if holder is None:
                continue
            _set_field(holder, name, rest)
            if name == "content":
                _set_field(holder, "tool_calls", None)
                if am is not None:
                    am.flush_into(holder)
            kept[0].finish_reason = None
            extra.choices = kept
            if rest or getattr(holder, "tool_calls", None):
                yield extra
