"""The masking loops the PII and secrets guards share.

Each guard keeps its detector, its replacements and its messages; these helpers walk the
text slots and decide (:func:`mask_verdict`: block, or mask with the slot edits, and the
counts :func:`.base.record` records) or rewrite an answer and count what they did.
Counts map ``(entity, action)`` to how many times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from custom_hooks.guardrails.base import Finding, GuardrailVerdict, SlotEdit, Span, apply_spans
from custom_hooks.guardrails.joined import Group, Piece, groups, pieces
from custom_hooks.guardrails.request_slots import request_slots
from custom_hooks.guardrails.response_slots import response_slots
from custom_hooks.guardrails.stream_masker import Scanner, StreamMasker, mask_chunks
from custom_hooks.guardrails.stream_surfaces import event_type, mask_anthropic_sse, mask_responses_events

__all__ = [
    "Counts",
    "count_spans",
    "group_findings",
    "mask_request",
    "mask_response",
    "mask_stream",
    "mask_verdict",
    "where",
]

Counts = Counter[tuple[str | None, str]]


def count_spans(spans: Iterable[Span], counts: Counts) -> None:
    """Count applied output spans: restored placeholders and masked entities."""
    for s in spans:
        counts[(s.entity, "restored" if s.entity == "placeholder" else "masked")] += 1


_WHERE = {
    "content": "message",
    "arguments": "tool-call arguments",
    "tool_output": "result",
    "tool_definition": "definition",
}


def where(role: str, kind: str) -> str:
    """Where a slot sits, for messages: "user message", "tool result", "tool definition"."""
    return f"{role} {_WHERE.get(kind, 'message')}"


Located = tuple[Finding, str, list[Piece]]  # finding, the joined text it indexes, its pieces


def group_findings(group: Group, detect: Callable[[str], list[Finding]]) -> list[Located]:
    """Findings in a group's joined text (space-joined; for several slots also glued,
    keeping only glued findings that cross a boundary and overlap nothing found already)."""
    text, starts = group.joined(" ")
    out: list[Located] = []
    for f in detect(text):
        ps = pieces(group, starts, f.start, f.end)
        if ps:
            out.append((f, text, ps))
    if len(group.slots) > 1:
        glued, gstarts = group.joined("")
        taken = [p for _, _, ps in out for p in ps]
        for f in detect(glued):
            ps = pieces(group, gstarts, f.start, f.end)
            if len(ps) < 2 or any(
                p.slot == t.slot and p.start < t.end and t.start < p.end for p in ps for t in taken
            ):
                continue
            out.append((f, glued, ps))
            taken.extend(ps)
    return out


def mask_verdict(
    found: Iterable[tuple[Group, list[Located]]],
    *,
    action_for: Callable[[str], object],
    replace: Callable[[Finding, str], str],
    what: str,
    hint: str,
) -> GuardrailVerdict:
    """Block or mask the findings of each group, in request order (pure given ``replace``).

    The first finding whose action is ``block`` blocks ("``what`` (<role> message).
    ``hint``", counting the masks decided before it). The others become ``replace(finding,
    joined_text)``, written into the first slot the finding touches and cut from the others
    (a slot left blank gets the replacement too: some providers reject empty parts).
    ``found`` may be lazy: nothing after a block is consumed.
    """
    counts: Counts = Counter()
    edits: list[SlotEdit] = []
    for group, located in found:
        per_slot: dict[int, list[Span]] = {}
        fallback: dict[int, str] = {}
        for f, text, ps in located:
            if action_for(f.entity) == "block":
                counts[(f.entity, "blocked")] += 1
                return GuardrailVerdict(
                    "block", counts, f.entity, f"{what} ({where(group.role, group.kind)})", hint
                )
            rep = replace(f, text)
            counts[(f.entity, "masked")] += 1
            for j, p in enumerate(ps):
                per_slot.setdefault(p.slot, []).append(Span(p.start, p.end, "" if j else rep))
                if j:
                    fallback[p.slot] = rep
        for i, spans in per_slot.items():
            slot = group.slots[i]
            spans.sort(key=lambda s: s.start)
            new = apply_spans(slot.text, spans)
            if i in fallback and not new.strip():
                new = fallback[i]
            edits.append(SlotEdit(slot, new))
    return GuardrailVerdict("mask" if counts else "allow", counts, edits=tuple(edits))


def mask_request(
    data: dict[str, Any],
    *,
    detect: Callable[[str], list[Finding]],
    action_for: Callable[[str], object],
    replace: Callable[[Finding, str], str],
    what: str,
    hint: str,
    call_type: str | None = None,
) -> GuardrailVerdict:
    """:func:`mask_verdict` over every request slot (for LiteLLM's ``call_type``), adjacent
    slots of one role scanned together (:mod:`.joined`), detecting lazily."""
    found = ((g, group_findings(g, detect)) for g in groups(request_slots(data, call_type)))
    return mask_verdict(found, action_for=action_for, replace=replace, what=what, hint=hint)


def mask_response(response: Any, content: Scanner, arguments: Scanner, counts: Counts) -> None:
    """Rewrite a non-streaming response: contents with ``content``, tool-call arguments
    with ``arguments``; count the applied spans."""
    for slot in response_slots(response):
        spans = (arguments if slot.kind == "arguments" else content)(slot.text)
        count_spans(spans, counts)
        slot.set(apply_spans(slot.text, spans))


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


async def mask_stream(
    response: AsyncIterator[Any], content: Scanner, arguments: Scanner, holdback: int, counts: Counts
) -> AsyncIterator[Any]:
    """The stream with its text masked by :class:`StreamMasker` s (one per text: choice,
    tool call, Responses content part, Anthropic block); applied spans are counted as they
    are sent. The surface is told by the first item: chat/text-completion chunks, Responses
    events (``type`` ``response.*``) or Anthropic SSE (bytes, str or event dicts)."""

    def on_apply(s: Span) -> None:
        count_spans((s,), counts)

    def make_content() -> StreamMasker:
        return StreamMasker(content, holdback, on_apply)

    def make_args() -> StreamMasker:
        return StreamMasker(arguments, holdback, on_apply)

    it = response.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        return
    chunks = _chain(first, it)
    if event_type(first).startswith("response."):
        masked = mask_responses_events(chunks, make_content, make_args, content, arguments)
    elif isinstance(first, bytes | str) or (isinstance(first, dict) and "choices" not in first):
        masked = mask_anthropic_sse(chunks, make_content, make_args)
    else:
        masked = mask_chunks(chunks, make_content, make_args)
    async for chunk in masked:
        yield chunk
