"""What a graph factory receives, and the approval protocol graphs follow.

Every agent module exports one factory named in ``config.yaml``
(``gateway.agents.registry.<name>.graph``)::

    def build(ctx: AgentContext) -> CompiledStateGraph: ...

Contract for ``build``:

- It is called once per run (and once for the catalog's drawing, where no LLM is called),
  so it must be cheap and free of side effects. Compile with
  ``checkpointer=ctx.checkpointer`` (None = stateless run).
- The graph's state has a ``messages`` key (``MessagesState``-compatible): the runtime
  sends ``{"messages": [...]}`` and answers with the last AI message's text.
- LLM nodes get their model from ``ctx.chat_model()``: a ``ChatOpenAI`` pointed at this
  gateway, authenticated with the run's token, model = ``spec.model`` (the alias in
  config.yaml). ``ctx.chat_model(model="research")`` calls another model or agent the
  spec allows (``models:`` / ``agents:``). Each call re-enters the gateway, so budgets,
  guardrails, routing and the ledger apply, and its usage is summed into the run.
- Tools take their options from ``ctx.tool_settings()[tool_name]``. Use
  ``ToolNode(..., handle_tool_errors=True)`` so a tool exception goes back to the model.
- A tool listed in ``spec.approval_required`` (``ctx.needs_approval(name)``) asks first:
  ``decision = request_approval(action=name, args=args, description="...")``. That calls
  :func:`langgraph.types.interrupt` with an :data:`ApprovalRequest` payload; the run stops,
  the caller is asked, and the graph resumes with an :data:`ApprovalDecision`:
  ``{"decision": "approve"}``, ``{"decision": "reject", "reason": str | None}`` or
  ``{"decision": "edit", "args": {...}}`` (``args`` replaces the proposed arguments).
- Extra progress lines (e.g. "handing off to research") go to streaming clients with
  :func:`emit_step`; tool starts and ends are reported by the runtime already.
- The model whose reply is the agent's answer comes from ``ctx.chat_model(answer=True)``
  (tagged :data:`ANSWER_TAG`): a streaming caller gets its tokens live, as content, while
  it generates. Only calls made by the top-level graph's nodes count; a reply that turns
  into tool calls stops being content at its first tool-call chunk (text before it is the
  model's narration, as in OpenAI's own streams). Models of workers, sub-graphs or other
  helpers stay untagged: their text is never streamed as content. A graph without an
  answer model still streams: its answer is sent when the run ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict
from uuid import UUID

import httpx
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent_routes.runtime.loopback import Loopback
from custom_hooks.core.sections.agents import AgentSpec

__all__ = [
    "ANSWER_TAG",
    "AgentContext",
    "ApprovalDecision",
    "ApprovalRequest",
    "InnerCall",
    "ModelFactory",
    "RunUsage",
    "ToolTimer",
    "emit_step",
    "parse_decision",
    "request_approval",
]

ANSWER_TAG = "gateway:answer"
"""LangChain tag of the chat model whose reply is the agent's answer (streamed live)."""

ModelFactory = Callable[..., BaseChatModel]
"""``factory(model: str, **kw) -> BaseChatModel``: injected by tests instead of ChatOpenAI."""


class ApprovalRequest(TypedDict):
    """The payload a graph passes to ``interrupt()`` before a sensitive action."""

    action: str  # the tool name, e.g. "send_email"
    args: dict[str, Any]  # the arguments it would be called with
    description: str  # one human sentence: what will happen


class ApprovalDecision(TypedDict):
    """The value ``interrupt()`` returns when the caller answers."""

    decision: Literal["approve", "reject", "edit"]
    args: NotRequired[dict[str, Any]]  # "edit": the arguments to use instead
    reason: NotRequired[str | None]  # "reject": why, if the caller said


def parse_decision(value: Any) -> ApprovalDecision:
    """Normalise a resume value (tolerates a bare "approve"/"reject" string)."""
    if isinstance(value, str):
        value = {"decision": value}
    if not isinstance(value, Mapping) or value.get("decision") not in {"approve", "reject", "edit"}:
        return {"decision": "reject", "reason": "unrecognised approval answer"}
    out: ApprovalDecision = {"decision": value["decision"]}
    if value["decision"] == "edit":
        out["args"] = dict(value.get("args") or {})
    if value.get("reason"):
        out["reason"] = str(value["reason"])
    return out


