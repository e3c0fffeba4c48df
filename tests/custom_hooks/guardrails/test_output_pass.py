"""PII and secrets mask a stream in one pass: the same text, counts and records as two.

The reference is what the two guardrails did as separate passes (PII inside, secrets
around it, as LiteLLM chains them); the joined pass must send the same text for every
chunking an attacker or a careless upstream could produce, count the same entities per
guardrail, restore the caller's own placeholders, and leave nothing in the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import litellm
import pytest
from litellm.caching.caching import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.utils import ProxyLogging
from litellm.types.utils import (
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    ModelResponseStream,
    StreamingChoices,
)

from custom_hooks.core.sections.guardrails import PiiOptions, SecretsOptions
from custom_hooks.guardrails import output_pass
from custom_hooks.guardrails.pii_guard import PiiGuard
from custom_hooks.guardrails.secrets_guard import SecretsGuard

pytestmark = pytest.mark.usefixtures("shipped_services")

USER = UserAPIKeyAuth(api_key="hash", metadata={"gateway_identity": {"team_id": "t1", "tier": "pro"}})
EMAIL = "jane.doe@example.com"
KEY = "sk-proj-aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"
AWS = "AKIAIOSFODNN7EXAMPLE"
Chunks = Callable[[], AsyncIterator[Any]]


def _guards() -> tuple[PiiGuard, SecretsGuard]:
    return (
        PiiGuard(guardrail_name="pii_guard", options=PiiOptions(), holdback=64),
        SecretsGuard(guardrail_name="secrets_guard", options=SecretsOptions(), holdback=64),
    )


async def _request(pii: PiiGuard) -> tuple[dict[str, Any], str]:
    """A request whose e-mail the PII guard swapped for a placeholder (kept in its vault)."""
    data: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "litellm_call_id": "call-1",
        "messages": [{"role": "user", "content": f"I am {EMAIL}, write to me"}],
    }
    out = await pii.async_pre_call_hook(USER, None, data, "acompletion")
    text = out["messages"][0]["content"]
    placeholder = text.split()[2].rstrip(",")
    assert placeholder != EMAIL and placeholder.startswith("[")
    return out, placeholder


def _chunk(
    content: str | None = None, finish: str | None = None, args: str | None = None
) -> ModelResponseStream:
    function = Function(name=None, arguments=args)
    call = ChatCompletionDeltaToolCall(index=0, id=None, type=None, function=function)
    calls = [call] if args is not None else None
    delta = Delta(content=content, tool_calls=calls)
    return ModelResponseStream(id="s", choices=[StreamingChoices(index=0, delta=delta, finish_reason=finish)])


def _splits(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _answer(placeholder: str) -> str:
    # Everything both guardrails rewrite, touching: a restored placeholder, new PII, keys,
    # a key glued to an e-mail, and a secret right at the end of the stream.
    return (
        f"Dear {placeholder}, your new key is {KEY} (AWS {AWS}); call +1 415 555 2671 "
        f"or mail bob.smith@example.org.{KEY} Card 4111 1111 1111 1111. Last: {AWS}"
    )


def _stream(answer: str, size: int, args: str = "") -> Chunks:
    async def chunks() -> AsyncIterator[Any]:
        for piece in _splits(answer, size):
            yield _chunk(piece)
        for piece in _splits(args, size):
            yield _chunk(args=piece)
        yield _chunk(finish="stop")

    return chunks


async def _sent(stream: AsyncIterator[Any]) -> tuple[str, str]:
    text, args = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            for call in choice.delta.tool_calls or ():
                args.append(call.function.arguments or "")
    return "".join(text), "".join(args)


def _recorded(data: dict[str, Any]) -> set[tuple[str, str | None, str, int]]:
    """The output decisions recorded on the request (guardrail, entity, action, count)."""
    entries = data["metadata"]["gateway"]["guardrails"]
    return {(e["guardrail"], e["entity"], e["action"], e["count"]) for e in entries if e["phase"] == "output"}


async def _two_passes(chunks: Chunks) -> tuple[tuple[str, str], dict[str, Any]]:
    pii, secrets = _guards()
    data, _ = await _request(pii)
    inner = pii.async_post_call_streaming_iterator_hook(USER, chunks(), data)
    data.pop(output_pass._OPEN)  # the old arrangement: secrets runs a pass of its own
    outer = secrets.async_post_call_streaming_iterator_hook(USER, inner, data)
    return await _sent(outer), data


async def _one_pass(chunks: Chunks) -> tuple[tuple[str, str], dict[str, Any], bool]:
    pii, secrets = _guards()
    data, _ = await _request(pii)
    upstream = chunks()
    # LiteLLM's order: the outer hook is called first, the inner one when the outer pulls.
    holder: dict[str, Any] = {}

    async def inner() -> AsyncIterator[Any]:
        holder["returned"] = pii.async_post_call_streaming_iterator_hook(USER, upstream, data)
        async for chunk in holder["returned"]:
            yield chunk

    sent = await _sent(secrets.async_post_call_streaming_iterator_hook(USER, inner(), data))
    return sent, data, holder["returned"] is upstream


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64, 1000])
async def test_one_pass_sends_and_records_what_two_passes_did(size: int) -> None:
    pii, _ = _guards()
    _, placeholder = await _request(pii)
    args = f'{{"to": "{placeholder}", "token": "{KEY}", "cc": "carol@example.net"}}'
    chunks = _stream(_answer(placeholder), size, args)
    (text, sent_args), joined, handed_through = await _one_pass(chunks)
    (ref_text, ref_args), separate = await _two_passes(chunks)
    assert handed_through  # the inner guardrail added no pass of its own
    assert (text, sent_args) == (ref_text, ref_args)
    assert _recorded(joined) == _recorded(separate)
    assert EMAIL in text and KEY not in text and AWS not in text and "4111" not in text
    assert "bob.smith" not in text and "2671" not in text
    assert EMAIL in sent_args and KEY not in sent_args  # arguments: restored, and secrets still masked
    assert output_pass._OPEN not in joined
    assert {g for g, _, _, _ in _recorded(joined)} == {"pii_guard", "secrets_guard"}


@pytest.mark.parametrize("size", [1, 3, 1000])
async def test_a_chain_built_inner_hook_first_joins_in_the_same_order(size: int) -> None:
    """Built eagerly (inner hook called first, as a script or another proxy might): the
    outer hook sees the pass's own output, joins after it, and the text is unchanged."""
    pii, secrets = _guards()
    data, placeholder = await _request(pii)
    chunks = _stream(_answer(placeholder), size)
    inner = pii.async_post_call_streaming_iterator_hook(USER, chunks(), data)
    outer = secrets.async_post_call_streaming_iterator_hook(USER, inner, data)
    assert outer is inner  # joined: one pass
    text, _ = await _sent(outer)
    (ref_text, _), separate = await _two_passes(chunks)
    assert text == ref_text
    assert _recorded(data) == _recorded(separate)


