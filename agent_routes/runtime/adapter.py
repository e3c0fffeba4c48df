"""OpenAI chat completions <-> LangGraph: messages in, answers, steps and approvals out.

Pure functions, so the wire format is easy to test:

- :func:`to_graph_messages` / :func:`new_turn`: OpenAI messages -> LangChain messages (on a
  persisted thread only the new turn is sent: the graph already holds the history);
- :func:`parse_approval_reply`: ``approve`` / ``reject [reason]`` / ``edit: {json}``;
- :func:`step_lines`: a graph update -> progress lines (tool chosen, tool finished,
  handed off), streamed as ``reasoning_content``, never as ``tool_calls``;
- :func:`approval_message`: the assistant text asking a human to approve an action;
- :class:`AnswerStream`: the answer's tokens picked out of LangGraph's ``messages`` stream;
- :func:`model_response` / :func:`stream_chunk`: LiteLLM response objects.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage, convert_to_messages
from litellm.types.utils import Delta, ModelResponse, ModelResponseStream, StreamingChoices, Usage

from agent_routes.runtime.context import ANSWER_TAG, ApprovalDecision

__all__ = [
    "AnswerStream",
    "StreamFrame",
    "approval_message",
    "final_answer",
    "model_response",
    "new_turn",
    "parse_approval_reply",
    "pending_interrupt",
    "step_lines",
    "stream_chunk",
    "text_of",
    "to_graph_messages",
]

_APPROVE = {"approve", "approved", "yes", "y", "ok", "go ahead", "confirm"}
_REJECT = {"reject", "rejected", "no", "n", "deny", "cancel"}
_EDIT = re.compile(r"^\s*edit\s*:?\s*(?P<json>\{.*\})\s*$", re.S | re.I)
_REJECT_REASON = re.compile(r"^\s*(reject|deny|no)\b[\s:,-]*(?P<reason>.*)$", re.S | re.I)


def text_of(content: Any) -> str:
    """Plain text of an OpenAI or LangChain message content (str or parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, Mapping) and p.get("type", "text") == "text":
                parts.append(str(p.get("text", "")))
        return "".join(parts)
    return "" if content is None else str(content)


def to_graph_messages(messages: Sequence[Mapping[str, Any]]) -> list[BaseMessage]:
    """OpenAI-format messages as LangChain messages (tool calls and results kept)."""
    cleaned = []
    for m in messages:
        d = {k: v for k, v in m.items() if k in {"role", "content", "name", "tool_calls", "tool_call_id"}}
        if d.get("role") == "developer":
            d["role"] = "system"
        if d.get("content") is None:
            d["content"] = ""
        cleaned.append(d)
    return list(convert_to_messages(cleaned))


