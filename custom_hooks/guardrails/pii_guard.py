"""PII guardrail: mask, block or allow PII before a request leaves the gateway; restore
the placeholders (reversible masking) and mask new PII in the answer.

config.yaml::

    guardrails:
      - guardrail_name: pii_guard
        litellm_params:
          guardrail: custom_hooks.pii_guard.PiiGuard
          mode: [pre_call, post_call]      # post_call restores placeholders, masks output
          default_on: true
    gateway:
      guardrails:
        pii: {entities: {email: mask, credit_card: block, ip_address: allow}, reversible: true}

config.yaml names its one-line re-export ``custom_hooks.pii_guard.PiiGuard``; the decision is
:func:`.masking.mask_verdict` (pure, table-tested), the hook applies it with :func:`.base.enforce`.
Placeholders live in :data:`.base.VAULT` under a random id kept in the request metadata.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.record import request_metadata
from custom_hooks.core.sections.guardrails import PiiOptions, guardrails_config, in_process_models
from custom_hooks.guardrails.base import (
    VAULT,
    VAULT_KEY,
    Finding,
    Masker,
    Span,
    enforce,
    record,
)
from custom_hooks.guardrails.detectors.pii import LABELS, PiiDetector
from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.masking import Counts, OutputStage, mask_request, mask_response
from custom_hooks.guardrails.output_pass import join_output_pass

__all__ = ["PiiGuard"]

_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(LABELS.values()) + r")_\d{1,5}\]")


class PiiGuard(GatewayGuardrail):
    """Masks (or blocks) emails, phones, cards, IBANs, SSNs and IPs in every message part."""

    def __init__(
        self,
        *,
        options: PiiOptions | None = None,
        holdback: int | None = None,
        in_process: frozenset[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("guardrail_name", "pii_guard")
        kwargs.setdefault("event_hook", [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call])
        kwargs["supported_event_hooks"] = [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call]
        super().__init__(**kwargs)
        self._options = options
        self._holdback = holdback
        self._in_process = in_process
        self._detectors: dict[str, PiiDetector] = {}

    @property
    def options(self) -> PiiOptions:
        return self._options or guardrails_config().pii

    def _detector(self, output: bool) -> PiiDetector | None:
        """Detector for the entities whose action is not ``allow`` (cached per instance)."""
        key = "out" if output else "in"
        if key not in self._detectors:
            wanted = [e for e, a in self.options.entities.items() if a != "allow"]
            if output and not self.options.mask_output:
                wanted = []
            self._detectors[key] = PiiDetector(wanted)
        det = self._detectors[key]
        return det if det else None

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        name = self.guardrail_name or "pii_guard"
        request_metadata(data).pop(VAULT_KEY, None)  # only this hook may set it
        detector = self._detector(output=False)
        in_process = self._in_process if self._in_process is not None else in_process_models()
        if detector is None or data.get("model") in in_process:
            # An agent runs inside the gateway: masking its input would hand placeholders
            # to its tools (an email tool would mail "[EMAIL_1]"); its LLM calls are masked.
            record(data, name, {})
            return data
        masker = Masker()

        def placeholder(f: Finding, text: str) -> str:
            return masker.placeholder(LABELS[f.entity], text[f.start : f.end])

        verdict = mask_request(
            data,
            detect=detector.scan,
            action_for=self.options.entities.get,  # type: ignore[arg-type]
            replace=placeholder,
            what="the request contains personal data of a type this gateway does not send upstream",
            hint="Remove it from the prompt and retry.",
            call_type=call_type,
        )
        enforce(data, name, verdict, call_type)
        if masker.vault and self.options.reversible:
            request_metadata(data)[VAULT_KEY] = VAULT.put(masker.vault, data.get("litellm_call_id"))
        return data

    def _output_scanners(self, data: dict[str, Any]) -> tuple[Any, Any] | None:
        """(content scanner, tool-arguments scanner), or None when there is nothing to do.

        Both restore this request's placeholders; only content is also scanned for PII the
        model wrote itself: tool-call arguments are what the caller's code executes (an
        agent's send_email), and masking them would break the action, not protect anyone.
        """
        vault = (
            VAULT.get(request_metadata(data).get(VAULT_KEY), data.get("litellm_call_id"))
            if self.options.reversible
            else None
        )
        detector = self._detector(output=True)
        in_process = self._in_process if self._in_process is not None else in_process_models()
        if data.get("model") in in_process:
            # An agent's answer: its LLM calls' output was masked when each came back through
            # the gateway; the rest is the runtime's text from the caller's own data (an
            # approval names the real recipient), shown to that caller only.
            detector = None
        if not vault and detector is None:
            return None

        def make(detect: PiiDetector | None) -> Callable[[str], list[Span]]:
            def scan(text: str) -> list[Span]:
                spans: list[Span] = []
                if vault:
                    for m in _PLACEHOLDER.finditer(text):
                        value = vault.get(m.group())
                        if value is not None:
                            spans.append(Span(m.start(), m.end(), value, "placeholder"))
                if detect is not None:
                    for f in detect.scan(text):
                        spans.append(Span(f.start, f.end, f"[{LABELS[f.entity]}_REDACTED]", f.entity))
                    if len(spans) > 1:
                        spans.sort(key=lambda s: s.start)
                        spans = _without_overlaps(spans)
                return spans

            return scan

        return make(detector), make(None)

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        counts: Counts = Counter()
        scanners = self._output_scanners(data)
        if scanners is not None:
            mask_response(response, *scanners, counts)
        VAULT.drop(request_metadata(data).get(VAULT_KEY))
        record(data, self.guardrail_name or "pii_guard", counts, "output")
        return response

    def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: UserAPIKeyAuth, response: AsyncIterator[Any], request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        # A plain function, not a generator: joined to another guardrail's pass (or with
        # nothing to mask) it returns the stream itself, adding nothing per chunk.
        counts: Counts = Counter()
        scanners = self._output_scanners(request_data)
        if scanners is None:
            return response
        holdback = self._holdback or guardrails_config().stream_holdback_chars
        name = self.guardrail_name or "pii_guard"

        def done() -> None:
            VAULT.drop(request_metadata(request_data).get(VAULT_KEY))
            record(request_data, name, counts, "output")

        return join_output_pass(response, request_data, OutputStage(*scanners, holdback, counts, done))


def _without_overlaps(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if not out or s.start >= out[-1].end:
            out.append(s)
    return out
