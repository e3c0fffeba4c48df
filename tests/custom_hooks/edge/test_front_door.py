"""The front door hands LiteLLM the body it already parsed, where LiteLLM would parse it the same."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body
from starlette.requests import Request

from custom_hooks.edge.front_door import LITELLM_PARSED_BODY, litellm_body_cache
from custom_hooks.edge.request_policy import parse_body

JSON = [(b"content-type", b"application/json")]


def _request(raw: bytes, headers: list[tuple[bytes, bytes]], cached: Any = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": headers,
    }
    if cached is not None:
        scope[LITELLM_PARSED_BODY] = cached
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


BODIES = [
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    {"model": "m", "messages": [{"role": "user", "content": "ünïcödé ✓ 😀"}], "temperature": 0.5},
    {"model": "m", "n": 2**53, "metadata": {"tags": ["a", "b"]}, "x": None, "y": [1.5e300, -0]},
    {"model": "m", "dup": 1},
]


@pytest.mark.parametrize("body", BODIES)
async def test_litellm_reads_the_same_body_from_our_cache(body: dict[str, Any]) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    own = await _read_request_body(_request(raw, JSON))
    cached = litellm_body_cache(JSON, raw, parse_body(raw))
    assert cached is not None
    from_cache = await _read_request_body(_request(b"", JSON, cached))  # no body: it must use the cache
    assert from_cache == own == body


async def test_duplicate_keys_resolve_like_litellm() -> None:
    raw = b'{"model": "a", "model": "b", "messages": []}'
    cached = litellm_body_cache(JSON, raw, parse_body(raw))
    assert cached is not None
    assert await _read_request_body(_request(b"", JSON, cached)) == await _read_request_body(
        _request(raw, JSON)
    )


def test_integers_beyond_64_bits_are_left_to_litellm() -> None:
    raw = b'{"model": "m", "n": 1000000000000000000000000000000}'  # orjson reads it as 1e30
    assert litellm_body_cache(JSON, raw, parse_body(raw)) is None


def test_lone_surrogates_are_left_to_litellm() -> None:
    for raw in (b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}', b'{"x": "\\uDFFF"}'):
        assert litellm_body_cache(JSON, raw, parse_body(raw)) is None


@pytest.mark.parametrize(
    "content_type",
    [
        b"multipart/form-data; boundary=x",
        b"application/x-www-form-urlencoded",
        b"application/octet-stream",
        b"text/plain",
    ],
)
def test_non_json_bodies_are_left_to_litellm(content_type: bytes) -> None:
    raw = b'{"model": "m"}'
    assert litellm_body_cache([(b"Content-Type", content_type)], raw, parse_body(raw)) is None


def test_json_media_types_and_no_content_type_are_cached() -> None:
    raw = b'{"model": "m"}'
    for headers in (
        [],
        [(b"content-type", b"application/json; charset=utf-8")],
        [(b"content-type", b"application/vnd.x+json")],
    ):
        assert litellm_body_cache(headers, raw, parse_body(raw)) == (("model",), {"model": "m"})
