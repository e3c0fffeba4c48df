"""Secrets guardrail: block (or mask) credentials in requests; mask them in answers.

config.yaml::

    guardrails:
      - guardrail_name: secrets_guard
        litellm_params:
          guardrail: custom_hooks.secrets_guard.SecretsGuard
          mode: [pre_call, post_call]
          default_on: true
    gateway:
      guardrails:
        secrets: {action: block, entities: {generic_api_key: mask}}

Masked secrets become ``[REDACTED_<KIND>]`` and are never restored. In a streamed
answer the text is held back ``stream_holdback_chars`` so a key split across chunks is
still caught. LiteLLM executes this file directly: it holds no state.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks._guardrail_config import SecretsOptions, guardrails_config
from custom_hooks._guardrail_core import Span, apply_spans, blocked, record, request_slots, response_slots
from custom_hooks._secrets_scan import ALL_SECRETS, SecretDetector
from custom_hooks._stream_masker import StreamMasker, mask_chunks

__all__ = ["SecretsGuard"]


def _mask(entity: str) -> str:
    return f"[REDACTED_{entity.upper()}]"


def _count(spans: Iterable[Span], counts: Counter[tuple[str | None, str]]) -> None:
    for s in spans:
        counts[(s.entity, "restored" if s.entity == "placeholder" else "masked")] += 1


class SecretsGuard(CustomGuardrail):
    """API keys, tokens, JWTs, private keys, connection strings with passwords."""

    def __init__(
        self, *, options: SecretsOptions | None = None, holdback: int | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("guardrail_name", "secrets_guard")
        kwargs.setdefault("event_hook", [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call])
        kwargs["supported_event_hooks"] = [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call]
        super().__init__(**kwargs)
        self._options = options
        self._holdback = holdback
        self._detector: SecretDetector | None = None

    @property
    def options(self) -> SecretsOptions:
        return self._options or guardrails_config().secrets

    def detector(self) -> SecretDetector:
        if self._detector is None:
            opts = self.options
            self._detector = SecretDetector(
                frozenset(e for e in ALL_SECRETS if opts.action_for(e) != "allow"), opts.min_entropy
            )
        return self._detector

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        name = self.guardrail_name or "secrets_guard"
        opts, detector = self.options, self.detector()
        counts: Counter[tuple[str | None, str]] = Counter()
        for slot in request_slots(data):
            findings = detector.scan(slot.text)
            if not findings:
                continue
            spans: list[Span] = []
            for f in findings:
                if opts.action_for(f.entity) == "block":
                    counts[(f.entity, "blocked")] += 1
                    record(data, name, counts, (time.perf_counter() - t0) * 1000)
                    raise blocked(
                        name,
                        f.entity,
                        f"the request contains a credential ({slot.role} message)",
                        "Remove it from the prompt, rotate it if it was real, and retry.",
                    )
                spans.append(Span(f.start, f.end, _mask(f.entity)))
                counts[(f.entity, "masked")] += 1
            slot.set(apply_spans(slot.text, spans))
        record(data, name, counts, (time.perf_counter() - t0) * 1000)
        return data

    def _output_scan(
        self, counts: Counter[tuple[str | None, str]], timer: list[float]
    ) -> Callable[[str], list[Span]]:
        detector = self.detector()

        def scan(text: str) -> list[Span]:
            t0 = time.perf_counter()
            spans = []
            for f in detector.scan(text):
                spans.append(Span(f.start, f.end, _mask(f.entity), f.entity))
            timer[0] += time.perf_counter() - t0
            return spans

        return scan

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        if not self.options.mask_output:
            return response
        counts: Counter[tuple[str | None, str]] = Counter()
        timer = [0.0]
        scan = self._output_scan(counts, timer)
        for slot in response_slots(response):
            spans = scan(slot.text)
            _count(spans, counts)
            slot.set(apply_spans(slot.text, spans))
        record(data, self.guardrail_name or "secrets_guard", counts, timer[0] * 1000, "output")
        return response

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: UserAPIKeyAuth, response: AsyncIterator[Any], request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        if not self.options.mask_output:
            async for chunk in response:
                yield chunk
            return
        counts: Counter[tuple[str | None, str]] = Counter()
        timer = [0.0]
        scan = self._output_scan(counts, timer)
        holdback = self._holdback or guardrails_config().stream_holdback_chars
        async for chunk in mask_chunks(
            response,
            lambda: StreamMasker(scan, holdback, lambda s: _count((s,), counts)),
            lambda: StreamMasker(scan, holdback, lambda s: _count((s,), counts)),
        ):
            yield chunk
        record(request_data, self.guardrail_name or "secrets_guard", counts, timer[0] * 1000, "output")
