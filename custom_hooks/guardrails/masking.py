"""The masking loops the PII and secrets guards share.

Each guard keeps its detector, its replacements and its messages; these helpers walk the
text slots and decide (:func:`mask_verdict`: block, or mask with the slot edits, and the
counts :func:`.base.record` records) or rewrite an answer and count what they did.
Counts map ``(entity, action)`` to how many times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from custom_hooks.guardrails.base import Finding, GuardrailVerdict, SlotEdit, Span, apply_spans
from custom_hooks.guardrails.joined import Group, Piece, groups, pieces
from custom_hooks.guardrails.request_slots import request_slots
from custom_hooks.guardrails.response_slots import response_slots
from custom_hooks.guardrails.stream_masker import MaskerChain, Scanner, StreamMasker, TextMasker, mask_chunks
from custom_hooks.guardrails.stream_surfaces import event_type, mask_anthropic_sse, mask_responses_events

__all__ = [
    "Counts",
    "OutputStage",
    "count_spans",
    "group_findings",
    "mask_request",
    "mask_response",
    "mask_verdict",
    "masked_stream",
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


@dataclass(frozen=True)
class OutputStage:
    """One guardrail's part in a stream's masking pass: its scanners for text and for
    tool-call arguments, how far back a match may start, where its spans are counted, and
    what it does once the stream has ended (record its counts, drop its vault)."""

    content: Scanner
    arguments: Scanner
    holdback: int
    counts: Counts
    done: Callable[[], None] = lambda: None


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


def _maker(stages: Sequence[OutputStage], args: bool) -> Callable[[], TextMasker]:
    def masker(stage: OutputStage) -> StreamMasker:
        counts = stage.counts

        def on_apply(s: Span) -> None:
            count_spans((s,), counts)

        return StreamMasker(stage.arguments if args else stage.content, stage.holdback, on_apply)

    if len(stages) == 1:
        return lambda: masker(stages[0])
    return lambda: MaskerChain([masker(s) for s in stages])


def _rewrite(stages: Sequence[OutputStage], args: bool) -> Callable[[str], str]:
    def rewrite(text: str) -> str:
        for stage in stages:
            text = apply_spans(text, (stage.arguments if args else stage.content)(text))
        return text

    return rewrite


def masked_stream(first: Any, rest: AsyncIterator[Any], stages: Sequence[OutputStage]) -> AsyncIterator[Any]:
    """A stream (its ``first`` item, already read, then ``rest``) with its text masked by
    each stage in turn, in one walk over its chunks: a :class:`StreamMasker` per stage
    and text (choice, tool call, Responses content part, Anthropic block), chained so each
    stage masks what the one before it sent; applied spans are counted per stage as they
    are sent. The surface is told by ``first``: chat/text-completion chunks, Responses
    events (``type`` ``response.*``) or Anthropic SSE (bytes, str or event dicts)."""
    make_content, make_args = _maker(stages, False), _maker(stages, True)
    chunks = _chain(first, rest)
    if event_type(first).startswith("response."):
        return mask_responses_events(
            chunks, make_content, make_args, _rewrite(stages, False), _rewrite(stages, True)
        )
    if isinstance(first, bytes | str) or (isinstance(first, dict) and "choices" not in first):
        return mask_anthropic_sse(chunks, make_content, make_args)
    return mask_chunks(chunks, make_content, make_args)
