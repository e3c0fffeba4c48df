"""Fake chat models for driving agent graphs in unit tests (no network, no gateway).

- :class:`FakeToolCallingModel`: replies from a script (AIMessages, or functions of the
  messages and tools), supports ``bind_tools``, and records every call;
- :class:`DemoChatModel`: the offline demo model's decisions (``plan_reply``) as a chat
  model, so tests check how an agent behaves on the demo model end to end in-process;
- :class:`Factory`: an ``AgentContext.model_factory`` that hands out one of these and
  records which model aliases the graph asked for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai.chat_models.base import _convert_message_to_dict

from agent_routes.providers.demo_model import plan_reply
from agent_routes.runtime.context import AgentContext
from custom_hooks.core.sections.agents import AgentSpec

Step = AIMessage | str | Callable[[list[BaseMessage], list[dict[str, Any]]], AIMessage | str]


@dataclass
class Recorded:
    """One model call: the messages sent and the tool names offered."""

    messages: list[BaseMessage]
    tools: list[str]
    bind_kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [_convert_message_to_dict(m) for m in self.messages]


@dataclass
class Script:
    """Replies shared by a model and its ``bind_tools`` copies."""

    steps: list[Step] = field(default_factory=list)
    calls: list[Recorded] = field(default_factory=list)


def call(name: str, **args: Any) -> AIMessage:
    """An AI message calling one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}"}])


class FakeToolCallingModel(BaseChatModel):
    """Replies with the next scripted step; a step may be a function of (messages, tools)."""

    script: Script
    tools: list[dict[str, Any]] = []
    bind_kwargs: dict[str, Any] = {}

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        return self.model_copy(
            update={"tools": [convert_to_openai_tool(t) for t in tools], "bind_kwargs": kwargs}
        )

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        names = [t["function"]["name"] for t in self.tools]
        self.script.calls.append(Recorded(list(messages), names, dict(self.bind_kwargs)))
        if not self.script.steps:
            raise AssertionError(f"the fake model was called more often than scripted: {messages[-1]!r}")
        step = self.script.steps.pop(0)
        out = step(list(messages), self.tools) if callable(step) else step
        msg = AIMessage(out) if isinstance(out, str) else out
        return msg.model_copy(update={"id": f"fake-{uuid.uuid4().hex[:10]}"})

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])


class DemoChatModel(FakeToolCallingModel):
    """The demo model in-process: every reply is ``plan_reply(messages, tools)``."""

    @property
    def _llm_type(self) -> str:
        return "fake-demo"

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.script.calls.append(Recorded(list(messages), [t["function"]["name"] for t in self.tools]))
        reply = plan_reply([_convert_message_to_dict(m) for m in messages], self.tools or None)
        if reply.tool_name is None:
            return AIMessage(reply.text, id=f"demo-{uuid.uuid4().hex[:10]}")
        tool_call = {
            "name": reply.tool_name,
            "args": json.loads(reply.tool_args),
            "id": f"call_{uuid.uuid4().hex[:8]}",
        }
        return AIMessage("", tool_calls=[tool_call], id=f"demo-{uuid.uuid4().hex[:10]}")


@dataclass
class Factory:
    """``AgentContext.model_factory``: one shared script, the aliases asked for recorded."""

    demo: bool = False
    script: Script = field(default_factory=Script)
    aliases: list[str] = field(default_factory=list)

    def __call__(self, model: str, **kw: Any) -> BaseChatModel:
        self.aliases.append(model)
        cls = DemoChatModel if self.demo else FakeToolCallingModel
        return cls(script=self.script, callbacks=kw.get("callbacks"))

    @property
    def calls(self) -> list[Recorded]:
        return self.script.calls


def make_ctx(
    name: str,
    graph: str,
    factory: Factory,
    *,
    checkpointer: Any = None,
    **spec: Any,
) -> AgentContext:
    """An AgentContext for ``graph`` whose models come from ``factory``."""
    return AgentContext(
        name=name,
        spec=AgentSpec(graph=graph, **spec),
        checkpointer=checkpointer,
        model_factory=factory,
    )
