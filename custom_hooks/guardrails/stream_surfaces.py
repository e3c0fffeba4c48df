"""Streamed answers of ``/v1/responses`` and ``/v1/messages``, masked like chat chunks.

What ``async_post_call_streaming_iterator_hook`` iterates differs per route (LiteLLM 1.108.7):

- ``/v1/chat/completions`` and ``/v1/completions``: ``ModelResponseStream`` /
  ``TextCompletionResponse`` chunks (``_stream_masker.mask_chunks``);
- ``/v1/responses``: typed event objects (or dicts) with a ``type`` ``response.*``;
  text arrives in ``response.output_text.delta`` and is repeated whole in
  ``response.output_text.done``, ``response.content_part.done``,
  ``response.output_item.done`` and ``response.completed``;
- ``/v1/messages``: ``bytes`` of Anthropic SSE (``event: ...\\ndata: {...}\\n\\n``), not
  necessarily one event per chunk; text in ``content_block_delta`` (``text_delta``,
  ``input_json_delta``), closed by ``content_block_stop``.

Deltas go through a masker per text (its holdback catches an entity split
over events); what it still holds when the text closes is sent as one more delta just
before the closing event. The "whole text" events are rewritten whole (every stage's
scanner, in order) so they agree with the deltas. Events without text pass untouched
(Anthropic ones as the very bytes received).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from custom_hooks.guardrails.request_slots import TextSlot
from custom_hooks.guardrails.response_slots import field, responses_item_slots, responses_output_slots, setter
from custom_hooks.guardrails.stream_masker import TextMasker

__all__ = ["event_type", "mask_anthropic_sse", "mask_responses_events"]

MakeMasker = Callable[[], TextMasker]
Rewrite = Callable[[str], str]  # a whole text, masked by every stage


def event_type(event: Any) -> str:
    """A stream event's ``type`` as a plain string ("" when it has none)."""
    t = field(event, "type")
    t = getattr(t, "value", t)
    return t if isinstance(t, str) else ""


class _Rescan:
    """Rewrites the "whole text" events; the same text recurs in up to four of them at the
    end of a stream, so each distinct text is scanned once."""

    def __init__(self, content: Rewrite, arguments: Rewrite) -> None:
        self.rewrites = {False: content, True: arguments}
        self.memo: dict[tuple[bool, str], str] = {}

    def text(self, value: str, is_args: bool = False) -> str:
        key = (is_args, value)
        out = self.memo.get(key)
        if out is None:
            out = self.memo[key] = self.rewrites[is_args](value)
        return out

    def slots(self, slots: Iterator[TextSlot]) -> None:
        for slot in slots:
            slot.set(self.text(slot.text, slot.kind == "arguments"))


def _with(template: Any, name: str, value: str) -> Any:
    extra = copy.copy(template)
    if isinstance(extra, dict):
        extra[name] = value
    else:
        setter(extra, name)(value)
    return extra


class _Maskers:
    """One masker per open text, and the last delta event of each (for continuation)."""

    def __init__(self, make: MakeMasker) -> None:
        self.make = make
        self.open: dict[Any, tuple[TextMasker, Any]] = {}

    def push(self, key: Any, text: str, event: Any) -> str:
        found = self.open.get(key)
        masker = found[0] if found is not None else self.make()
        self.open[key] = (masker, event)
        return masker.push(text)

    def close(self, key: Any) -> tuple[str, Any]:
        found = self.open.pop(key, None)
        return (found[0].flush(), found[1]) if found is not None else ("", None)


# --- Responses API events -----------------------------------------------------------

_WHOLE_RESPONSE = frozenset({"response.completed", "response.incomplete", "response.failed"})


