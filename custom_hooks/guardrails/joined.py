"""Detection across slot boundaries: adjacent slots of one role scanned as one text.

An entity split over two content parts or two consecutive user messages ("my card is
4111 1111" + "1111 1111") is invisible to a per-slot scan, yet the model reads the parts
as one text. :func:`groups` joins runs of adjacent slots with the same role and kind;
a group is scanned twice when it has several slots, joined with a space (parts read as
words) and glued (a token cut mid-word), and :func:`pieces` maps a finding back to the
part of each slot it covers so each slot masks its own share.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from custom_hooks.guardrails.request_slots import TextSlot

__all__ = ["Group", "Piece", "groups", "pieces"]


@dataclass(frozen=True, slots=True)
class Piece:
    """``slots[slot].text[start:end]`` is part of a finding."""

    slot: int
    start: int
    end: int


@dataclass(slots=True)
class Group:
    """Adjacent slots of one (role, kind), and their joined text for a separator."""

    slots: list[TextSlot]

    @property
    def role(self) -> str:
        return self.slots[0].role

    @property
    def kind(self) -> str:
        return self.slots[0].kind

    def joined(self, sep: str = " ") -> tuple[str, list[int]]:
        """The slots' texts joined by ``sep`` and where each slot starts in it."""
        if len(self.slots) == 1:
            return self.slots[0].text, [0]
        starts: list[int] = []
        pos = 0
        for s in self.slots:
            starts.append(pos)
            pos += len(s.text) + len(sep)
        return sep.join(s.text for s in self.slots), starts


def groups(slots: Iterable[TextSlot]) -> Iterator[Group]:
    """Runs of adjacent slots with the same role and kind, in request order."""
    current: list[TextSlot] = []
    for slot in slots:
        if current and (slot.role, slot.kind) != (current[0].role, current[0].kind):
            yield Group(current)
            current = []
        current.append(slot)
    if current:
        yield Group(current)


def pieces(group: Group, starts: list[int], start: int, end: int) -> list[Piece]:
    """The non-empty parts of each slot that ``joined[start:end]`` covers (separators excluded)."""
    out: list[Piece] = []
    i = max(0, bisect_right(starts, start) - 1)
    while i < len(starts) and starts[i] < end:
        lo = max(start, starts[i]) - starts[i]
        hi = min(end - starts[i], len(group.slots[i].text))
        if hi > lo:
            out.append(Piece(i, lo, hi))
        i += 1
    return out