async def test_a_hook_around_a_foreign_layer_runs_its_own_pass() -> None:
    """Between the two sits a layer that is not ours: the outer hook can't know where it
    is, so it does not join, and both guardrails still mask."""
    pii, secrets = _guards()
    data, placeholder = await _request(pii)
    inner = pii.async_post_call_streaming_iterator_hook(USER, _stream(f"{KEY} {placeholder}", 3)(), data)

    async def foreign(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for chunk in stream:
            yield chunk

    around = foreign(inner)
    outer = secrets.async_post_call_streaming_iterator_hook(USER, around, data)
    assert outer is not inner and outer is not around
    text, _ = await _sent(outer)
    assert text == f"[REDACTED_OPENAI_KEY] {EMAIL}"


async def test_both_guardrails_record_even_for_an_empty_stream() -> None:
    async def nothing() -> AsyncIterator[Any]:
        return
        yield  # pragma: no cover

    _, data, handed_through = await _one_pass(nothing)
    assert handed_through and output_pass._OPEN not in data
    assert _recorded(data) == {("pii_guard", None, "allowed", 0), ("secrets_guard", None, "allowed", 0)}


async def test_a_hook_after_the_pass_started_masks_on_its_own() -> None:
    """Joining is only ever a saving: a pass that already read its first chunk takes no
    stage, and the late hook masks the stream it is given."""
    pii, secrets = _guards()
    data, placeholder = await _request(pii)
    chunks = _stream(f"key {KEY} for {placeholder}", 4)
    first = secrets.async_post_call_streaming_iterator_hook(USER, chunks(), data)
    it = first.__aiter__()
    head = await it.__anext__()  # the pass is sealed now

    async def rest() -> AsyncIterator[Any]:
        yield head
        async for chunk in it:
            yield chunk

    late = pii.async_post_call_streaming_iterator_hook(USER, rest(), data)
    assert late is not rest  # not joined
    text, _ = await _sent(late)
    assert text == f"key [REDACTED_OPENAI_KEY] for {EMAIL}"


class _SeenPii(PiiGuard):
    """The real PII guardrail, noting what its hook was given and what it returned."""

    seen: list[tuple[Any, Any]]

    def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: UserAPIKeyAuth, response: AsyncIterator[Any], request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        out = super().async_post_call_streaming_iterator_hook(user_api_key_dict, response, request_data)
        self.seen.append((response, out))
        return out


@pytest.mark.parametrize("size", [1, 4, 1000])
async def test_joined_under_litellms_own_chaining(size: int) -> None:
    """Through ProxyLogging's iterator hook (LiteLLM 1.108.7's wrappers and boundaries),
    with the guardrails in the shipped order: one pass, same text as the separate passes."""
    _, secrets = _guards()
    pii = _SeenPii(guardrail_name="pii_guard", options=PiiOptions(), holdback=64)
    pii.seen = []
    data, placeholder = await _request(pii)
    chunks = _stream(_answer(placeholder), size)
    (ref_text, _), separate = await _two_passes(chunks)
    saved = list(litellm.callbacks)
    ProxyLogging._callback_capabilities_cache.clear()
    try:
        litellm.callbacks[:] = [pii, secrets]
        logging_obj = ProxyLogging(user_api_key_cache=DualCache())  # type: ignore[arg-type]
        data["metadata"]["guardrails"] = ["pii_guard", "secrets_guard"]
        stream = logging_obj.async_post_call_streaming_iterator_hook(chunks(), USER, data)
        text, _ = await _sent(stream)
    finally:
        litellm.callbacks[:] = saved
        ProxyLogging._callback_capabilities_cache.clear()
    assert text == ref_text
    assert _recorded(data) == _recorded(separate)
    assert {g for g, _, _, _ in _recorded(data)} == {"pii_guard", "secrets_guard"}
    assert len(pii.seen) == 1 and pii.seen[0][1] is pii.seen[0][0]  # joined: handed through
    assert output_pass._OPEN not in data
