"""OpenTelemetry traces from a real gateway, received by a real OTLP/HTTP receiver.

The gateway is started with the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SERVICE_NAME``) pointing at :class:`tests.harness.otlp_receiver.OtlpReceiver`;
requests go through the real OpenAI SDK.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.agent_graphs_setup import new_key, overrides
from tests.harness.fake_upstream import FakeUpstream, text, tool_call
from tests.harness.gateway import GatewayProcess
from tests.harness.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

_SEARCH = {"web_search": {"backend": "local", "max_results": 3}}
AGENTS = {
    "research": {"graph": "agent_routes.research.build", "model": "gpt-4o-mini", "tools": _SEARCH},
    "research-demo": {"graph": "agent_routes.research.build", "model": "default", "tools": _SEARCH},
    "research-short": {
        "graph": "agent_routes.research.build",
        "model": "gpt-4o-mini",
        "tools": _SEARCH,
        "step_limit": 3,
    },
}
PROMPT_MARK = "zebra-giraffe-prompt-4417"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, fake_upstream: FakeUpstream, otlp: OtlpReceiver) -> Iterator[GatewayProcess]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "OTEL_SERVICE_NAME": "gateway-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    yield gateway_factory(config_overrides=overrides(fake_upstream.url, AGENTS), env=env, name="tracing")


@pytest.fixture(scope="module")
def key(gw: GatewayProcess) -> str:
    return new_key(gw, "tracing-e2e")


def _by_request(otlp: OtlpReceiver, request_id: str) -> ReceivedSpan:
    spans = otlp.wait_for(lambda s: any(x.attributes.get("gateway.request_id") == request_id for x in s))
    (span,) = [s for s in spans if s.attributes.get("gateway.request_id") == request_id]
    return span


def _all_values(span: ReceivedSpan) -> str:
    return " ".join(str(v) for v in span.attributes.values()) + " " + span.name + " " + span.status_message


def test_chat_call_is_one_genai_span_without_prompt_or_key(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream, otlp: OtlpReceiver
) -> None:
    fake_upstream.script(text("Paris.", prompt_tokens=13, completion_tokens=3), model="gpt-4o-mini")
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=64,
        temperature=0.2,
        messages=[{"role": "user", "content": f"Capital of France? {PROMPT_MARK} me@example.com"}],
    )
    request_id = raw.headers["x-request-id"]
    span = _by_request(otlp, request_id)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == "SERVER"
    assert span.parent_span_id == ""  # a plain client call starts its own trace
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (13, 3)
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.temperature"] == pytest.approx(0.2)
    assert a["gateway.request_id"] == request_id
    assert a["gateway.key_alias"] == "tracing-e2e"
    assert a["gateway.served_model"] == "gpt-4o-mini"
    assert a["gateway.route_reason"]
    assert "pii_guard:email:masked" in a["gateway.guardrail.actions"]
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a
    assert span.status != "ERROR"
    assert span.resource["service.name"] == "gateway-under-test"
    assert 0 < span.start_ns < span.end_ns
    leaked = _all_values(span)
    assert PROMPT_MARK not in leaked and "me@example.com" not in leaked
    assert key not in leaked and hashlib.sha256(key.encode()).hexdigest() not in leaked
    assert "Paris" not in leaked
    assert len([s for s in otlp.snapshot() if s.attributes.get("gateway.request_id") == request_id]) == 1


def test_agent_run_is_one_trace_rooted_at_the_outer_request(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream, otlp: OtlpReceiver
) -> None:
    fake_upstream.script(
        tool_call("web_search", {"query": "budgets"}, prompt_tokens=120, completion_tokens=8),
        text("Budgets cap spend [1].", prompt_tokens=400, completion_tokens=12),
        model="gpt-4o-mini",
    )
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="research", messages=[{"role": "user", "content": f"How do budgets work? {PROMPT_MARK}"}]
    )
    run_id = raw.headers["x-gateway-agent-run-id"]
    root = _by_request(otlp, raw.headers["x-request-id"])
    spans = otlp.wait_for(
        lambda s: len([x for x in s if x.trace_id == root.trace_id and x.name == "chat gpt-4o-mini"]) == 2
    )
    trace = {s.span_id: s for s in spans if s.trace_id == root.trace_id}
    assert root.name == "chat research" and root.parent_span_id == "" and root.kind == "SERVER"
    (agent,) = [s for s in trace.values() if s.name == "invoke_agent research"]
    assert agent.parent_span_id == root.span_id
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "research"
    assert agent.attributes["gateway.agent.run_id"] == run_id
    assert agent.attributes["gateway.agent.outcome"] == "completed"
    assert (
        agent.attributes["gen_ai.usage.input_tokens"],
        agent.attributes["gen_ai.usage.output_tokens"],
    ) == (
        520,
        20,
    )
    (tool,) = [s for s in trace.values() if s.name == "execute_tool web_search"]
    assert tool.parent_span_id == agent.span_id
    assert tool.attributes["gen_ai.tool.name"] == "web_search"
    assert tool.attributes["gen_ai.tool.call.id"]
    inner = sorted((s for s in trace.values() if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_ns)
    assert [s.parent_span_id for s in inner] == [agent.span_id, agent.span_id]
    assert all(s.kind == "SERVER" and s.attributes["gateway.agent.run_id"] == run_id for s in inner)
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in inner] == [120, 400]
    # the tool ran between the two model calls, inside the run, inside the request
    assert inner[0].end_ns <= tool.start_ns <= tool.end_ns <= inner[1].start_ns
    assert root.start_ns <= agent.start_ns and agent.end_ns <= root.end_ns
    assert root.attributes["gateway.agent.run_id"] == run_id
    for span in trace.values():
        assert PROMPT_MARK not in _all_values(span)


def test_demo_agent_run_streams_into_one_trace(gw: GatewayProcess, key: str, otlp: OtlpReceiver) -> None:
    stream = gw.client(key).chat.completions.with_raw_response.create(
        model="research-demo",
        stream=True,
        messages=[{"role": "user", "content": "What happens when a provider fails?"}],
    )
    run_id = stream.headers["x-gateway-agent-run-id"]
    for _ in stream.parse():
        pass
    root = _by_request(otlp, stream.headers["x-request-id"])
    spans = otlp.wait_for(
        lambda s: len([x for x in s if x.trace_id == root.trace_id and x.name == "chat default"]) == 2
    )
    trace = [s for s in spans if s.trace_id == root.trace_id]
    (agent,) = [s for s in trace if s.name == "invoke_agent research-demo"]
    assert agent.parent_span_id == root.span_id and agent.attributes["gateway.agent.run_id"] == run_id
    children = {s.name for s in trace if s.parent_span_id == agent.span_id}
    assert children == {"chat default", "execute_tool web_search"}


def test_a_failed_run_marks_its_span_and_its_request(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream, otlp: OtlpReceiver
) -> None:
    fake_upstream.script(
        *[tool_call("web_search", {"query": f"q{i}"}) for i in range(4)], model="gpt-4o-mini"
    )
    r = httpx.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "research-short", "messages": [{"role": "user", "content": "loop forever"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "agent_step_limit"
    root = _by_request(otlp, r.headers["x-request-id"])
    spans = otlp.wait_for(
        lambda s: any(x.trace_id == root.trace_id and x.name == "invoke_agent research-short" for x in s)
    )
    (agent,) = [s for s in spans if s.trace_id == root.trace_id and s.name.startswith("invoke_agent")]
    assert agent.parent_span_id == root.span_id
    assert agent.status == "ERROR" and agent.attributes["error.type"] == "agent_step_limit"
    assert agent.attributes["gateway.agent.outcome"] == "step_limit"
    assert root.status == "ERROR" and root.attributes["http.response.status_code"] == 422
    assert root.attributes["error.type"] == "agent_step_limit"


def test_client_traceparent_is_a_link_not_a_parent(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream, otlp: OtlpReceiver
) -> None:
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{client_trace}-{client_span}-01"},
    )
    span = _by_request(otlp, raw.headers["x-request-id"])
    assert span.trace_id != client_trace and span.parent_span_id == ""
    assert (client_trace, client_span) in span.links


def test_forged_run_token_cannot_join_a_run_trace(gw: GatewayProcess, otlp: OtlpReceiver) -> None:
    victim_trace = "0af7651916cd43dd8448eb211c80319c"
    forged = "gwrun_eyJydW5faWQiOiJydW5feCJ9.c2lnbmF0dXJl"
    r = httpx.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={
            "Authorization": f"Bearer {forged}",
            "traceparent": f"00-{victim_trace}-b7ad6b7169203331-01",
        },
        timeout=30,
    )
    assert r.status_code == 401
    span = _by_request(otlp, r.headers["x-request-id"])
    assert span.trace_id != victim_trace and span.parent_span_id == ""
    assert span.status == "ERROR" and span.attributes["error.type"]
    assert span.attributes["http.response.status_code"] == 401
    assert forged not in _all_values(span)


def test_rejected_request_span_carries_the_gateway_reason(
    gw: GatewayProcess, key: str, otlp: OtlpReceiver
) -> None:
    r = httpx.post(
        f"{gw.base_url}/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "my key is sk-proj-" + "A1b2C3d4E5f6G7h8" * 3}],
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert r.status_code >= 400
    span = _by_request(otlp, r.headers["x-request-id"])
    assert span.name == "chat gpt-4o-mini"
    assert span.status == "ERROR"
    assert span.attributes["error.type"] == r.json()["error"]["code"]
    assert "A1b2C3d4" not in _all_values(span)


def test_untraced_routes_export_nothing(gw: GatewayProcess, otlp: OtlpReceiver) -> None:
    before = len(otlp.snapshot())
    for _ in range(3):
        assert httpx.get(f"{gw.root_url}/health/liveliness", timeout=10).status_code == 200
    time.sleep(0.5)
    assert [s.name for s in otlp.snapshot()[before:]] == []


def test_only_the_gateways_own_spans_are_exported(otlp: OtlpReceiver) -> None:
    # LiteLLM's own OTel logger stays off: every span is one of ours, from one service.
    spans = otlp.snapshot()
    assert spans
    ours = ("chat ", "embeddings ", "invoke_agent ", "execute_tool ", "POST /agents/")
    assert [s.name for s in spans if not s.name.startswith(ours)] == []
    assert {s.resource["service.name"] for s in spans} == {"gateway-under-test"}


def test_nothing_is_exported_when_traces_are_switched_off(
    gateway_factory: Any, fake_upstream: FakeUpstream, otlp: OtlpReceiver
) -> None:
    # The endpoint is set, but OTEL_TRACES_EXPORTER=none switches the exporter off.
    off = gateway_factory(
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_TRACES_EXPORTER": "none"}, name="tracing-off"
    )
    posts = otlp.posts
    raw = off.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    time.sleep(1.0)  # several export intervals
    assert otlp.posts == posts
    assert not [
        s for s in otlp.snapshot() if s.attributes.get("gateway.request_id") == raw.headers["x-request-id"]
    ]
    off.stop()
