"""Cost of the full guardrail set on a 4 KB and a 64 KB prompt, against a baseline.

    .venv/bin/python -m bench.guardrails_bench            # ~10 s

The prompt is realistic mixed content: prose in five languages, a code/config snippet,
JSON tool output, and a few emails, phone numbers, a card number and an IP address (so
masking actually happens), spread over a system, a user and a tool message. Measured:

- input: every pre-call guardrail (request_limits, secrets_guard, topic_guard,
  injection_guard, pii_guard) on a fresh copy of the request;
- output: pii_guard + secrets_guard on a same-size answer, non-streaming, and streamed
  in 20-character chunks;
- baselines in the same run: ``json.dumps`` of the request (what the proxy does at
  least once anyway) and one plain regex scan of the text.

Hooks are called directly (no HTTP), so the figures are the guardrails' own CPU cost.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import Delta, ModelResponse, ModelResponseStream, StreamingChoices

from custom_hooks.core.sections.guardrails import GuardrailsConfig
from custom_hooks.guardrails.injection_guard import InjectionGuard
from custom_hooks.guardrails.pii_guard import PiiGuard
from custom_hooks.guardrails.request_limits import RequestLimits
from custom_hooks.guardrails.secrets_guard import SecretsGuard
from custom_hooks.guardrails.topic_guard import TopicGuard

PARAGRAPHS = [
    "Our quarterly review covers the migration of the billing service to the new cluster. The team "
    "finished the cut-over in version 2.4.1 on 2024-03-18 and measured a 12% drop in p95 latency. ",
    "Der Kunde bat um eine Rückerstattung für die doppelte Abbuchung vom 14.02.2024; bitte prüfen Sie "
    "den Vorgang und antworten Sie innerhalb von zwei Werktagen. ",
    "Le client signale que la facture n° 2024-0457 comporte une erreur de TVA. Merci de corriger le "
    "montant et de renvoyer le document avant vendredi. ",
    "El equipo de soporte recomienda reiniciar el servicio y revisar los registros del 3 de marzo antes "
    "de escalar el caso al segundo nivel. ",
    "お客様から請求書の再発行の依頼がありました。担当者は三営業日以内に対応してください。",
    "客户要求在本周五之前提供新的报价单，并确认交货日期。",  # noqa: RUF001
    "Contact the account owner at maria.lopez@example.org or +1 415 555 2671 if the card "
    "4012 8888 8888 1881 is declined again; the request came from 203.0.113.42. ",
    "```python\ndef retry(fn, attempts=3):\n    for i in range(attempts):\n"
    "        try:\n            return fn()\n"
    "        except TimeoutError:\n            time.sleep(2 ** i)\n```\n",
    '{"order_id": 4417723001, "status": "shipped", "items": [{"sku": "A-1042", "qty": 2}], '
    '"updated_at": "2024-03-18T10:42:00Z"}\n',
]


def make_text(size: int) -> str:
    out, i = [], 0
    while sum(len(p.encode()) for p in out) < size:
        out.append(PARAGRAPHS[i % len(PARAGRAPHS)])
        i += 1
    return "".join(out).encode()[:size].decode(errors="ignore")


def make_request(size: int) -> dict[str, Any]:
    body = make_text(size - 300)
    third = len(body) // 3
    return {
        "model": "gpt-4o-mini",
        "litellm_call_id": "bench",
        "messages": [
            {"role": "system", "content": "You are a careful support assistant. Answer briefly."},
            {"role": "user", "content": [{"type": "text", "text": body[:third]}]},
            {"role": "assistant", "content": body[third : 2 * third]},
            {"role": "tool", "tool_call_id": "t1", "content": body[2 * third :]},
        ],
    }


CONFIG = GuardrailsConfig.model_validate(
    {
        "topics": {
            "topics": {"weapons": ["build a bomb", "make a bomb"], "competitors": ["acme corp", "globex"]}
        }
    }
)
USER = UserAPIKeyAuth(api_key="bench", metadata={"gateway_identity": {"team_id": "t", "tier": "pro"}})
INPUT_GUARDS = [
    RequestLimits(options=CONFIG.limits),
    SecretsGuard(options=CONFIG.secrets, holdback=CONFIG.stream_holdback_chars),
    TopicGuard(options=CONFIG.topics),
    InjectionGuard(options=CONFIG.injection),
    PiiGuard(options=CONFIG.pii, holdback=CONFIG.stream_holdback_chars, in_process=frozenset()),
]
OUTPUT_GUARDS: list[Any] = [INPUT_GUARDS[4], INPUT_GUARDS[1]]
_BASELINE_RE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median ms of ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def run_sync(coro: Any) -> Any:
    """Drive a coroutine that never suspends (our hooks) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("hook suspended")


