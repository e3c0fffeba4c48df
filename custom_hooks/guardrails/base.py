"""What every guardrail shares: findings, text walking, masking, the placeholder vault,
verdicts, decision records and the block adapter.

Detectors (:mod:`.detectors`, one module per family) are pure ``text -> findings``
functions. The hooks walk every text slot of a request or response, per wire format, with
:func:`request_slots` (:mod:`.request_slots`) / :func:`response_slots`
(:mod:`.response_slots`) and decide in a pure function returning a :class:`GuardrailVerdict`
(allow / mask with its slot edits / block / flag); the hook hands it to :func:`enforce`,
which records it (:func:`record`: entity types and actions only, never the text), writes
the edits and raises :func:`blocked` for a block.

Reversible masking keeps ``placeholder -> original`` in a process-local :data:`VAULT`
keyed by a random id stored in the request metadata: the values never enter the request
(nor its logs) and live only until the answer is restored, or ``ttl_s``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from custom_hooks.core.errors import GatewayProxyException, GuardrailBlocked, to_proxy_exception
from custom_hooks.core.record import (
    GuardrailDecision,
    gateway_record,
    identity_of,
)  # re-exported: one definition
from custom_hooks.guardrails.request_slots import TextSlot, request_slots  # re-exported
from custom_hooks.guardrails.response_slots import response_slots  # re-exported

__all__ = [
    "ALLOW",
    "VAULT",
    "VAULT_KEY",
    "Finding",
    "GuardrailVerdict",
    "Masker",
    "SlotEdit",
    "Span",
    "TextSlot",
    "VaultStore",
    "apply_spans",
    "blocked",
    "enforce",
    "gateway_record",
    "identity_of",
    "non_overlapping",
    "record",
    "request_slots",
    "response_slots",
]

log = logging.getLogger("gateway.guardrails")

VAULT_KEY = "gateway_guardrail_vault"  # data["metadata"][VAULT_KEY]: opaque vault id


@dataclass(frozen=True, slots=True)
class Finding:
    """A detected entity at ``text[start:end]`` (the text itself is never copied out)."""

    entity: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    replacement: str
    entity: str = ""


Counts = Mapping[tuple[str | None, str], int]  # (entity, action) -> how many times
GuardrailAction = Literal["allow", "mask", "block", "flag"]


@dataclass(frozen=True, slots=True)
class SlotEdit:
    """Write ``text`` into ``slot`` (a mask verdict's edit)."""

    slot: TextSlot
    text: str


@dataclass(frozen=True, slots=True)
class GuardrailVerdict:
    """What a guardrail decided about one request; :func:`enforce` applies it.

    ``counts`` is what gets recorded (empty: one ``allowed`` decision). A ``block`` names
    the entity (the error's ``param``), what was found where (``what``) and what the
    caller can do (``hint``); a ``mask`` carries the slot edits.

    Example::

        GuardrailVerdict("block", {("max_messages", "blocked"): 1}, "max_messages",
                         "it has 60 messages and tier 'free' allows 50", "Trim the history.")
    """

    action: GuardrailAction
    counts: Counts = field(default_factory=dict)
    entity: str | None = None
    what: str = ""
    hint: str = ""
    edits: tuple[SlotEdit, ...] = ()

    def error(self, guardrail: str, call_type: str | None = None) -> GatewayProxyException | None:
        """The rejection for a ``block`` (None for the others)."""
        if self.action != "block":
            return None
        return blocked(guardrail, self.entity or "", self.what, self.hint, call_type)


ALLOW = GuardrailVerdict("allow")


def enforce(data: dict[str, Any], guardrail: str, verdict: GuardrailVerdict, call_type: str | None) -> None:
    """Apply ``verdict`` to the request: record it, raise a block, write mask edits."""
    record(data, guardrail, verdict.counts)
    err = verdict.error(guardrail, call_type)
    if err is not None:
        raise err
    for edit in verdict.edits:
        edit.slot.set(edit.text)


def non_overlapping(findings: Iterable[Finding]) -> list[Finding]:
    """Leftmost-longest findings that do not overlap, in text order."""
    out: list[Finding] = []
    last_end = -1
    for f in sorted(findings, key=lambda f: (f.start, f.start - f.end)):
        if f.start >= last_end:
            out.append(f)
            last_end = f.end
    return out


def apply_spans(text: str, spans: Iterable[Span]) -> str:
    """Replace sorted, non-overlapping spans in one join."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(s.replacement)
        pos = s.end
    if pos == 0:
        return text
    parts.append(text[pos:])
    return "".join(parts)


class Masker:
    """Numbered, consistent placeholders per request: the same value gets the same one."""

    __slots__ = ("_by_value", "_counts", "vault")

    def __init__(self, vault: dict[str, str] | None = None) -> None:
        self.vault: dict[str, str] = vault if vault is not None else {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        for ph, value in self.vault.items():  # continue numbering after an existing vault
            label = ph[1:].rsplit("_", 1)[0]
            self._by_value[(label, value)] = ph
            self._counts[label] = self._counts.get(label, 0) + 1

    def placeholder(self, label: str, value: str) -> str:
        ph = self._by_value.get((label, value))
        if ph is None:
            n = self._counts.get(label, 0) + 1
            self._counts[label] = n
            ph = f"[{label}_{n}]"
            self._by_value[(label, value)] = ph
            self.vault[ph] = value
        return ph


@dataclass
class _VaultEntry:
    values: dict[str, str]
    call_id: str | None
    expires: float = field(default=0.0)


class VaultStore:
    """Process-local ``vault id -> {placeholder: original}``, bounded and expiring.

    The pre-call hook and the post-call hooks of one request run in the same process,
    so nothing here needs sharing; entries of requests that never complete expire.
    """

    def __init__(self, ttl_s: float = 900.0, max_entries: int = 50_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _VaultEntry] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, values: dict[str, str], call_id: str | None) -> str:
        vault_id = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            self._entries[vault_id] = _VaultEntry(values, call_id, now + self.ttl_s)
            while self._entries:
                oldest_id, oldest = next(iter(self._entries.items()))
                if oldest.expires > now and len(self._entries) <= self.max_entries:
                    break
                del self._entries[oldest_id]
        return vault_id

    def get(self, vault_id: object, call_id: str | None) -> dict[str, str] | None:
        if not isinstance(vault_id, str):
            return None
        with self._lock:
            entry = self._entries.get(vault_id)
        if entry is None or entry.expires < time.monotonic() or entry.call_id != call_id:
            return None
        return entry.values

    def drop(self, vault_id: object) -> None:
        if isinstance(vault_id, str):
            with self._lock:
                self._entries.pop(vault_id, None)

    def __len__(self) -> int:
        return len(self._entries)


VAULT = VaultStore()


def record(
    data: dict[str, Any],
    guardrail: str,
    counts: Counts,
    phase: str = "input",
) -> list[GuardrailDecision]:
    """Record decisions as data and as one structured log line, never with content.

    ``counts`` maps (entity, action) to how many times; an empty mapping records a
    single ``allowed`` decision so every guardrail that ran leaves a trace.
    """
    entries: list[GuardrailDecision] = [
        {
            "guardrail": guardrail,
            "entity": entity,
            "action": action,
            "count": n,
            "phase": phase,
        }
        for (entity, action), n in (counts.items() if counts else [((None, "allowed"), 0)])
    ]
    gateway_record(data).add_guardrail_decisions(entries)
    level = logging.INFO if counts else logging.DEBUG  # "allowed" lines only when debugging
    if log.isEnabledFor(level):
        log.log(
            level,
            json.dumps(
                {
                    "event": "guardrail_decision",
                    "call_id": data.get("litellm_call_id"),
                    "decisions": entries,
                },
                separators=(",", ":"),
            ),
        )
    return entries


_ANTHROPIC_CALL_TYPES = frozenset({"anthropic_messages", "aanthropic_messages"})


def blocked(
    guardrail: str, entity: str, what: str, hint: str, call_type: str | None = None
) -> GatewayProxyException:
    """The rejection for a blocked request: names guardrail and entity, never the text.

    On ``/v1/messages`` LiteLLM answers in the Anthropic error format, which has no
    ``code``; the stable code then travels in ``error.provider_specific_fields.code``.
    """
    err = GuardrailBlocked(
        f"Request blocked by guardrail '{guardrail}': {what} (entity: {entity}). {hint}",
        param=entity,
    )
    exc = to_proxy_exception(err)
    if call_type in _ANTHROPIC_CALL_TYPES:
        exc.provider_specific_fields = {"code": err.code, "param": entity}
    return exc