def request_approval(*, action: str, args: Mapping[str, Any], description: str) -> ApprovalDecision:
    """Pause the graph until a human approves, rejects or edits ``action(args)``.

    Must be called inside a graph node or tool (it uses ``langgraph.types.interrupt``), in a
    graph compiled with a checkpointer. Code before this call runs again on resume, so
    keep side effects after it.
    """
    from langgraph.types import interrupt

    payload: ApprovalRequest = {"action": action, "args": dict(args), "description": description}
    return parse_decision(interrupt(payload))


def emit_step(text: str) -> None:
    """Report a progress line to a streaming caller (shown as reasoning, not as content).

    A no-op outside a running graph or when the caller switched steps off.
    """
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()({"gateway_step": text})
    except (RuntimeError, KeyError):
        pass


@dataclass
class InnerCall:
    """One LLM call the run made through the gateway."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # from the gateway's response header, when it sent one
    deployment_id: str | None = None


@dataclass
class RunUsage(BaseCallbackHandler):
    """Collects every inner call's usage and cost (attached to the run's chat models)."""

    run_inline = True  # record in the event loop, not a thread pool

    calls: list[InnerCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for gens in response.generations:
            for gen in gens[:1]:
                self._record(gen, response.llm_output or {})

    def _record(self, gen: Any, llm_output: Mapping[str, Any]) -> None:
        msg = getattr(gen, "message", None)
        meta: Mapping[str, Any] = getattr(msg, "response_metadata", None) or {}
        usage = getattr(msg, "usage_metadata", None) or {}
        headers = {str(k).lower(): v for k, v in (meta.get("headers") or {}).items()}
        cost: float | None = None
        for name in ("x-gateway-agent-cost", "x-litellm-response-cost"):
            if headers.get(name) not in (None, "", "None"):
                try:
                    cost = float(headers[name])
                except ValueError:
                    cost = None
                break
        call = InnerCall(
            model=str(meta.get("model_name") or llm_output.get("model_name") or ""),
            prompt_tokens=int(usage.get("input_tokens") or 0),
            completion_tokens=int(usage.get("output_tokens") or 0),
            cost=cost,
            deployment_id=headers.get("x-litellm-model-id"),
        )
        with self._lock:
            self.calls.append(call)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)


@dataclass(eq=False)  # hashable: LangChain keeps handlers in sets
class ToolTimer(BaseCallbackHandler):
    """How long each tool call took, per tool name (attached to the run's graph config).

    A tool that pauses for an approval is not timed (it runs again on resume). Each tool
    keeps its first :attr:`limit` durations, so a long run's record stays small.
    """

    run_inline = True

    limit: int = 50
    durations: dict[str, list[float]] = field(default_factory=dict)
    spans: Any = None  # the run's AgentSpan when tracing is on: one execute_tool span per call
    _started: dict[UUID, tuple[str, float]] = field(default_factory=dict, repr=False)

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        self._started[run_id] = (name, time.monotonic())
        if self.spans is not None:
            self.spans.tool_started(run_id, name, kwargs.get("tool_call_id"))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._stop(run_id)
        if self.spans is not None:
            self.spans.tool_ended(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        from langgraph.errors import GraphBubbleUp

        interrupted = isinstance(error, GraphBubbleUp)
        if interrupted:  # an interrupt (approval), not a finished call
            self._started.pop(run_id, None)
        else:
            self._stop(run_id)
        if self.spans is not None:
            self.spans.tool_ended(run_id, error, interrupted=interrupted)

    def _stop(self, run_id: UUID) -> None:
        started = self._started.pop(run_id, None)
        if started is None:
            return
        name, t0 = started
        took = self.durations.setdefault(name, [])
        if len(took) < self.limit:
            took.append(round(time.monotonic() - t0, 4))


_TEMPLATES: dict[tuple[Any, ...], Any] = {}
"""(model, base_url, options) -> a ChatOpenAI never called itself: runs copy it."""


def _chat_openai(
    model: str,
    base_url: str,
    api_key: str,
    *,
    callbacks: list[Any],
    tags: list[str] | None,
    kw: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    http_client: Any | None = None,
) -> BaseChatModel:
    """``ChatOpenAI(model=..., base_url=..., api_key=..., **kw)``, built cheaply.

    Validating a ChatOpenAI (environment, socket options, two OpenAI clients) costs more
    than the rest of a run's set-up, so one template per model and options is built once
    (with no key) and each run takes a copy whose OpenAI clients carry the run's token
    (``with_options``: same connection pool, other key). Options that can't be a cache
    key (e.g. a dict) get a fresh ChatOpenAI. ``headers`` (the run's trace context) go
    on every request the copy sends; ``http_client`` (the in-process client) carries its
    async requests.
    """
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    def build(key_value: str, **extra: Any) -> Any:
        return ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=key_value,  # type: ignore[arg-type]
            include_response_headers=True,
            **({"http_async_client": http_client} if http_client is not None else {}),
            **extra,
            **kw,
        )

    try:
        key: tuple[Any, ...] = (model, base_url, id(http_client), *sorted(kw.items()))
        hash(key)
    except TypeError:
        if headers:
            kw = {**kw, "default_headers": {**(kw.get("default_headers") or {}), **headers}}
        return build(api_key, callbacks=callbacks, tags=tags)  # type: ignore[no-any-return]
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) >= 256:
            _TEMPLATES.clear()
        template = _TEMPLATES[key] = build("unset")
    update: dict[str, Any] = {"openai_api_key": SecretStr(api_key), "callbacks": callbacks, "tags": tags}
    for name, value in vars(template).items():  # metadata, model_kwargs, ...: each run its own
        if isinstance(value, dict | list) and name not in update:
            update[name] = value.copy()
    extra = {"default_headers": dict(headers)} if headers else {}
    if template.root_client is not None:
        update["root_client"] = template.root_client.with_options(api_key=api_key, **extra)
        update["client"] = update["root_client"].chat.completions
    update["root_async_client"] = template.root_async_client.with_options(api_key=api_key, **extra)
    update["async_client"] = update["root_async_client"].chat.completions
    return template.model_copy(update=update)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AgentContext:
    """What ``build(ctx)`` gets: the agent's name, its config, and how to call models.

    ``base_url``/``api_key`` are filled by the runtime for a real run (the gateway's
    ``/v1`` and the run token); ``model_factory`` replaces ChatOpenAI in unit tests::

        ctx = AgentContext(name="t", spec=spec, model_factory=lambda model, **kw: fake)
    """

    name: str
    spec: AgentSpec
    checkpointer: BaseCheckpointSaver[Any] | None = None
    base_url: str = "http://127.0.0.1:4000/v1"
    api_key: str = "unset"
    model_factory: ModelFactory | None = None
    usage: RunUsage = field(default_factory=RunUsage)
    request_timeout_s: float | None = None
    headers: Mapping[str, str] | None = None  # sent on every inner call (the run's traceparent)
    loopback: Loopback | None = None  # inner calls in-process (:mod:`.loopback`); None: HTTP to base_url

    def chat_model(self, *, model: str | None = None, answer: bool = False, **kw: Any) -> BaseChatModel:
        """A chat model for this run; ``model`` defaults to ``spec.model``.

        ``answer=True`` marks the model whose reply is the agent's answer (streamed to the
        caller token by token). Extra keyword arguments go to ``ChatOpenAI`` (e.g.
        ``temperature=0``).
        """
        name = model or self.spec.model
        callbacks = [*(kw.pop("callbacks", None) or []), self.usage]
        tags = list(kw.pop("tags", None) or [])
        if answer:
            tags.append(ANSWER_TAG)
        if self.model_factory is not None:
            built = self.model_factory(name, callbacks=callbacks, **kw)
            if tags:
                built.tags = [*(built.tags or []), *tags]
            return built
        kw.setdefault("max_retries", 0)  # the gateway retries and falls back; don't repeat it
        kw.setdefault("stream_usage", True)
        if self.request_timeout_s is not None:
            kw.setdefault("timeout", self.request_timeout_s)
        return _chat_openai(
            name,
            self.base_url,
            self.api_key,
            callbacks=callbacks,
            tags=tags or None,
            kw=kw,
            headers=self.headers,
            http_client=self.loopback.client if self.loopback is not None else None,
        )

    def gateway_client(self, **kw: Any) -> httpx.AsyncClient:
        """An ``httpx`` client to the gateway as this run (its token, its trace headers), for
        calls a chat model doesn't make (embeddings, the model list); close it when done.

        Served in-process like the chat models' calls when the gateway serves inner calls so.
        Paths are relative to ``base_url`` (``client.post("embeddings", json=...)``)::

            async with ctx.gateway_client(timeout=30) as gw:
                r = await gw.post("embeddings", json={"model": "text-embedding-3-small", "input": text})
        """
        headers = {"Authorization": f"Bearer {self.api_key}", **(self.headers or {})}
        transport = self.loopback.transport if self.loopback is not None else None
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, transport=transport, **kw)

    def tool_settings(self) -> Mapping[str, Any]:
        """``spec.tools``: tool name -> its options from config.yaml."""
        return self.spec.tools

    def needs_approval(self, tool_name: str) -> bool:
        """Whether ``tool_name`` is in ``spec.approval_required``."""
        return tool_name in self.spec.approval_required
