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
still caught.
config.yaml names its one-line re-export ``custom_hooks.secrets_guard.SecretsGuard``; the decision is
:func:`.masking.mask_verdict` (pure, table-tested), the hook applies it with :func:`.base.enforce`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.guardrails import GuardrailEventHooks

from custom_hooks.core.sections.guardrails import SecretsOptions, guardrails_config
from custom_hooks.guardrails.base import Finding, Span, enforce, record
from custom_hooks.guardrails.detectors.secrets import ALL_SECRETS, SecretDetector
from custom_hooks.guardrails.gate import GatewayGuardrail
from custom_hooks.guardrails.masking import Counts, OutputStage, mask_request, mask_response
from custom_hooks.guardrails.output_pass import join_output_pass

__all__ = ["SecretsGuard"]


def _mask(entity: str) -> str:
    return f"[REDACTED_{entity.upper()}]"


def _replace(f: Finding, _text: str) -> str:
    return _mask(f.entity)


class SecretsGuard(GatewayGuardrail):
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
        verdict = mask_request(
            data,
            detect=self.detector().scan,
            action_for=self.options.action_for,
            replace=_replace,
            what="the request contains a credential",
            hint="Remove it from the prompt, rotate it if it was real, and retry.",
            call_type=call_type,
        )
        enforce(data, self.guardrail_name or "secrets_guard", verdict, call_type)
        return data

    def _output_scan(self) -> Callable[[str], list[Span]]:
        detector = self.detector()

        def scan(text: str) -> list[Span]:
            return [Span(f.start, f.end, _mask(f.entity), f.entity) for f in detector.scan(text)]

        return scan

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        if not self.options.mask_output:
            return response
        counts: Counts = Counter()
        scan = self._output_scan()
        mask_response(response, scan, scan, counts)
        record(data, self.guardrail_name or "secrets_guard", counts, "output")
        return response

    def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: UserAPIKeyAuth, response: AsyncIterator[Any], request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        # A plain function, not a generator: joined to another guardrail's pass (or with
        # nothing to mask) it returns the stream itself, adding nothing per chunk.
        if not self.options.mask_output:
            return response
        counts: Counts = Counter()
        scan = self._output_scan()
        holdback = self._holdback or guardrails_config().stream_holdback_chars
        name = self.guardrail_name or "secrets_guard"

        def done() -> None:
            record(request_data, name, counts, "output")

        return join_output_pass(response, request_data, OutputStage(scan, scan, holdback, counts, done))