def new_turn(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The messages after the last assistant message: what a continuing thread needs."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            return list(messages[i + 1 :])
    return [m for m in messages if m.get("role") not in {"system", "developer"}]


def parse_approval_reply(text: str) -> ApprovalDecision | None:
    """A human's answer to a pending approval, or None if the text isn't one.

    ``approve`` (or yes/ok), ``reject [reason]`` (or no/deny), ``edit: {"arg": "value"}``.
    """
    t = text.strip()
    low = t.lower().rstrip(".!")
    if low in _APPROVE:
        return {"decision": "approve"}
    m = _EDIT.match(t)
    if m:
        try:
            args = json.loads(m.group("json"))
        except json.JSONDecodeError:
            return None
        if isinstance(args, dict):
            return {"decision": "edit", "args": args}
        return None
    if low in _REJECT:
        return {"decision": "reject"}
    r = _REJECT_REASON.match(t)
    if r and r.group(1).lower() in {"reject", "deny"}:
        return {"decision": "reject", "reason": r.group("reason").strip() or None}
    return None


def pending_interrupt(snapshot: Any) -> tuple[str, dict[str, Any]] | None:
    """The first interrupt a graph state waits on, as ``(interrupt_id, payload)``; None if none.

    The payload is the interrupt's value when it is a mapping, else ``{"description": str(value)}``.
    """
    interrupts = getattr(snapshot, "interrupts", ()) or ()
    if not interrupts:
        return None
    first = interrupts[0]
    value = first.value
    return str(first.id), dict(value) if isinstance(value, Mapping) else {"description": str(value)}


def approval_message(payload: Mapping[str, Any], *, thread_id: str, interrupt_id: str) -> str:
    """The assistant message that asks the caller to decide a pending action."""
    action = str(payload.get("action") or "an action")
    desc = str(payload.get("description") or "").strip()
    args = payload.get("args")
    lines = [f"Approval needed: the agent wants to run `{action}`."]
    if desc:
        lines.append(desc)
    if isinstance(args, Mapping) and args:
        lines.append("Arguments: " + json.dumps(args, ensure_ascii=False, sort_keys=True))
    lines += [
        "",
        "Reply on this thread with `approve`, `reject` (optionally with a reason), or "
        '`edit: {"arg": "new value"}` to change the arguments first.',
        f"(thread_id: {thread_id}, interrupt_id: {interrupt_id})",
    ]
    return "\n".join(lines)


def _short(value: Any, limit: int = 160) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_lines(update: Mapping[str, Any], sub_agents: Sequence[str] = ()) -> list[str]:
    """Progress lines for one ``stream_mode="updates"`` item ``{node: state_update}``."""
    lines: list[str] = []
    for node, delta in update.items():
        if node.startswith("__") or not isinstance(delta, Mapping):
            continue
        msgs = delta.get("messages") or []
        if isinstance(msgs, BaseMessage):
            msgs = [msgs]
        for msg in msgs:
            if isinstance(msg, AIMessage):
                for call in msg.tool_calls:
                    name = call.get("name", "")
                    target = _handoff_target(name, sub_agents)
                    if target:
                        lines.append(f"Handing off to {target}: {_short(call.get('args') or {})}")
                    else:
                        lines.append(f"Calling tool {name}({_short(call.get('args') or {})})")
            elif isinstance(msg, ToolMessage):
                status = "failed" if getattr(msg, "status", "success") == "error" else "finished"
                lines.append(f"Tool {msg.name or 'tool'} {status}: {_short(text_of(msg.content))}")
        if not msgs and node in sub_agents:
            lines.append(f"Handing off to {node}")
    return lines


def _handoff_target(tool_name: str, sub_agents: Sequence[str]) -> str | None:
    """The worker a tool call hands off to (``transfer_to_<worker>``, or a sub-agent's name)."""
    for prefix in ("transfer_to_", "handoff_to_", "delegate_to_"):
        if tool_name.startswith(prefix) and len(tool_name) > len(prefix):
            return tool_name[len(prefix) :]
    return tool_name if tool_name in sub_agents else None


def final_answer(messages: Sequence[BaseMessage]) -> str:
    """The text of the last AI message (the agent's answer)."""
    for msg in reversed(messages):
        if isinstance(msg, AIMessage) and not msg.tool_calls:
            return text_of(msg.content)
    for msg in reversed(messages):
        if isinstance(msg, AIMessage):
            return text_of(msg.content)
    return ""


class AnswerStream:
    """The answer's text, live, from ``stream_mode="messages"`` items ``(chunk, metadata)``.

    Only chunks of a chat model tagged :data:`ANSWER_TAG` count (LangGraph reports only the
    top-level graph's calls unless sub-graphs are streamed). Per message, OpenAI streaming
    semantics: content arrives before any tool-call chunk; once a tool-call chunk arrives the
    message is a tool call and none of its later text is content (the text already sent was
    the model's narration). A new answering message after text was sent starts with a blank
    line. :meth:`tail` reconciles with the run's final answer (e.g. a sources list a
    ``finish`` node appended): the concatenation of everything returned is what the
    caller should see.
    """

    def __init__(self) -> None:
        self._tools: set[str] = set()
        self._current: str | None = None  # id of the message being streamed
        self._current_text = ""
        self.sent = ""

    def feed(self, chunk: Any, metadata: Mapping[str, Any] | None) -> str:
        """The content to send for one ``messages`` item ("" for none)."""
        if not isinstance(chunk, AIMessage):  # a chunk, or a whole reply from a model that can't stream
            return ""
        if ANSWER_TAG not in ((metadata or {}).get("tags") or ()):
            return ""
        mid = chunk.id or ""
        if chunk.tool_calls or (isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks):
            self._tools.add(mid)
            return ""
        text = text_of(chunk.content)
        if not text or mid in self._tools:
            return ""
        out = text
        if mid != self._current:
            out = ("\n\n" if self.sent else "") + text
            self._current, self._current_text = mid, ""
        self._current_text += text
        self.sent += out
        return out

    def tail(self, answer: str, *, completed: bool) -> str:
        """What remains to send once the run produced ``answer``."""
        if not self.sent:
            return answer
        current_is_answer = self._current is not None and self._current not in self._tools
        if completed and current_is_answer:
            for sent in (self._current_text, self._current_text.rstrip()):  # a finish may rstrip
                if answer.startswith(sent):
                    return answer[len(sent) :]
        return "\n\n" + answer


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def model_response(
    *,
    model: str,
    content: str,
    prompt_tokens: int,
    completion_tokens: int,
    gateway: Mapping[str, Any],
    reasoning: str | None = None,
) -> ModelResponse:
    """A non-streaming chat completion; ``gateway`` becomes a top-level ``gateway`` field."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    resp = ModelResponse(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        model=model,
        created=int(time.time()),
        choices=[{"index": 0, "message": message, "finish_reason": "stop"}],
        usage=_usage(prompt_tokens, completion_tokens),
    )
    resp.gateway = dict(gateway)  # type: ignore[attr-defined]  # extra field: the SDK keeps it in model_extra
    return resp


def stream_chunk(
    *,
    content: str | None = None,
    reasoning: str | None = None,
    finish: bool = False,
    usage: tuple[int, int] | None = None,
    gateway: Mapping[str, Any] | None = None,
    frame: StreamFrame | None = None,
) -> ModelResponseStream:
    """One SSE chunk. The last one carries ``finish_reason``, usage and ``gateway`` info.

    LiteLLM drops a finishing chunk without content, so the last chunk always has some
    (a newline at worst); the gateway info travels as ``provider_specific_fields``.
    With ``frame`` the chunk carries the stream's one id, model and ``created``, and the
    first chunk of the stream ``role: "assistant"`` (OpenAI framing: SDK stream helpers
    such as ``finalChatCompletion()`` need the role and one id per stream).
    """
    fields: dict[str, Any] = {"content": content}
    if reasoning is not None:
        fields["reasoning_content"] = reasoning
    kw: dict[str, Any] = {}
    if frame is not None:
        kw.update(id=frame.id, model=frame.model, created=frame.created)
        if frame.take_role():
            fields["role"] = "assistant"
    if usage is not None:
        kw["usage"] = _usage(*usage)
    return ModelResponseStream(
        choices=[StreamingChoices(index=0, delta=Delta(**fields), finish_reason="stop" if finish else None)],
        provider_specific_fields={"gateway": dict(gateway)} if gateway else None,
        **kw,
    )


class StreamFrame:
    """What every chunk of one stream shares: its id, model and creation time."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())
        self._role_sent = False

    def take_role(self) -> bool:
        """True once: for the stream's first chunk, which carries ``role``."""
        first = not self._role_sent
        self._role_sent = True
        return first
