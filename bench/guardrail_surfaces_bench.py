"""Streamed-output guardrail cost per surface: chat chunks, Responses events, Anthropic SSE.

    .venv/bin/python -m bench.guardrail_surfaces_bench      # ~10 s

The same 4 KB answer, streamed in 20-character pieces, goes through pii_guard +
secrets_guard as each surface delivers it to the streaming iterator hook (chat
``ModelResponseStream`` chunks, Responses ``OutputTextDeltaEvent`` s, Anthropic SSE
``bytes``); printed is the extra time per chunk over the same stream without guards.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.types.llms.openai import OutputTextDeltaEvent, OutputTextDoneEvent
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

from bench.guardrails_bench import OUTPUT_GUARDS, USER, make_text, timed

Make = Callable[[list[str]], list[Any]]


def chat(pieces: list[str]) -> list[Any]:
    out: list[Any] = [
        ModelResponseStream(choices=[StreamingChoices(index=0, delta=Delta(content=p))]) for p in pieces
    ]
    out.append(
        ModelResponseStream(
            choices=[StreamingChoices(index=0, delta=Delta(content=None), finish_reason="stop")]
        )
    )
    return out


def responses(pieces: list[str]) -> list[Any]:
    kw = {"item_id": "m", "output_index": 0, "content_index": 0}
    out: list[Any] = [OutputTextDeltaEvent(type="response.output_text.delta", delta=p, **kw) for p in pieces]
    out.append(OutputTextDoneEvent(type="response.output_text.done", text="".join(pieces), **kw))
    return out


def anthropic(pieces: list[str]) -> list[Any]:
    def sse(e: dict[str, Any]) -> bytes:
        return f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()

    out = [
        sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})
        for p in pieces
    ]
    out.append(sse({"type": "content_block_stop", "index": 0}))
    return out


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _drain(items: list[Any], guarded: bool) -> None:
    stream: AsyncIterator[Any] = _aiter(items)
    if guarded:
        for guard in OUTPUT_GUARDS:
            stream = guard.async_post_call_streaming_iterator_hook(USER, stream, {"litellm_call_id": "b"})
    async for _ in stream:
        pass


def _runner(make: Make, pieces: list[str], guarded: bool) -> Callable[[], None]:
    return lambda: asyncio.run(_drain(make(pieces), guarded))


def main() -> None:
    text = make_text(4 * 1024)
    pieces = [text[i : i + 20] for i in range(0, len(text), 20)]
    print("Streamed output guardrails (pii+secrets), 4 KB in 20-char chunks; extra us per chunk")
    for name, make in (("chat chunks", chat), ("responses events", responses), ("anthropic sse", anthropic)):
        samples = {g: timed(_runner(make, pieces, g), 7) for g in (False, True)}
        extra = (samples[True] - samples[False]) * 1000 / (len(pieces) + 1)
        print(f"  {name:18s} {extra:7.0f} us/chunk  (pass-through {samples[False]:.2f} ms)")


if __name__ == "__main__":
    main()
