"""OpenTelemetry traces: one span per model request, agent run and tool call.

Off unless the standard variables ask for it (:func:`tracing_requested`):
``OTEL_TRACES_EXPORTER=otlp``, or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``OTEL_TRACES_EXPORTER`` unset. Off means no tracer
provider, no callback registered with LiteLLM and no per-request work: the request-id
middleware holds ``None`` and calls the app as before. On, spans go over OTLP/HTTP
(protobuf) through a ``BatchSpanProcessor``; the exporter reads the other ``OTEL_*``
variables itself (headers, timeout, compression), ``OTEL_SERVICE_NAME`` names the service.

Where spans come from:

- the request-id middleware starts a SERVER span for each model route (chat completions,
  completions, responses, messages, embeddings, the agent resume route) and makes it the
  current span while the request runs; LiteLLM's success/failure event for the request
  (:mod:`custom_hooks.tracing`) gives it its GenAI name and attributes. The span ends at
  the time the response finished, once the event has arrived (or after
  :attr:`GatewayTracing.grace_s` without one);
- an agent run is an ``invoke_agent {agent}`` child of its request's span
  (:meth:`GatewayTracing.start_agent`); each tool call is an ``execute_tool {tool}`` child
  of the run; the run's inner LLM calls carry the run span as W3C ``traceparent``, so the
  gateway's spans for them are children too: one trace per run across the loopback.

Whose trace context is continued (``gateway.observability.tracing.client_trace_context``):
an incoming ``traceparent`` becomes the parent only when the request carries a valid run
token (the gateway's own inner calls). Any other caller's context is, by default, only a
*link* on a new trace (``link``): a client can find its gateway span but cannot place
spans in another run's trace. ``parent`` trusts every caller (a closed mesh whose
clients trace too); ``ignore`` drops client context altogether.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.observability.tracing_attrs import (
    RESUME,
    AttributeValue,
    ContentPolicy,
    agent_start_attributes,
    operation_for_path,
    span_name,
    tool_attributes,
)

__all__ = [
    "STEP",
    "TRACING",
    "AgentSpan",
    "ClientTraceContext",
    "GatewayTracing",
    "active",
    "server_tracing",
    "tracing_requested",
    "trust_decision",
]

log = logging.getLogger("gateway.tracing")

ClientTraceContext = Literal["link", "parent", "ignore"]
Trust = Literal["parent", "link", "none"]

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACEPARENT, _TRACESTATE, _AUTH = b"traceparent", b"tracestate", b"authorization"
_RUN_TOKEN_PREFIX = "gwrun_"
_PENDING_MAX = 10_000


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the standard ``OTEL_*`` variables ask for exported traces.

    ``OTEL_SDK_DISABLED=true`` or an ``OTEL_TRACES_EXPORTER`` without ``otlp`` (e.g.
    ``none``) switch tracing off; ``OTEL_TRACES_EXPORTER=otlp`` switches it on (default
    endpoint ``http://localhost:4318/v1/traces``); with the exporter unset, an OTLP
    endpoint variable does.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if exporters:
        return "otlp" in exporters
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def trust_decision(*, has_traceparent: bool, run_token: bool, mode: ClientTraceContext) -> Trust:
    """How an incoming ``traceparent`` is used: as the parent, as a link, or not at all.

    ``run_token``: the request carries a correctly signed, unexpired run token (the
    gateway's own agent runtime calling back). Everyone else gets ``mode``.
    """
    if not has_traceparent:
        return "none"
    if run_token or mode == "parent":
        return "parent"
    return "link" if mode == "link" else "none"


def _valid_run_token(bearer: str) -> bool:
    from custom_hooks.auth.run_tokens import get_run_tokens

    try:
        return get_run_tokens().decode(bearer) is not None
    except (ValueError, OSError):  # no signing secret in this process
        return False


@dataclass
class _Pending:
    """A request span waiting for its response to finish and its logging event."""

    span: trace.Span
    operation: str
    expects_event: bool = True
    status: int | None = None
    ended_ns: int | None = None
    seen_event: bool = False
    seen_success: bool = False
    name: str | None = None
    attrs: dict[str, AttributeValue] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class GatewayTracing:
    """The gateway's tracer: request spans (pending until their event), agent and tool spans.

    Built by :func:`server_tracing` from the environment; tests build one over their own
    ``TracerProvider`` (e.g. with an in-memory exporter)::

        tracing = GatewayTracing(provider, mode="link")
    """

    def __init__(
        self,
        provider: TracerProvider,
        *,
        mode: ClientTraceContext = "link",
        policy: ContentPolicy | None = None,
        grace_s: float = 10.0,
        is_run_token: Any = _valid_run_token,
        register_callback: bool = True,
    ) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("managed-agent-gateway")
        self.mode = mode
        self.policy = policy or ContentPolicy()
        self.grace_s = grace_s
        self._is_run_token = is_run_token
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._callback_added = not register_callback  # tests without LiteLLM pass False

    # -- request spans ----------------------------------------------------------------
    def _parent(self, headers: list[tuple[bytes, bytes]]) -> tuple[otel_context.Context, list[Link]]:
        traceparent = tracestate = bearer = None
        for name, value in headers:
            if name == _TRACEPARENT:
                traceparent = value.decode("latin-1")
            elif name == _TRACESTATE:
                tracestate = value.decode("latin-1")
            elif name == _AUTH:
                scheme, _, credential = value.decode("latin-1").strip().partition(" ")
                bearer = credential.strip() if scheme.lower() == "bearer" else None
        run_token = bool(traceparent and bearer and bearer.startswith(_RUN_TOKEN_PREFIX))
        trust = trust_decision(
            has_traceparent=traceparent is not None,
            run_token=run_token and self._is_run_token(bearer),
            mode=self.mode,
        )
        root = otel_context.Context()
        if trust == "none" or traceparent is None:
            return root, []
        carrier = {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
        extracted = _PROPAGATOR.extract(carrier, context=root)
        remote = trace.get_current_span(extracted).get_span_context()
        if not remote.is_valid:
            return root, []
        if trust == "parent":
            return extracted, []
        return root, [Link(remote, {"gateway.link": "client_trace_context"})]

    def start_request(
        self, scope: Mapping[str, Any], request_id: str, client_id: str | None
    ) -> _Pending | None:
        """Start the SERVER span of a model request (None: not a model route)."""
        method, path = str(scope.get("method") or ""), str(scope.get("path") or "")
        op = operation_for_path(method, path)
        if op is None:
            return None
        self._ensure_callback()
        parent, links = self._parent(list(scope.get("headers") or []))
        attrs: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.path": path,
            "gateway.request_id": request_id,
        }
        if op != RESUME:
            attrs["gen_ai.operation.name"] = op
        if client_id:
            attrs["gateway.client_request_id"] = client_id
        span = self.tracer.start_span(
            span_name(op, None), context=parent, kind=SpanKind.SERVER, attributes=attrs, links=links
        )
        # A span the sampler dropped records nothing: it still carries the trace context
        # (an agent run's children), but waits for no event and builds no attributes.
        pending = _Pending(span, op, expects_event=op != RESUME and span.is_recording())
        self._pending[request_id] = pending
        while len(self._pending) > _PENDING_MAX:
            self._finish(next(iter(self._pending)))
        return pending

    async def serve(
        self, app: Any, scope: Any, receive: Any, send: Any, request_id: str, client_id: str | None
    ) -> None:
        """Run ``app`` for one HTTP request inside its span (untraced routes: just run it)."""
        pending = self.start_request(scope, request_id, client_id)
        if pending is None:
            await app(scope, receive, send)
            return

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                pending.status = int(message["status"])
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(pending.span))
        try:
            await app(scope, receive, send_status)
        except BaseException as exc:
            pending.attrs.setdefault("error.type", type(exc).__name__)
            raise
        finally:
            otel_context.detach(token)
            self.response_done(request_id)

    def response_done(self, request_id: str) -> None:
        """The response was sent: end the span now if its event is in, else soon."""
        p = self._pending.get(request_id)
        if p is None:
            return
        p.ended_ns = time.time_ns()
        failed = (p.status or 500) >= 400
        if not p.expects_event or p.seen_success or (p.seen_event and failed):
            self._finish(request_id)
            return
        with contextlib.suppress(RuntimeError):  # no running loop (unit use): end now
            p.timer = asyncio.get_running_loop().call_later(self.grace_s, self._finish, request_id)
            return
        self._finish(request_id)

    def operation_of(self, request_id: str | None) -> str | None:
        """The operation of a request whose span is still open (None: not traced here)."""
        p = self._pending.get(request_id or "")
        return p.operation if p is not None and p.expects_event else None

    def on_event(
        self, request_id: str, *, name: str, attributes: Mapping[str, AttributeValue], success: bool
    ) -> None:
        """LiteLLM's logging event for the request: its name and GenAI attributes.

        A failed attempt that a fallback then served is superseded by the success, so the
        span never keeps the failed attempt's ``error.type``.
        """
        p = self._pending.get(request_id)
        if p is None:
            return
        if success or not p.seen_success:
            p.name, p.attrs = name, dict(attributes)
        p.seen_event = True
        p.seen_success = p.seen_success or success
        if p.ended_ns is not None and (success or (p.status or 500) >= 400):
            self._finish(request_id)

    def on_rejection(
        self, request_id: str | None, *, error_type: str, model: str | None, event_follows: bool
    ) -> None:
        """A refused request (LiteLLM's failure hook); ``event_follows``: a logging event comes too."""
        p = self._pending.get(request_id or "")
        if p is None or p.seen_event:
            return
        p.attrs["error.type"] = error_type
        if model and p.operation != RESUME:
            p.attrs.setdefault("gen_ai.request.model", model)
            p.name = span_name(p.operation, model)
        p.seen_event = not event_follows

    def _finish(self, request_id: str) -> None:
        p = self._pending.pop(request_id, None)
        if p is None:
            return
        if p.timer is not None:
            p.timer.cancel()
        span = p.span
        if p.name:
            span.update_name(p.name)
        if p.status is not None:
            p.attrs["http.response.status_code"] = p.status
            if p.status >= 400:
                p.attrs.setdefault("error.type", str(p.status))
        if p.attrs:
            span.set_attributes(p.attrs)
        error = p.attrs.get("error.type")
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end(end_time=p.ended_ns)

    def _ensure_callback(self) -> None:
        """Register the logging callback with LiteLLM (after it loaded config.yaml's)."""
        if self._callback_added:
            return
        import litellm

        from custom_hooks.observability.tracing_logger import tracing

        litellm.logging_callback_manager.add_litellm_callback(tracing)
        self._callback_added = True

    # -- agent runs -------------------------------------------------------------------
    def start_agent(self, **attrs: Any) -> AgentSpan:
        """An ``invoke_agent {agent}`` span, child of the current (request) span."""
        agent = str(attrs["agent"])
        span = self.tracer.start_span(
            f"invoke_agent {agent}", kind=SpanKind.INTERNAL, attributes=agent_start_attributes(**attrs)
        )
        return AgentSpan(self.tracer, span)

    async def ashutdown(self) -> None:
        """Flush what is queued and stop the exporter (at gateway shutdown)."""
        for request_id in list(self._pending):
            self._finish(request_id)
        await asyncio.to_thread(self.provider.shutdown)


class AgentSpan:
    """One run's ``invoke_agent`` span and its ``execute_tool`` children.

    :meth:`headers` is the W3C trace context the run's inner LLM calls send, so the
    gateway's spans for them join this trace as children of the run.
    """

    def __init__(self, tracer: trace.Tracer, span: trace.Span) -> None:
        self._tracer = tracer
        self.span = span
        self._ctx = trace.set_span_in_context(span, otel_context.Context())
        self._tools: dict[UUID, trace.Span] = {}

    def headers(self) -> dict[str, str]:
        """``{"traceparent": ...}`` (and ``tracestate``) naming this run's span."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=self._ctx)
        return carrier

    def tool_started(self, run_id: UUID, name: str, call_id: str | None) -> None:
        self._tools[run_id] = self._tracer.start_span(
            f"execute_tool {name}",
            context=self._ctx,
            kind=SpanKind.INTERNAL,
            attributes=tool_attributes(name, call_id),
        )

    def tool_ended(
        self, run_id: UUID, error: BaseException | None = None, *, interrupted: bool = False
    ) -> None:
        span = self._tools.pop(run_id, None)
        if span is None:
            return
        if interrupted:  # paused for a human approval: it runs again on resume
            span.set_attribute("gateway.tool.interrupted", True)
        elif error is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def finish(self, attributes: Mapping[str, AttributeValue]) -> None:
        """End the run's span (and any tool span the run left open)."""
        for run_id in list(self._tools):
            self.tool_ended(run_id, interrupted=True)
        self.span.set_attributes(dict(attributes))
        error = attributes.get("error.type")
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, str(error)))
        self.span.end()