async def _chunks(text: str) -> AsyncIterator[ModelResponseStream]:
    for i in range(0, len(text), 20):
        yield ModelResponseStream(choices=[StreamingChoices(index=0, delta=Delta(content=text[i : i + 20]))])
    yield ModelResponseStream(
        choices=[StreamingChoices(index=0, delta=Delta(content=None), finish_reason="stop")]
    )


async def _drain(guard_stack: list[Any], text: str, data: dict[str, Any]) -> None:
    stream: AsyncIterator[Any] = _chunks(text)
    for guard in guard_stack:
        stream = guard.async_post_call_streaming_iterator_hook(USER, stream, data)
    async for _ in stream:
        pass


def bench(size: int, repeat: int) -> dict[str, float]:
    request = make_request(size)
    copies = [copy.deepcopy(request) for _ in range(repeat + 2)]
    it = iter(copies)

    def input_guards() -> None:
        data = next(it)
        for guard in INPUT_GUARDS:
            data = run_sync(guard.async_pre_call_hook(USER, None, data, "acompletion"))

    answer = make_text(size)

    def output_guards() -> None:
        response = ModelResponse(choices=[{"message": {"role": "assistant", "content": answer}}])
        data: dict[str, Any] = {"litellm_call_id": "bench"}
        for guard in OUTPUT_GUARDS:
            run_sync(guard.async_post_call_success_hook(data, USER, response))

    def streamed_output() -> None:
        asyncio.run(_drain(OUTPUT_GUARDS, answer, {"litellm_call_id": "bench"}))

    def streamed_passthrough() -> None:
        asyncio.run(_drain([], answer, {}))

    flat = json.dumps(request)
    kb = size / 1024
    results = {
        "json_dumps_ms": timed(lambda: json.dumps(request), repeat),
        "regex_scan_ms": timed(lambda: _BASELINE_RE.findall(flat), repeat),
        "input_guards_ms": timed(input_guards, repeat),
        "output_guards_ms": timed(output_guards, repeat),
        "stream_passthrough_ms": timed(streamed_passthrough, max(3, repeat // 4)),
        "stream_guards_ms": timed(streamed_output, max(3, repeat // 4)),
    }
    results["stream_guards_extra_ms"] = results["stream_guards_ms"] - results["stream_passthrough_ms"]
    results["input_ms_per_kb"] = results["input_guards_ms"] / kb
    results["output_ms_per_kb"] = results["output_guards_ms"] / kb
    results["stream_extra_ms_per_kb"] = results["stream_guards_extra_ms"] / kb
    results["stream_extra_us_per_chunk"] = results["stream_guards_extra_ms"] * 1000 / (len(answer) / 20 + 1)
    return results


def main() -> None:
    print("Guardrail cost (median ms; hooks called directly; same-run baselines)")
    for size, repeat in ((4 * 1024, 60), (64 * 1024, 12)):
        r = bench(size, repeat)
        print(f"\n{size // 1024} KB prompt")
        print(f"  baseline json.dumps(request)          {r['json_dumps_ms']:8.3f} ms")
        print(f"  baseline one regex scan               {r['regex_scan_ms']:8.3f} ms")
        print(
            f"  input guardrails (5, pre-call)        {r['input_guards_ms']:8.3f} ms  "
            f"{r['input_ms_per_kb']:.3f} ms/KB  ({r['input_guards_ms'] / r['json_dumps_ms']:.1f}x json.dumps)"
        )
        print(
            f"  output guardrails (pii+secrets)       {r['output_guards_ms']:8.3f} ms  "
            f"{r['output_ms_per_kb']:.3f} ms/KB"
        )
        print(
            f"  streamed output, 20-char chunks       {r['stream_guards_extra_ms']:8.3f} ms  "
            f"{r['stream_extra_ms_per_kb']:.3f} ms/KB, {r['stream_extra_us_per_chunk']:.0f} us/chunk "
            f"(over a pass-through stream: {r['stream_passthrough_ms']:.2f} ms)"
        )


if __name__ == "__main__":
    main()
