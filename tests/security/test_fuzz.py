"""Bounded property-based fuzzing of the served routes: never a 5xx, never a stall.

Hypothesis generates JSON bodies, near-valid requests, paths, query strings and headers;
every answer must be a well-formed response below 500 (a 4xx in OpenAI's error format, or
a success), and the gateway must stay live. A few thousand cases in all, against one
gateway on loopback, each request with a timeout.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

LLM_PATHS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/openai/deployments/demo/chat/completions",
    "/engines/demo/embeddings",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "model",
        "messages",
        "prompt",
        "input",
        "instructions",
        "system",
        "max_tokens",
        "max_output_tokens",
        "n",
        "temperature",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "response_format",
        "previous_response_id",
        "user",
        "stop",
        "content",
    ]
)
bodies = st.dictionaries(keys, json_values, max_size=6)
near_valid = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["demo", "default", "support", "gpt-4o", "", "de\u0000mo", "x" * 300]),
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "assistant", "tool", "function", "", "x"])},
                optional={"content": json_values, "tool_calls": json_values, "name": json_values},
            ),
            max_size=3,
        ),
    },
    optional={
        "max_tokens": json_values,
        "stream": st.booleans(),
        "metadata": json_values,
        "response_format": json_values,
        "tools": json_values,
    },
)


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:400])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert isinstance(err["message"], str) and "Traceback" not in err["message"], err


@pytest.fixture(scope="module")
def client(secure_gw: GatewayProcess, demo_key: str) -> Any:
    with httpx.Client(
        base_url=secure_gw.root_url, headers={"Authorization": f"Bearer {demo_key}"}, timeout=30
    ) as c:
        yield c


@FUZZ
@given(path=st.sampled_from(LLM_PATHS), body=bodies)
def test_random_bodies(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    r = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    _check(r)


@FUZZ
@given(body=near_valid)
def test_near_valid_chat(client: httpx.Client, body: dict[str, Any]) -> None:
    body.pop("stream", None)  # streams would be answered 200 and read to the end: keep it quick
    r = client.post(
        "/v1/chat/completions", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    _check(r)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(raw=st.binary(max_size=300), path=st.sampled_from(LLM_PATHS))
def test_raw_bytes(client: httpx.Client, raw: bytes, path: str) -> None:
    _check(client.post(path, content=raw, headers={"content-type": "application/json"}))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    path=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60),
    query=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=30
    ),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
)
def test_random_paths(client: httpx.Client, path: str, query: str, method: str) -> None:
    url = "/" + path.lstrip("/").replace("#", "").replace("?", "")
    try:
        r = client.request(method, url + ("?" + query if query else ""), json={"model": "demo"})
    except httpx.InvalidURL:
        return
    _check(r)


def test_still_live_after_fuzzing(secure_gw: GatewayProcess) -> None:
    assert httpx.get(secure_gw.root_url + "/health/liveliness", timeout=5).status_code == 200