# Filled by the composition root when it builds the services (None: tracing is off).
TRACING: Slot[GatewayTracing] = Slot("tracing", "the tracer")


def active() -> GatewayTracing | None:
    """The process's tracer when tracing is on, else None (:class:`GatewayStarting` before the
    composition root decided)."""
    return services().optional(TRACING)


def _resource(environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import Resource

    attrs: dict[str, str] = {}
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not named:
        attrs["service.name"] = "agent-gateway"
    return Resource.create(attrs)


def _options() -> tuple[ClientTraceContext, ContentPolicy]:
    cfg = services().config.gateway.observability.tracing
    return cfg.client_trace_context, ContentPolicy(cfg.include_content, cfg.include_key_hash)


def _from_env(environ: Mapping[str, str]) -> GatewayTracing | None:
    if not tracing_requested(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/protobuf":
        log.warning("tracing: OTLP protocol %r is not supported; exporting over http/protobuf", protocol)
    provider = TracerProvider(resource=_resource(environ))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    mode, policy = _options()
    tracing = GatewayTracing(provider, mode=mode, policy=policy)
    log.info("tracing on: OTLP/HTTP, client trace context: %s", mode)
    return tracing


def server_tracing(environ: Mapping[str, str] | None = None) -> GatewayTracing | None:
    """A tracer set up from the environment (None when tracing is off); the root provides it."""
    return _from_env(os.environ if environ is None else environ)


async def _stop(svc: Services) -> None:
    tracing = svc.take(TRACING)
    if tracing is not None:
        await tracing.ashutdown()


async def _started_by_the_root(_svc: Services) -> None:
    return None  # the tracer is built with the services, before LiteLLM's app stack


STEP = Step("tracing", _started_by_the_root, _stop)
