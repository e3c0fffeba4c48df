"""Tracing: the on/off switch, whose trace context is trusted, span attributes, span lifecycle.

Spans go to the SDK's in-memory exporter through a real ``TracerProvider``; requests go
through a tiny real ASGI app.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from custom_hooks.core.request_event import RequestEvent
from custom_hooks.observability.tracing import (
    GatewayTracing,
    server_tracing,
    tracing_requested,
    trust_decision,
)
from custom_hooks.observability.tracing_attrs import (
    ContentPolicy,
    agent_end_attributes,
    operation_for_path,
    provider_name,
    request_attributes,
    span_name,
)

CLIENT_TRACE, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


# -- switch ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "gw"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ],
)
def test_tracing_is_on_only_when_the_standard_variables_ask(env: dict[str, str], on: bool) -> None:
    assert tracing_requested(env) is on


def test_off_means_no_tracer_at_all() -> None:
    # The process-wide tracer is built once; in the test process no OTEL_* variable is set.
    assert server_tracing({}) is None


# -- trust ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("has_tp", "run_token", "mode", "expected"),
    [
        (False, True, "parent", "none"),
        (True, True, "link", "parent"),  # the gateway's own inner calls continue their run
        (True, True, "ignore", "parent"),
        (True, False, "link", "link"),  # default: a client's context is only a link
        (True, False, "ignore", "none"),
        (True, False, "parent", "parent"),  # the operator trusts every caller
    ],
)
def test_trust_decision(has_tp: bool, run_token: bool, mode: Any, expected: str) -> None:
    assert trust_decision(has_traceparent=has_tp, run_token=run_token, mode=mode) == expected


# -- names and attributes --------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "op"),
    [
        ("POST", "/v1/chat/completions", "chat"),
        ("POST", "/chat/completions", "chat"),
        ("POST", "/openai/deployments/gpt-4o/chat/completions", "chat"),
        ("POST", "/v1/completions", "chat"),
        ("POST", "/v1/responses", "chat"),
        ("POST", "/v1/messages", "chat"),
        ("POST", "/v1/embeddings", "embeddings"),
        ("POST", "/agents/threads/thr_1/resume", "resume"),
        ("GET", "/v1/chat/completions", None),
        ("GET", "/v1/models", None),
        ("GET", "/health/liveliness", None),
        ("POST", "/key/generate", None),
        ("GET", "/metrics", None),
    ],
)
def test_which_routes_are_traced(method: str, path: str, op: str | None) -> None:
    assert operation_for_path(method, path) == op


def test_span_names_and_providers() -> None:
    assert span_name("chat", "gpt-4o") == "chat gpt-4o"
    assert span_name("embeddings", None) == "embeddings"
    assert provider_name("azure") == "azure.ai.openai"
    assert provider_name("demo") == "demo"
    assert provider_name(None) is None


def _event(**kw: Any) -> RequestEvent:
    base: dict[str, Any] = {
        "request_id": "req-1",
        "status": "success",
        "key_alias": "web",
        "key_hash": "f" * 64,
        "team_id": "search",
        "requested_model": "gpt-4o",
        "served_model": "gpt-4o-mini",
        "provider": "openai",
        "response_model": "gpt-4o-mini-2024-07-18",
        "prompt_tokens": 120,
        "completion_tokens": 48,
        "cost_usd": 0.0002,
        "routing": {"requested_model": "gpt-4o", "served_model": "gpt-4o-mini", "reason": "over_budget"},
        "budget": {
            "reserved": 0.01,
            "remaining": 4.5,
            "limit": 5.0,
            "binding_scope": "team",
            "scopes": ["key"],
        },
        "guardrails": [
            {"guardrail": "pii_guard", "entity": "email", "action": "masked", "count": 2},
            {"guardrail": "secrets_guard", "entity": None, "action": "allowed", "count": 0},
        ],
        "messages": [{"role": "user", "content": "secret prompt text"}],
        "response": {"choices": [{"message": {"content": "secret answer"}}]},
    }
    base.update(kw)
    return RequestEvent(**base)


def test_success_attributes_follow_the_genai_conventions_and_carry_gateway_decisions() -> None:
    a = request_attributes(
        _event(), operation="chat", params={"max_tokens": 256, "temperature": 0.5, "top_p": 1}
    )
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (120, 48)
    assert a["gen_ai.request.max_tokens"] == 256
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gateway.served_model"] == "gpt-4o-mini"
    assert a["gateway.route_reason"] == "over_budget"
    assert a["gateway.budget.remaining"] == 4.5 and a["gateway.budget.binding_scope"] == "team"
    assert a["gateway.budget.scopes"] == ["key"]
    assert a["gateway.guardrail.actions"] == ["pii_guard:email:masked"]
    assert a["gateway.guardrail.passed"] == ["secrets_guard"]
    assert (a["gateway.key_alias"], a["gateway.team_id"], a["gateway.request_id"]) == (
        "web",
        "search",
        "req-1",
    )
    assert "error.type" not in a


def test_no_prompt_completion_or_key_hash_unless_the_operator_opts_in() -> None:
    default = request_attributes(_event(), operation="chat")
    text = " ".join(str(v) for v in default.values())
    assert "secret prompt" not in text and "secret answer" not in text and "f" * 64 not in text
    opted = request_attributes(_event(), operation="chat", policy=ContentPolicy(True, True))
    assert "secret prompt text" in str(opted["gen_ai.input.messages"])
    assert "secret answer" in str(opted["gen_ai.output.messages"])
    assert opted["gateway.key_hash"] == "f" * 64


def test_failure_attributes_name_the_stable_reason_and_drop_usage() -> None:
    a = request_attributes(
        _event(status="failure", reason="budget_exceeded", error_type="ProxyException", rejected=True),
        operation="chat",
    )
    assert a["error.type"] == "budget_exceeded"
    assert a["gateway.rejected"] is True
    assert "gen_ai.usage.input_tokens" not in a
    upstream = request_attributes(_event(status="failure", error_type="RateLimitError"), operation="chat")
    assert upstream["error.type"] == "RateLimitError"


def test_attribute_values_are_only_primitives_or_string_lists() -> None:
    a = request_attributes(
        _event(routing={"reason": {"nested": 1}}, budget={"scopes": [1, 2]}),
        operation="chat",
        params={"seed": "x"},
    )
    for value in a.values():
        assert isinstance(value, str | bool | int | float) or all(isinstance(v, str) for v in value)
    assert "gateway.route_reason" not in a and "gen_ai.request.seed" not in a


def test_agent_end_attributes_mark_failures() -> None:
    end = agent_end_attributes(
        outcome="step_limit",
        steps=5,
        inner_calls=2,
        input_tokens=10,
        output_tokens=3,
        cost_usd=0.1,
        error_type="agent_step_limit",
    )
    assert end["error.type"] == "agent_step_limit" and end["gateway.agent.outcome"] == "step_limit"
    ok = agent_end_attributes(
        outcome="completed",
        steps=3,
        inner_calls=1,
        input_tokens=1,
        output_tokens=1,
        cost_usd=None,
        error_type=None,
    )
    assert "error.type" not in ok and "gateway.cost_usd" not in ok


# -- span lifecycle ----------------------------------------------------------------------
class _Harness:
    def __init__(self, mode: Any = "link", run_token_ok: bool = False, grace_s: float = 10.0) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = GatewayTracing(
            provider,
            mode=mode,
            grace_s=grace_s,
            is_run_token=lambda _token: run_token_ok,
            register_callback=False,  # no LiteLLM in these tests
        )

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    async def request(
        self,
        path: str = "/v1/chat/completions",
        status: int = 200,
        headers: dict[str, str] | None = None,
        during: Any = None,
    ) -> str:
        request_id = str(uuid.uuid4())

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if during is not None:
                during(request_id)
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        async def send(message: Any) -> None:
            pass

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        }
        await self.tracing.serve(app, scope, None, send, request_id, None)
        return request_id


def _ok(t: GatewayTracing, request_id: str, model: str = "gpt-4o") -> None:
    t.on_event(
        request_id,
        name=f"chat {model}",
        attributes={"gen_ai.request.model": model, "gen_ai.operation.name": "chat"},
        success=True,
    )


async def test_span_waits_for_its_event_then_ends_at_the_response_time() -> None:
    h = _Harness()
    rid = await h.request()
    assert h.spans() == ()  # the response is out; LiteLLM's event has not come yet
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.name == "chat gpt-4o" and span.kind is SpanKind.SERVER
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200
    assert span.end_time is not None and span.start_time is not None and span.end_time > span.start_time


async def test_event_before_the_response_ends_the_span_with_the_response() -> None:
    h = _Harness()
    rid = await h.request(during=lambda r: _ok(h.tracing, r))
    (span,) = h.spans()
    assert span.attributes is not None and span.attributes["gateway.request_id"] == rid


async def test_a_fallback_success_supersedes_the_failed_attempt() -> None:
    h = _Harness()

    def attempts(rid: str) -> None:
        h.tracing.on_event(
            rid, name="chat gpt-4o", attributes={"error.type": "RateLimitError"}, success=False
        )

    rid = await h.request(during=attempts)
    assert h.spans() == ()  # 200 with only a failed attempt seen: the success event is still due
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.attributes is not None and "error.type" not in span.attributes
    assert span.status.status_code is not StatusCode.ERROR


async def test_a_span_whose_event_never_comes_still_ends() -> None:
    h = _Harness(grace_s=0)
    await h.request()
    for _ in range(3):
        await asyncio.sleep(0)
    (span,) = h.spans()
    assert span.name == "chat"


async def test_rejection_without_a_logging_event_ends_with_the_response() -> None:
    h = _Harness()

    def reject(rid: str) -> None:
        h.tracing.on_rejection(rid, error_type="invalid_api_key", model="gpt-4o", event_follows=False)

    await h.request(status=401, during=reject)
    (span,) = h.spans()
    assert span.name == "chat gpt-4o"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "invalid_api_key"


async def test_untraced_routes_make_no_span() -> None:
    h = _Harness()
    await h.request(path="/health/liveliness")
    await h.request(path="/v1/models")
    assert h.spans() == ()
    assert h.tracing._pending == {}


async def test_client_traceparent_becomes_a_link_on_a_new_trace() -> None:
    h = _Harness(mode="link")
    rid = await h.request(headers={"traceparent": TRACEPARENT, "authorization": "Bearer sk-client"})
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != CLIENT_TRACE
    assert [format(link.context.trace_id, "032x") for link in span.links] == [CLIENT_TRACE]


async def test_forged_run_token_is_treated_as_a_client() -> None:
    h = _Harness(mode="link", run_token_ok=False)
    rid = await h.request(headers={"traceparent": TRACEPARENT, "authorization": "Bearer gwrun_forged.sig"})
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.parent is None and format(span.context.trace_id, "032x") != CLIENT_TRACE


@pytest.mark.parametrize("auth", ["Bearer gwrun_valid.sig", "bearer  gwrun_valid.sig"])
async def test_valid_run_token_continues_the_run_trace(auth: str) -> None:
    h = _Harness(mode="ignore", run_token_ok=True)
    rid = await h.request(headers={"traceparent": TRACEPARENT, "authorization": auth})
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.parent is not None and format(span.parent.span_id, "016x") == CLIENT_SPAN
    assert format(span.context.trace_id, "032x") == CLIENT_TRACE


async def test_a_run_token_outside_the_authorization_header_is_not_trusted() -> None:
    h = _Harness(mode="ignore", run_token_ok=True)
    rid = await h.request(headers={"traceparent": TRACEPARENT, "x-api-key": "gwrun_valid.sig"})
    _ok(h.tracing, rid)
    (span,) = h.spans()
    assert span.parent is None and format(span.context.trace_id, "032x") != CLIENT_TRACE


async def test_client_context_is_ignored_when_configured_and_garbage_is_dropped() -> None:
    h = _Harness(mode="ignore")
    r1 = await h.request(headers={"traceparent": TRACEPARENT})
    h2 = _Harness(mode="parent")
    r2 = await h2.request(headers={"traceparent": "00-zzzz-not-a-traceparent-01"})
    _ok(h.tracing, r1)
    _ok(h2.tracing, r2)
    for spans in (h.spans(), h2.spans()):
        (span,) = spans
        assert span.parent is None and not span.links


async def test_agent_span_is_a_child_of_the_request_and_parents_its_tools() -> None:
    h = _Harness()
    holder: dict[str, Any] = {}

    def run_agent(_rid: str) -> None:
        agent = h.tracing.start_agent(
            agent="research", run_id="run_1", thread_id="thr_1", depth=1, parent_run_id=None, model="default"
        )
        tool_ok, tool_bad, tool_paused = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        agent.tool_started(tool_ok, "web_search", "call_1")
        agent.tool_ended(tool_ok)
        agent.tool_started(tool_bad, "web_search", "call_2")
        agent.tool_ended(tool_bad, ValueError("no results for 'secret query'"))
        agent.tool_started(tool_paused, "send_email", "call_3")
        agent.tool_ended(tool_paused, interrupted=True)
        holder["headers"] = agent.headers()
        agent.finish({"gateway.agent.outcome": "completed"})

    rid = await h.request(during=run_agent)
    _ok(h.tracing, rid, model="research")
    spans = {s.name: s for s in h.spans()}
    request, agent = spans["chat research"], spans["invoke_agent research"]
    assert agent.parent is not None and agent.parent.span_id == request.context.span_id
    assert agent.context.trace_id == request.context.trace_id
    tools = [s for s in h.spans() if s.name.startswith("execute_tool")]
    assert len(tools) == 3
    assert all(t.parent is not None and t.parent.span_id == agent.context.span_id for t in tools)
    bad = next(
        t for t in tools if t.attributes is not None and t.attributes.get("gen_ai.tool.call.id") == "call_2"
    )
    assert bad.status.status_code is StatusCode.ERROR and bad.status.description == "ValueError"
    assert all("secret query" not in str(t.attributes) + str(t.status.description) for t in tools)
    paused = spans["execute_tool send_email"]
    assert paused.attributes is not None and paused.attributes["gateway.tool.interrupted"] is True
    trace_id, span_id = format(agent.context.trace_id, "032x"), format(agent.context.span_id, "016x")
    assert holder["headers"]["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


async def test_shutdown_ends_spans_still_waiting_for_their_event() -> None:
    h = _Harness()
    await h.request()
    await h.tracing.ashutdown()
    assert len(h.spans()) == 1


async def test_a_sampled_out_request_waits_for_nothing_and_records_nothing() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = GatewayTracing(provider, register_callback=False)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert tracing.operation_of("r1") is None  # the logging callback skips it
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    await tracing.serve(app, scope, None, send, "r1", None)
    assert tracing._pending == {} and exporter.get_finished_spans() == ()


async def test_a_real_graphs_tool_calls_become_execute_tool_spans_of_the_run() -> None:
    from langchain_core.messages import HumanMessage
    from langchain_core.tools import tool

    from agent_routes.agents.react import react_graph
    from agent_routes.runtime.context import ToolTimer
    from tests.agent_routes.graph_fakes import FakeToolCallingModel, Script, call

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return f"found {query}"

    @tool
    def broken(query: str) -> str:
        """Always fails."""
        raise ValueError(f"cannot handle {query}")

    h = _Harness()
    agent = h.tracing.start_agent(
        agent="t", run_id="run_1", thread_id=None, depth=1, parent_run_id=None, model="m"
    )
    model = FakeToolCallingModel(
        script=Script([call("lookup", query="private words"), call("broken", query="x"), "done"])
    )
    graph = react_graph(model=model, tools=[lookup, broken], system_prompt="be brief")
    timer = ToolTimer(spans=agent)
    await graph.ainvoke({"messages": [HumanMessage("hi")]}, {"callbacks": [timer]})
    agent.finish({"gateway.agent.outcome": "completed"})
    tools = sorted(
        (s for s in h.spans() if s.name.startswith("execute_tool")), key=lambda s: s.start_time or 0
    )
    assert [s.name for s in tools] == ["execute_tool lookup", "execute_tool broken"]
    assert all(
        s.parent is not None and s.parent.span_id == agent.span.get_span_context().span_id for s in tools
    )
    assert all(str((s.attributes or {}).get("gen_ai.tool.call.id", "")).startswith("call_") for s in tools)
    assert tools[0].status.status_code is not StatusCode.ERROR
    assert tools[1].status.status_code is StatusCode.ERROR
    assert "private words" not in str([dict(s.attributes or {}) for s in tools])
    assert set(timer.durations) == {"lookup", "broken"}  # the timer still times them
