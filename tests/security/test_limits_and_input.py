"""Limits before parsing, and bad input: always a 4xx in OpenAI's format, never a 5xx."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tests.harness.fake_upstream import FakeUpstream
from tests.harness.gateway import GatewayProcess
from tests.security.conftest import assert_openai_error

pytestmark = pytest.mark.e2e

MSGS = [{"role": "user", "content": "hi"}]


def _raw_request(port: int, payload: bytes, *, read_timeout: float = 20) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(payload)
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else -1


def _live(gw: GatewayProcess) -> float:
    start = time.monotonic()
    assert httpx.get(gw.root_url + "/health/liveliness", timeout=10).status_code == 200
    return time.monotonic() - start


def test_many_small_headers_refused_without_stalling(secure_gw: GatewayProcess) -> None:
    headers = b"".join(b"x-h%d: v\r\n" % i for i in range(40_000))
    done: list[bytes] = []
    t = threading.Thread(
        target=lambda: done.append(
            _raw_request(
                secure_gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
            )
        )
    )
    t.start()
    time.sleep(0.2)
    assert _live(secure_gw) < 3.0  # the loop is not held by the flood
    t.join(30)
    assert done and _status(done[0]) == 431, done[:1]


def test_one_huge_header_refused(secure_gw: GatewayProcess) -> None:
    reply = _raw_request(
        secure_gw.port,
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n",
    )
    assert _status(reply) == 431
    assert b'"headers_too_large"' in reply


def test_too_many_headers_refused(secure_gw: GatewayProcess) -> None:
    headers = {f"x-h{i}": "v" for i in range(150)}
    r = httpx.get(secure_gw.root_url + "/v1/models", headers=headers, timeout=10)
    assert r.status_code == 431


def test_slow_headers_time_out(secure_gw: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", secure_gw.port), timeout=20) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        reply = s.recv(65536)
    assert _status(reply) == 408
    assert time.monotonic() - start < 10


def test_slow_body_times_out(secure_gw: GatewayProcess, demo_key: str) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + demo_key.encode() + b'\r\nContent-Length: 1000\r\n\r\n{"model":'
    )
    reply = _raw_request(secure_gw.port, head)
    assert _status(reply) == 408, reply[:300]


def test_body_too_large(raw: httpx.Client, fake_upstream: FakeUpstream) -> None:
    big = {"model": "demo", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    assert_openai_error(raw.post("/v1/chat/completions", json=big), 413, "body_too_large")
    assert fake_upstream.requests == []


def test_concurrent_stream_cap_per_key(secure_gw: GatewayProcess, demo_key: str) -> None:
    body = {
        "model": "demo",
        "messages": [{"role": "user", "content": "tell me a long story " * 20}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {demo_key}"}
    with (
        httpx.Client(base_url=secure_gw.root_url, headers=headers, timeout=30) as a,
        httpx.Client(base_url=secure_gw.root_url, headers=headers, timeout=30) as b,
    ):
        with a.stream("POST", "/v1/chat/completions", json=body) as first:
            assert first.status_code == 200
            second = b.post("/v1/chat/completions", json=body)
            assert_openai_error(second, 429, "too_many_streams")
            for _ in first.iter_bytes():
                pass
        third = b.post("/v1/chat/completions", json=body)
        assert third.status_code == 200


# --- malformed bodies on every served LLM route ---------------------------------------------

_X = b'"messages": [{"role": "user", "content": "x"}]'


def _chat(fields: bytes) -> bytes:
    """A chat body with a valid message list and ``fields`` (raw JSON members) beside it."""
    return b'{"model": "demo", ' + fields + b", " + _X + b"}"


BAD_BODIES: list[tuple[str, bytes, str | None]] = [
    ("/v1/chat/completions", b"null", None),
    ("/v1/chat/completions", b"[1, 2]", None),
    ("/v1/chat/completions", b'"hello"', None),
    ("/v1/chat/completions", b"{not json", None),
    ("/v1/chat/completions", b"", None),
    ("/v1/chat/completions", b'{"model": "demo", "messages": [{"role": "user", "content": NaN}]}', None),
    ("/v1/chat/completions", b'{"model": "demo", "temperature": Infinity, "messages": []}', None),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "messages": [{"role": "user", "content": 123}]}',
        "messages[0].content",
    ),
    ("/v1/chat/completions", b'{"model": "demo", "messages": "hi"}', "messages"),
    ("/v1/chat/completions", b'{"model": "demo"}', "messages"),
    ("/v1/chat/completions", b'{"model": "demo", "messages": [{"content": "x"}]}', "messages[0].role"),
    ("/v1/chat/completions", b'{"model": "demo", "messages": [1]}', "messages[0]"),
    ("/v1/chat/completions", b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}',
        "max_tokens",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "max_tokens": -5, "messages": [{"role": "user", "content": "x"}]}',
        "max_tokens",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "max_tokens": 1180591620717411303424, "messages": [{"role": "user", "content": "x"}]}',  # noqa: E501
        "max_tokens",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "max_tokens": "10", "messages": [{"role": "user", "content": "x"}]}',
        "max_tokens",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "n": 0, "messages": [{"role": "user", "content": "x"}]}',
        "n",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "temperature": 9, "messages": [{"role": "user", "content": "x"}]}',
        "temperature",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
        "stream",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "metadata": "x", "messages": [{"role": "user", "content": "x"}]}',
        "metadata",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "tools": "x", "messages": [{"role": "user", "content": "x"}]}',
        "tools",
    ),
    # response_format / tool_choice of the wrong shape: LiteLLM answered these with a 500
    # (found by the fuzzer: "response_format": [])
    *[
        (
            "/v1/chat/completions",
            b'{"model": "demo", "response_format": '
            + rf
            + b', "messages": [{"role": "user", "content": "x"}]}',
            "response_format",
        )
        for rf in (b"[]", b'"json"', b"{}", b'{"type": "yaml"}', b'{"type": "json_schema"}', b"5")
    ],
    (
        "/v1/chat/completions",
        b'{"model": "demo", "tool_choice": [], "messages": [{"role": "user", "content": "x"}]}',
        "tool_choice",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "demo", "messages": [{"role": "user", "content": [{"type": "x"}]}]}',
        "messages[0].content[0].type",
    ),
    ("/v1/completions", b'{"model": "demo", "prompt": 5}', "prompt"),
    ("/v1/completions", b'{"model": "demo"}', "prompt"),
    ("/v1/embeddings", b'{"model": "demo", "input": 5}', "input"),
    ("/v1/responses", b'{"model": "demo", "input": 5}', "input"),
    ("/v1/responses", b'{"model": "demo", "input": [5]}', "input[0]"),
    ("/v1/responses", b'{"model": "demo", "input": "x", "instructions": 7}', "instructions"),
    ("/v1/messages", b'{"model": "demo", "max_tokens": 10}', "messages"),
    (
        "/v1/messages",
        b'{"model": "demo", "max_tokens": 10, "system": 5, "messages": [{"role": "user", "content": "x"}]}',
        "system",
    ),
]


@pytest.mark.parametrize(("path", "body", "param"), BAD_BODIES)
def test_malformed_body_is_a_clean_400(
    raw: httpx.Client, fake_upstream: FakeUpstream, path: str, body: bytes, param: str | None
) -> None:
    r = raw.post(path, content=body, headers={"content-type": "application/json"})
    err = assert_openai_error(r, 400)
    if param is not None:
        assert err["param"] == param, err
    assert fake_upstream.requests == []


CONTROL_IDS: list[tuple[dict[str, Any], dict[str, str], str]] = [
    ({"metadata": {"thread_id": "t1\r\nx-evil: 1"}}, {}, "metadata.thread_id"),
    ({"metadata": {"thread_id": "t\x00"}}, {}, "metadata.thread_id"),
    ({"model": "demo\x00"}, {}, "model"),
    ({"model": "support\n"}, {}, "model"),
    ({"user": "bob\x1b[31m"}, {}, "user"),
    ({}, {"x-thread-id": "t\tx"}, "x-thread-id"),
]


@pytest.mark.parametrize(("extra", "headers", "param"), CONTROL_IDS)
def test_identifiers_with_control_characters_refused(
    raw: httpx.Client, extra: dict[str, Any], headers: dict[str, str], param: str
) -> None:
    body: dict[str, Any] = {"model": "demo", "messages": MSGS, **extra}
    r = raw.post(
        "/v1/chat/completions",
        content=json.dumps(body),
        headers={"content-type": "application/json", **headers},
    )
    err = assert_openai_error(r, 400)
    assert err["param"] == param


def test_path_with_control_characters_refused(secure_gw: GatewayProcess) -> None:
    reply = _raw_request(
        secure_gw.port, b"GET /agents/threads/a%0d%0ab HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert _status(reply) == 400
