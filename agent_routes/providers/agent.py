"""The agent provider: LiteLLM custom provider ``agent`` (``model: agent/<name>``).

LiteLLM calls :meth:`AgentProvider.acompletion` / :meth:`AgentProvider.astreaming` after
auth, rate limits and pre-call hooks, like any model. Streaming sends progress lines as
``reasoning_content`` deltas while the graph runs (unless the request says
``agent_steps: false``) and the answer as ``content`` deltas while the answering model
generates it (a graph without an answer model: when the run ends); the last chunk carries
``usage`` (the sum of the run's inner calls) and ``provider_specific_fields.gateway``
(run id, thread id, pending approval). Non-streaming responses carry the same object as
a top-level ``gateway`` field.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ModelResponse, ModelResponseStream

from agent_routes.runtime.adapter import StreamFrame, model_response, stream_chunk
from agent_routes.runtime.errors import provider_error
from agent_routes.runtime.loopback import inner_call_target
from agent_routes.runtime.registry import agents_config
from agent_routes.runtime.request_ids import request_thread_id
from agent_routes.runtime.runner import AgentRun, RunOutcome, caller_from_metadata, new_agent_run
from agent_routes.runtime.steps import StepsMode, StepsRenderer, steps_mode
from agent_routes.runtime.structured import requested_format
from agent_routes.runtime.threads import get_thread_store
from custom_hooks.auth.run_tokens import get_run_tokens
from custom_hooks.core.errors import BadRequest, GatewayError
from custom_hooks.core.record import gateway_record

__all__ = ["AgentProvider", "refuse_client_tools", "start_run"]

_PIECES = re.compile(r"\S+\s*|\s+")


_CLIENT_TOOL_PARAMS = ("tools", "functions", "tool_choice", "function_call")


def refuse_client_tools(optional_params: Mapping[str, Any]) -> None:
    """An agent runs its own tools: client-side tools are refused, never silently ignored."""
    for name in _CLIENT_TOOL_PARAMS:
        value = optional_params.get(name)
        if value in (None, [], {}, "none", "auto"):
            continue
        raise BadRequest(
            f"Agents run their own tools; client-side `{name}` cannot be passed to an agent model. "
            "Call a plain model (e.g. `default`) for client tools, or send the request without them.",
            param="tools",
            code="agent_client_tools_unsupported",
        )


def start_run(kwargs: Mapping[str, Any]) -> tuple[AgentRun, StepsMode]:
    """Set up the run for one provider call; returns the run and how to show its steps."""
    litellm_params = kwargs.get("litellm_params") or {}
    md = litellm_params.get("metadata")
    if not isinstance(md, dict):
        md = {}
    optional = kwargs.get("optional_params") or {}
    refuse_client_tools(optional)
    agents = agents_config()
    record = gateway_record(kwargs)
    report = record.agent_run_report()
    parent_request_id = str(record.request_id or litellm_params.get("litellm_call_id") or "")
    agent = str(kwargs.get("model") or "").removeprefix("agent/")
    mode = steps_mode(md, optional, agents.steps_default)
    gateway_url, inner = inner_call_target()
    run = new_agent_run(
        agent=agent,
        agents=agents,
        caller=caller_from_metadata(md),
        messages=list(kwargs.get("messages") or []),
        store=get_thread_store(),
        tokens=get_run_tokens(),
        base_url=gateway_url + "/v1",
        loopback=inner,
        parent_request_id=parent_request_id,
        thread_id=request_thread_id(md, optional, litellm_params),
        report=report,
    )
    run.output_format = requested_format(optional.get("response_format"))
    return run, mode


def _pieces(text: str, per_chunk: int = 4) -> list[str]:
    words = _PIECES.findall(text)
    return ["".join(words[i : i + per_chunk]) for i in range(0, len(words), per_chunk)] or [""]


class AgentProvider(CustomLLM):
    """Serves every ``agent/<name>`` model; stateless (state lives in private modules)."""

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        try:
            run, mode = start_run(kwargs)
            steps = StepsRenderer(mode)
            outcome: RunOutcome | None = None
            async for kind, value in run.events():
                if kind == "step":
                    steps.step(value)
                elif kind == "done":
                    outcome = value
        except GatewayError as err:
            raise provider_error(err) from None
        assert outcome is not None
        content, reasoning = steps.whole(outcome.content)
        return model_response(
            model=str(kwargs.get("model") or run.agent),
            content=content,
            reasoning=reasoning,
            prompt_tokens=run.usage.prompt_tokens,
            completion_tokens=run.usage.completion_tokens,
            gateway=run.gateway_fields(outcome),
        )

    # Not ``async def``: the set-up runs when LiteLLM calls this, before the stream starts,
    # so the response-headers hook already sees the run id and thread id.
    def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[ModelResponseStream]:  # type: ignore[override]
        try:
            run, mode = start_run(kwargs)
        except GatewayError as err:
            raise provider_error(err) from None
        return self._stream(run, StepsRenderer(mode), StreamFrame(str(kwargs.get("model") or run.agent)))

    async def _stream(
        self, run: AgentRun, steps: StepsRenderer, frame: StreamFrame
    ) -> AsyncIterator[ModelResponseStream]:
        # Answer text goes out as the answering model generates it, one delta behind: the
        # last one rides on the finishing chunk with usage and the gateway fields. A
        # structured answer (response_format) exists only once validated: sent at the end.
        outcome: RunOutcome | None = None
        held: str | None = None
        live = run.output_format is None
        try:
            async for kind, value in run.events(live_answer=live):
                if kind == "step":
                    content, reasoning = steps.step(value)
                    if content is not None or reasoning is not None:
                        yield stream_chunk(content=content, reasoning=reasoning, frame=frame)
                elif kind == "answer":
                    for piece in _pieces(value):
                        if held is not None:
                            yield stream_chunk(content=held, frame=frame)
                        held = steps.answer(piece)
                elif kind == "done":
                    outcome = value
        except GatewayError as err:
            raise provider_error(err) from None
        assert outcome is not None
        if not live:
            for piece in _pieces(outcome.content):
                if held is not None:
                    yield stream_chunk(content=held, frame=frame)
                held = steps.answer(piece)
        yield stream_chunk(
            content=held or steps.answer(" "),
            finish=True,
            usage=(run.usage.prompt_tokens, run.usage.completion_tokens),
            gateway=run.gateway_fields(outcome),
            frame=frame,
        )


agent_provider = AgentProvider()