async def mask_responses_events(
    events: AsyncIterator[Any],
    make_content: MakeMasker,
    make_args: MakeMasker,
    content: Rewrite,
    arguments: Rewrite,
) -> AsyncIterator[Any]:
    """Mask a Responses event stream (see the module docstring)."""
    texts, args = _Maskers(make_content), _Maskers(make_args)
    rescan = _Rescan(content, arguments)
    async for event in events:
        t = event_type(event)
        if t == "response.output_text.delta" or t == "response.function_call_arguments.delta":
            delta = field(event, "delta")
            if isinstance(delta, str) and delta:
                is_text = t == "response.output_text.delta"
                key = (field(event, "output_index"), field(event, "content_index") if is_text else None)
                out = (texts if is_text else args).push(key, delta, event)
                if out != delta:
                    setter(event, "delta")(out)
        elif t == "response.output_text.done" or t == "response.function_call_arguments.done":
            is_text = t == "response.output_text.done"
            key = (field(event, "output_index"), field(event, "content_index") if is_text else None)
            rest, template = (texts if is_text else args).close(key)
            if rest and template is not None:
                extra = _with(template, "delta", rest)
                setter(extra, "sequence_number")(field(event, "sequence_number"))  # type: ignore[arg-type]
                yield extra
            name = "text" if is_text else "arguments"
            value = field(event, name)
            if isinstance(value, str):
                setter(event, name)(rescan.text(value, not is_text))
        elif t == "response.content_part.done" or t == "response.content_part.added":
            part = field(event, "part")
            rescan.slots(responses_item_slots({"type": "message", "content": [part]}))
        elif t == "response.output_item.done" or t == "response.output_item.added":
            rescan.slots(responses_item_slots(field(event, "item")))
        elif t in _WHOLE_RESPONSE:
            for group in (texts, args):  # a text the upstream never closed
                for key in list(group.open):
                    rest, template = group.close(key)
                    if rest and template is not None:
                        yield _with(template, "delta", rest)
            rescan.slots(responses_output_slots(field(field(event, "response"), "output")))
        yield event
    for group in (texts, args):
        for key in list(group.open):
            rest, template = group.close(key)
            if rest and template is not None:
                yield _with(template, "delta", rest)


# --- Anthropic SSE ----------------------------------------------------------------

_EVENT_END = re.compile(rb"\r?\n\r?\n")
_DELTA_KINDS = {"text_delta": "text", "input_json_delta": "partial_json"}


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event.get('type')}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _parse(raw: bytes) -> dict[str, Any] | None:
    data = [line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:")]
    if not data:
        return None
    try:
        event = json.loads(b"\n".join(data))
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class _AnthropicMasker:
    def __init__(self, make_content: MakeMasker, make_args: MakeMasker) -> None:
        self.maskers = {"text_delta": _Maskers(make_content), "input_json_delta": _Maskers(make_args)}

    def event(self, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Rewrite ``event`` in place; the events to send for it (None: unchanged)."""
        t = event.get("type")
        if t == "content_block_delta":
            delta = event.get("delta")
            kind = delta.get("type") if isinstance(delta, dict) else None
            name = _DELTA_KINDS.get(kind or "")
            if name is None or not isinstance(delta.get(name), str):  # type: ignore[union-attr]
                return None
            assert isinstance(delta, dict)
            out = self.maskers[kind].push(event.get("index"), delta[name], event)  # type: ignore[index]
            if out == delta[name]:
                return None
            delta[name] = out
            return [event]
        if t == "content_block_stop":
            extra = self.close(event.get("index"))
            return [*extra, event] if extra else None
        return None

    def close(self, index: Any) -> list[dict[str, Any]]:
        out = []
        for kind, maskers in self.maskers.items():
            rest, _template = maskers.close(index)
            if rest:
                delta = {"type": kind, _DELTA_KINDS[kind]: rest}
                out.append({"type": "content_block_delta", "index": index, "delta": delta})
        return out

    def close_all(self) -> list[dict[str, Any]]:
        keys = {k for m in self.maskers.values() for k in m.open}
        return [e for k in sorted(keys, key=str) for e in self.close(k)]


async def mask_anthropic_sse(
    chunks: AsyncIterator[Any], make_content: MakeMasker, make_args: MakeMasker
) -> AsyncIterator[Any]:
    """Mask an Anthropic ``/v1/messages`` stream of SSE bytes (or str, or event dicts).

    Bytes are re-framed into whole events: a chunk ending mid-event is held until the
    event is complete, so a delta is never parsed half.
    """
    state = _AnthropicMasker(make_content, make_args)
    buf = b""
    as_str = False
    async for chunk in chunks:
        if isinstance(chunk, dict):
            for extra in (state.event(chunk) or [chunk])[:-1]:
                yield extra
            yield chunk
            continue
        if not isinstance(chunk, bytes | str):
            yield chunk
            continue
        as_str = isinstance(chunk, str)
        buf += chunk.encode() if isinstance(chunk, str) else chunk
        out: list[bytes] = []
        pos = 0
        for m in _EVENT_END.finditer(buf):
            raw = buf[pos : m.end()]
            pos = m.end()
            if b"content_block_delta" not in raw and b"content_block_stop" not in raw:
                out.append(raw)  # fast path: no text in it
                continue
            event = _parse(raw)
            sent = state.event(event) if event is not None else None
            out.append(raw if sent is None else b"".join(_sse(e) for e in sent))
        buf = buf[pos:]
        if out:
            joined = b"".join(out)
            yield joined.decode() if as_str else joined
    tail = b"".join(_sse(e) for e in state.close_all()) + buf
    if tail:
        yield tail.decode() if as_str else tail
