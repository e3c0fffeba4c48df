"""The masking loops the PII and secrets guards share.

Each guard keeps its detector, its replacements and its messages; these helpers walk the
text slots, block or mask, count what they did (for :func:`_guardrail_core.record`) and
write the slots back. Counts map ``(entity, action)`` to how many times.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from custom_hooks._guardrail_core import (
    Finding,
    Span,
    apply_spans,
    blocked,
    record,
    request_slots,
    response_slots,
)
from custom_hooks._stream_masker import Scanner, StreamMasker, mask_chunks

__all__ = ["Counts", "count_spans", "mask_request", "mask_response", "mask_stream"]

Counts = Counter[tuple[str | None, str]]


def count_spans(spans: Iterable[Span], counts: Counts) -> None:
    """Count applied output spans: restored placeholders and masked entities."""
    for s in spans:
        counts[(s.entity, "restored" if s.entity == "placeholder" else "masked")] += 1


def mask_request(
    data: dict[str, Any],
    guardrail: str,
    t0: float,
    *,
    detect: Callable[[str], list[Finding]],
    action_for: Callable[[str], object],
    replace: Callable[[Finding, str], str],
    what: str,
    hint: str,
) -> Counts:
    """Scan every request slot with ``detect``; a finding whose action is ``block`` records
    the decisions so far and raises :func:`blocked` ("``what`` (<role> message). ``hint``");
    the others become ``replace(finding, slot_text)``. Returns the counts (not recorded)."""
    counts: Counts = Counter()
    for slot in request_slots(data):
        findings = detect(slot.text)
        if not findings:
            continue
        spans: list[Span] = []
        for f in findings:
            if action_for(f.entity) == "block":
                counts[(f.entity, "blocked")] += 1
                record(data, guardrail, counts, (time.perf_counter() - t0) * 1000)
                raise blocked(guardrail, f.entity, f"{what} ({slot.role} message)", hint)
            spans.append(Span(f.start, f.end, replace(f, slot.text)))
            counts[(f.entity, "masked")] += 1
        slot.set(apply_spans(slot.text, spans))
    return counts


def mask_response(response: Any, content: Scanner, arguments: Scanner, counts: Counts) -> None:
    """Rewrite a non-streaming response: contents with ``content``, tool-call arguments
    with ``arguments``; count the applied spans."""
    for slot in response_slots(response):
        spans = (arguments if slot.kind == "arguments" else content)(slot.text)
        count_spans(spans, counts)
        slot.set(apply_spans(slot.text, spans))


def mask_stream(
    response: AsyncIterator[Any], content: Scanner, arguments: Scanner, holdback: int, counts: Counts
) -> AsyncIterator[Any]:
    """The chunk stream with each choice's content and tool-call arguments masked by
    :class:`StreamMasker` s of their own; applied spans are counted as they are sent."""

    def on_apply(s: Span) -> None:
        count_spans((s,), counts)

    return mask_chunks(
        response,
        lambda: StreamMasker(content, holdback, on_apply),
        lambda: StreamMasker(arguments, holdback, on_apply),
    )
