"""One agent run: identity, run token, thread, graph, limits, usage, and what is reported.

The provider (:mod:`agent_routes.provider`) hands each chat completion for an agent
model to :class:`AgentRun`; the mounted resume route uses it too. A run:

1. reads the caller from LiteLLM's request metadata (``user_api_key_metadata.
   gateway_identity``, set by custom auth) and refuses a nested run past
   ``gateway.agents.max_depth``;
2. picks its thread: ``metadata.thread_id`` (or header ``x-thread-id``) on an agent with
   memory continues that persisted thread; otherwise the run gets a private thread that is
   deleted when the run completes (kept only while an approval is pending). A new private
   thread lives in a per-run in-memory saver and reaches the store only if the run pauses;
3. issues a run token (scoped to the agent's model aliases, revoked at the end) and
   compiles the graph with a :class:`AgentContext` whose chat models call this gateway;
4. runs the graph under the step limit and the timeout, collecting progress lines and every
   inner call's usage and cost;
5. writes ``metadata["gateway"]["agent_run"]`` for the ledger, metrics and headers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from agent_routes.runtime.adapter import (
    AnswerStream,
    approval_message,
    final_answer,
    new_turn,
    parse_approval_reply,
    pending_interrupt,
    step_lines,
    text_of,
    to_graph_messages,
)
from agent_routes.runtime.context import (
    AgentContext,
    ApprovalDecision,
    InnerCall,
    ModelFactory,
    RunUsage,
    ToolTimer,
)
from agent_routes.runtime.errors import (
    AgentDepthLimit,
    AgentNotFound,
    AgentStepLimit,
    AgentTimeout,
    ThreadNotFound,
    from_inner_status_error,
)
from agent_routes.runtime.loopback import Loopback
from agent_routes.runtime.registry import build_graph
from agent_routes.runtime.structured import Format, structure_answer
from agent_routes.runtime.thread_leases import Lease, take_turn
from agent_routes.runtime.threads import Owner, ThreadStore
from custom_hooks.auth.run_tokens import RunTokens
from custom_hooks.core.errors import BadRequest, GatewayError
from custom_hooks.core.record import identity_from_metadata
from custom_hooks.core.sections.agents import AgentsConfig, AgentSpec

__all__ = ["AgentRun", "Caller", "RunOutcome", "caller_from_metadata"]

log = logging.getLogger("gateway.agents.run")


@dataclass(frozen=True)
class Caller:
    """Who started the run, as custom auth resolved them."""

    key_hash: str
    team_id: str | None = None
    parent_run: Mapping[str, Any] | None = None
    is_admin: bool = False

    @property
    def depth(self) -> int:
        return int((self.parent_run or {}).get("depth") or 0)

    def owner(self) -> Owner:
        return Owner(key_hash=self.key_hash, team_id=self.team_id, is_admin=self.is_admin)


def caller_from_metadata(md: dict[str, Any]) -> Caller:
    """The caller from LiteLLM's request metadata (``kwargs["litellm_params"]["metadata"]``)."""
    ident = identity_from_metadata(md)
    key_hash = (
        (ident.key_hash if ident else None)
        or md.get("user_api_key_hash")
        or md.get("user_api_key")
        or "anonymous"
    )
    team_id = (ident.team_id if ident else None) or md.get("user_api_key_team_id")
    run = ident.run if ident else None
    return Caller(key_hash=str(key_hash), team_id=team_id, parent_run=run.to_dict() if run else None)


@dataclass
class RunOutcome:
    """What a finished (or paused) run produced."""

    content: str
    outcome: str  # "completed" | "interrupted" | "awaiting_approval"
    interrupt_id: str | None = None
    interrupt: Mapping[str, Any] | None = None


def _price_cost(call: InnerCall) -> float:
    """An inner call's cost from its deployment's model_info prices (no header sent)."""
    if not call.deployment_id:
        return 0.0
    try:
        from litellm.proxy.proxy_server import llm_router

        dep = llm_router.get_deployment(model_id=call.deployment_id) if llm_router is not None else None
    except Exception:  # no router in this process (unit use)
        return 0.0
    info = dict(getattr(dep, "model_info", None) or {}) if dep is not None else {}
    params = getattr(dep, "litellm_params", None)
    inp = info.get("input_cost_per_token") or getattr(params, "input_cost_per_token", None) or 0.0
    out = info.get("output_cost_per_token") or getattr(params, "output_cost_per_token", None) or 0.0
    return float(inp) * call.prompt_tokens + float(out) * call.completion_tokens


@dataclass
class AgentRun:
    """One run of ``agent`` for ``caller`` (create, then iterate :meth:`events`)."""

    agent: str
    spec: AgentSpec
    agents: AgentsConfig
    caller: Caller
    messages: list[Mapping[str, Any]]
    store: ThreadStore
    tokens: RunTokens
    base_url: str
    parent_request_id: str
    requested_thread: str | None = None
    resume: ApprovalDecision | None = None  # from the resume route: skip parsing messages
    report: dict[str, Any] = field(default_factory=dict)  # -> metadata["gateway"]["agent_run"]
    model_factory: ModelFactory | None = None  # tests: fake chat models instead of ChatOpenAI
    loopback: Loopback | None = None  # inner calls served in-process (None: HTTP to base_url)
    output_format: Format | None = None  # response_format: the answer is restated as validated JSON
    run_id: str = field(default_factory=lambda: f"run_{uuid.uuid4().hex}")
    usage: RunUsage = field(default_factory=RunUsage)
    tool_timer: ToolTimer = field(default_factory=ToolTimer)

    def __post_init__(self) -> None:
        # A thread the caller names is always used (an approval may be pending on it); it
        # outlives the run only when the agent keeps memory.
        self.persistent = bool(self.requested_thread and self.spec.memory)
        self.thread_id = self.requested_thread or f"thr_{uuid.uuid4().hex}"
        # A fresh private thread runs on a saver of its own: the store sees it only if the
        # run pauses for an approval (then it is copied there, see ThreadStore.adopt).
        self._scratch: BaseCheckpointSaver[Any] | None = None
        if self.requested_thread is None:
            self._scratch = InMemorySaver()
        self._kept = False
        self.depth = self.caller.depth + 1
        self._started = time.monotonic()
        self._tool_calls: Counter[str] = Counter()
        self._steps = 0
        self.report.update(
            {
                "agent": self.agent,
                "run_id": self.run_id,
                "thread_id": self.thread_id,
                "depth": self.depth,
                "parent_run_id": (self.caller.parent_run or {}).get("run_id"),
                "outcome": "running",
            }
        )

    # -- reporting --------------------------------------------------------------------
    @property
    def cost(self) -> float:
        return sum(c.cost if c.cost is not None else _price_cost(c) for c in self.usage.calls)

    def _finish_report(self, outcome: str, **extra: Any) -> None:
        self.report.update(
            {
                "outcome": outcome,
                "duration_s": round(time.monotonic() - self._started, 4),
                "inner_calls": len(self.usage.calls),
                "tool_calls": dict(self._tool_calls),
                "tool_durations_s": {k: list(v) for k, v in self.tool_timer.durations.items()},
                "steps": self._steps,
                "cost": self.cost,
                "usage": {
                    "prompt_tokens": self.usage.prompt_tokens,
                    "completion_tokens": self.usage.completion_tokens,
                    "total_tokens": self.usage.prompt_tokens + self.usage.completion_tokens,
                },
                **extra,
            }
        )

    # -- setup ------------------------------------------------------------------------
    async def _claim_thread(self) -> Lease | None:
        """Own the named thread (atomic claim), then take its turn lease (multitask policy)."""
        if self._scratch is not None:
            return None  # a private thread no other run can name; claimed by adopt() if it pauses
        who = self.caller.owner()
        rec = await self.store.claim(self.thread_id, self.agent, who, persistent=self.persistent)
        if not rec.visible_to(who, self.store.scope):
            raise ThreadNotFound(f"Thread '{self.thread_id}' not found.", param="metadata.thread_id")
        if rec.agent != self.agent:
            raise BadRequest(
                f"Thread '{self.thread_id}' belongs to agent '{rec.agent}'; call that model, "
                "or start a new thread.",
                param="metadata.thread_id",
                code="thread_agent_mismatch",
            )
        return await take_turn(
            self.store.leases,
            self.thread_id,
            self.run_id,
            multitask=self.spec.multitask,
            wait_s=self.spec.enqueue_timeout_s,
            ttl_s=self.agents.thread_lease_ttl_s,
        )

    def _check_depth(self) -> None:
        if self.depth > self.agents.max_depth:
            raise AgentDepthLimit(
                f"Agent '{self.agent}' was called from inside an agent run {self.caller.depth} levels deep; "
                f"the limit is {self.agents.max_depth} (gateway.agents.max_depth). "
                "Check the agents for a loop."
            )

    async def _graph_input(self, graph: Any, config: dict[str, Any]) -> tuple[Any, RunOutcome | None]:
        snapshot = await graph.aget_state(config)
        pending = pending_interrupt(snapshot)
        if pending is not None:
            interrupt_id, payload = pending
            decision = self.resume
            if decision is None:
                turn = new_turn(self.messages)
                last_user = next((m for m in reversed(turn) if m.get("role") == "user"), None)
                decision = parse_approval_reply(text_of(last_user.get("content"))) if last_user else None
            if decision is None:
                text = approval_message(payload, thread_id=self.thread_id, interrupt_id=interrupt_id)
                return None, RunOutcome(
                    "An action is still waiting for your decision.\n\n" + text,
                    "awaiting_approval",
                    interrupt_id=interrupt_id,
                    interrupt=payload,
                )
            return Command(resume={interrupt_id: dict(decision)}), None
        if self.resume is not None:
            raise BadRequest(
                f"Thread '{self.thread_id}' has no pending approval.", code="no_pending_approval"
            )
        has_history = bool((getattr(snapshot, "values", None) or {}).get("messages"))
        sent = new_turn(self.messages) if has_history else list(self.messages)
        if not sent:
            raise BadRequest("Send at least one new user message.", param="messages")
        return {"messages": to_graph_messages(sent)}, None

    # -- the run ----------------------------------------------------------------------
    async def events(self, live_answer: bool = False) -> AsyncIterator[tuple[str, Any]]:
        """Yield ``("step", line)`` while running, then ``("done", RunOutcome)``.

        With ``live_answer`` (streaming callers) it also yields ``("answer", text)``: the
        answer's tokens as the answering model generates them, then the rest of the final
        answer (see :class:`AnswerStream`); the ``"answer"`` texts concatenated are the
        content to send, and ``outcome.content`` is then not sent again.
        Raises a :class:`GatewayError` (step limit, timeout, depth, thread, inner call).
        """
        import openai

        token: str | None = None
        outcome: RunOutcome | None = None
        answer = AnswerStream()
        resumed = False
        span = self._trace_start()  # None unless tracing is on
        lease: Lease | None = None
        try:
            self._check_depth()
            lease = await self._claim_thread()
            token = await self.tokens.aissue(
                key_hash=self.caller.key_hash,
                run_id=self.run_id,
                parent_request_id=self.parent_request_id,
                agent=self.agent,
                allowed_models=self.spec.allowed_models(),
                depth=self.depth,
                ttl_s=min(self.agents.run_token_ttl_s, self.spec.timeout_s + 30.0),
            )
            ctx = AgentContext(
                name=self.agent,
                spec=self.spec,
                checkpointer=self._scratch or self.store.checkpointer,
                base_url=self.base_url,
                api_key=token,
                usage=self.usage,
                request_timeout_s=self.spec.timeout_s,
                model_factory=self.model_factory,
                headers=span.headers() if span is not None else None,
                loopback=self.loopback,
            )
            graph = build_graph(self.agent, ctx)
            config: dict[str, Any] = {
                "configurable": {"thread_id": self.thread_id},
                "recursion_limit": self.spec.step_limit,
                "callbacks": [self.tool_timer],
            }
            graph_input, early = await self._graph_input(graph, config)
            resumed = isinstance(graph_input, Command)
            if early is not None:
                outcome = early
            else:
                # "messages" makes the chat models stream (usage still comes, stream_usage=True)
                modes = ["updates", "custom", "messages"] if live_answer else ["updates", "custom"]
                async with asyncio.timeout(self.spec.timeout_s):
                    async for mode, chunk in graph.astream(graph_input, config, stream_mode=modes):
                        if mode == "messages":
                            text = answer.feed(*chunk)
                            if text:
                                yield "answer", text
                            continue
                        for line in self._on_chunk(mode, chunk):
                            yield "step", line
                outcome = await self._outcome(graph, config)
                if self.output_format is not None and outcome.outcome == "completed":
                    question = text_of((new_turn(self.messages) or [{}])[-1].get("content"))
                    outcome.content = await structure_answer(
                        ctx.chat_model(), self.output_format, question, outcome.content
                    )
                if outcome.interrupt_id is not None and self._scratch is not None:
                    await self.store.adopt(self.thread_id, self.agent, self.caller.owner(), self._scratch)
                    self._kept = True
        except GraphRecursionError:
            self._finish_report("step_limit")
            raise AgentStepLimit(
                f"Agent '{self.agent}' reached its step limit ({self.spec.step_limit} steps) without "
                "finishing. Ask a narrower question, or raise step_limit in config.yaml."
            ) from None
        except TimeoutError:
            self._finish_report("timeout")
            raise AgentTimeout(
                f"Agent '{self.agent}' did not finish within {self.spec.timeout_s:g} s. The work done so far "
                "is billed; ask a narrower question, or raise timeout_s in config.yaml."
            ) from None
        except openai.APIStatusError as exc:
            self._finish_report("error")
            raise from_inner_status_error(exc) from None
        except GatewayError:
            self._finish_report("error")
            raise
        finally:
            if span is not None:
                self._trace_end(span, outcome, sys.exc_info()[1])
            if token is not None:
                await self.tokens.arevoke(self.run_id)
            if self._scratch is not None and not self._kept:
                pass  # nothing of this run's thread reached the store
            elif self._scratch is None and lease is None:
                pass  # not this caller's thread, or another turn holds it: leave it alone
            elif not self.persistent and (outcome is None or outcome.interrupt_id is None):
                try:
                    await self.store.delete(self.thread_id)
                except Exception:  # cleanup must not mask the run's own result
                    log.exception("deleting private thread %s failed", self.thread_id)
            elif outcome is not None or resumed:  # a failed resumed run used up its approval
                try:
                    await self.store.set_pending(self.thread_id, outcome.interrupt_id if outcome else None)
                except Exception:
                    log.exception("recording thread %s's pending approval failed", self.thread_id)
            if lease is not None:
                await lease.release()
        self._finish_report(outcome.outcome, interrupt_id=outcome.interrupt_id)
        if live_answer:
            rest = answer.tail(outcome.content, completed=outcome.outcome == "completed")
            if rest:
                yield "answer", rest
        yield "done", outcome

    # -- tracing ----------------------------------------------------------------------
    def _trace_start(self) -> Any:
        """The run's ``invoke_agent`` span (tool spans hang off it), or None when tracing is off."""
        from custom_hooks.observability.tracing import active

        tracing = active()
        if tracing is None:
            return None
        span = tracing.start_agent(
            agent=self.agent,
            run_id=self.run_id,
            thread_id=self.thread_id,
            depth=self.depth,
            parent_run_id=(self.caller.parent_run or {}).get("run_id"),
            model=self.spec.model,
        )
        self.tool_timer.spans = span
        return span

    def _trace_end(self, span: Any, outcome: RunOutcome | None, error: BaseException | None) -> None:
        from custom_hooks.observability.tracing_attrs import agent_end_attributes

        result = outcome.outcome if outcome is not None else str(self.report.get("outcome") or "running")
        if result == "running":  # left without an outcome: cancelled, or an unexpected error
            result = "cancelled" if isinstance(error, GeneratorExit | asyncio.CancelledError) else "error"
        error_type = None
        if outcome is None:
            error_type = getattr(error, "code", None) or (type(error).__name__ if error else result)
        span.finish(
            agent_end_attributes(
                outcome=result,
                steps=self._steps,
                inner_calls=len(self.usage.calls),
                input_tokens=self.usage.prompt_tokens,
                output_tokens=self.usage.completion_tokens,
                cost_usd=self.cost,
                error_type=str(error_type) if error_type else None,
            )
        )

    def _on_chunk(self, mode: str, chunk: Any) -> list[str]:
        if mode == "custom":
            if isinstance(chunk, Mapping) and chunk.get("gateway_step"):
                return [str(chunk["gateway_step"])]
            return []
        if not isinstance(chunk, Mapping):
            return []
        self._steps += sum(1 for k in chunk if not str(k).startswith("__"))
        for delta in chunk.values():
            msgs = delta.get("messages") if isinstance(delta, Mapping) else None
            for msg in msgs if isinstance(msgs, list) else [msgs] if msgs is not None else []:
                for call in getattr(msg, "tool_calls", None) or []:
                    self._tool_calls[str(call.get("name"))] += 1
        return step_lines(chunk, self.spec.agents)

    async def _outcome(self, graph: Any, config: dict[str, Any]) -> RunOutcome:
        snapshot = await graph.aget_state(config)
        pending = pending_interrupt(snapshot)
        if pending is not None:
            interrupt_id, payload = pending
            return RunOutcome(
                approval_message(payload, thread_id=self.thread_id, interrupt_id=interrupt_id),
                "interrupted",
                interrupt_id=interrupt_id,
                interrupt=payload,
            )
        messages = (snapshot.values or {}).get("messages") or []
        return RunOutcome(final_answer(messages), "completed")

    def gateway_fields(self, outcome: RunOutcome | None = None) -> dict[str, Any]:
        """The machine-readable ``gateway`` object returned with the answer."""
        out: dict[str, Any] = {
            "agent": self.agent,
            "run_id": self.run_id,
            "thread_id": self.thread_id
            if (self.requested_thread or (outcome is not None and outcome.interrupt_id))
            else None,
            "cost": self.report.get("cost", self.cost),
            "steps": self.report.get("steps", self._steps),
            "inner_calls": len(self.usage.calls),
        }
        if outcome is not None:
            out["outcome"] = outcome.outcome
            if outcome.interrupt_id:
                out["interrupt"] = {"id": outcome.interrupt_id, **dict(outcome.interrupt or {})}
        return out


def new_agent_run(
    *,
    agent: str,
    agents: AgentsConfig,
    caller: Caller,
    messages: list[Mapping[str, Any]],
    store: ThreadStore,
    tokens: RunTokens,
    base_url: str,
    parent_request_id: str,
    thread_id: str | None,
    report: dict[str, Any] | None = None,
    resume: ApprovalDecision | None = None,
    loopback: Loopback | None = None,
) -> AgentRun:
    spec = agents.registry.get(agent)
    if spec is None:
        raise AgentNotFound(f"No agent named '{agent}' is configured (gateway.agents.registry).")
    return AgentRun(
        agent=agent,
        spec=spec,
        agents=agents,
        caller=caller,
        messages=messages,
        store=store,
        tokens=tokens,
        base_url=base_url,
        parent_request_id=parent_request_id,
        requested_thread=thread_id,
        resume=resume,
        report=report if report is not None else {},
        loopback=loopback,
    )
