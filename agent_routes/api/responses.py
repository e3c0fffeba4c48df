"""OpenAI Responses API <-> the agents' chat completions: pure translation, easy to test.

- :func:`chat_request`: a ``POST /v1/responses`` body as the chat-completions body an agent
  model serves (``input``/``instructions`` -> ``messages``, ``text.format`` ->
  ``response_format``, ``metadata`` kept, the thread put in ``metadata.thread_id``);
- :func:`response_id` / :func:`thread_of_response_id`: a response id that names the agent
  thread it ran on, so ``previous_response_id`` continues that thread (ownership is checked
  by the run, as for ``metadata.thread_id``: a made-up id reaches no one else's thread);
- :class:`ResponseStream`: chat-completion chunks -> OpenAI's exact Responses event
  sequence (``response.created``, ``response.in_progress``, reasoning items with
  ``reasoning_summary_part.*`` / ``reasoning_summary_text.*`` events carrying
  ``summary_index``, the message item with ``content_part.*`` / ``output_text.*``, and
  ``response.completed`` with usage and the run's ``metadata``);
- :func:`response_object`: a non-streamed chat completion as a Responses object.

Steps arrive as ``reasoning_content`` lines; each line is one reasoning summary part.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_routes.runtime.adapter import text_of
from custom_hooks.core.errors import BadRequest

__all__ = [
    "ResponseStream",
    "chat_request",
    "gateway_metadata",
    "response_id",
    "response_object",
    "thread_of_response_id",
]

_ID_HEX = 32


def response_id(thread_id: str | None) -> str:
    """A new response id; it carries ``thread_id`` (when there is one) for continuation."""
    rid = f"resp_{uuid.uuid4().hex}"
    if thread_id:
        rid += base64.urlsafe_b64encode(thread_id.encode()).decode().rstrip("=")
    return rid


def thread_of_response_id(rid: str) -> str | None:
    """The thread a response id from :func:`response_id` names; None if it names none."""
    if not rid.startswith("resp_") or len(rid) <= 5 + _ID_HEX:
        return None
    encoded = rid[5 + _ID_HEX :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        tid = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return tid if tid.isprintable() and 0 < len(tid) <= 200 else None


def _message(item: Mapping[str, Any]) -> dict[str, Any]:
    role = str(item.get("role") or "user")
    if role not in {"user", "assistant", "system", "developer"}:
        raise BadRequest(f"Unsupported input message role '{role[:20]}'.", param="input")
    content = item.get("content")
    if isinstance(content, list):
        kinds = {str(p.get("type")) for p in content if isinstance(p, Mapping)}
        if kinds - {"input_text", "output_text", "text"}:
            raise BadRequest("Agents take text input only (input_text/output_text parts).", param="input")
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return {"role": "system" if role == "developer" else role, "content": text_of(content)}


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if body.get("instructions"):
        out.append({"role": "system", "content": str(body["instructions"])})
    raw = body.get("input")
    if isinstance(raw, str):
        out.append({"role": "user", "content": raw})
        return out
    if not isinstance(raw, Sequence):
        raise BadRequest("`input` must be a string or a list of input items.", param="input")
    for item in raw:
        if not isinstance(item, Mapping):
            raise BadRequest("Each `input` item must be an object.", param="input")
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item))
        elif kind == "reasoning":
            continue  # a previous turn's steps: the agent has its own record of them
        else:
            raise BadRequest(
                f"Agents run their own tools; input items of type '{str(kind)[:40]}' cannot be sent to an "
                "agent model.",
                param="input",
                code="agent_client_tools_unsupported",
            )
    return out


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if not isinstance(fmt, Mapping) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    raise BadRequest(f"Unsupported text.format type '{str(fmt.get('type'))[:40]}'.", param="text.format")


def chat_request(body: Mapping[str, Any], *, thread_id: str | None) -> dict[str, Any]:
    """The chat-completions body for an agent Responses request (raises :class:`BadRequest`)."""
    tools = body.get("tools")
    if tools:
        raise BadRequest(
            "Agents run their own tools; client-side `tools` cannot be passed to an agent model. "
            "Call a plain model for client tools, or send the request without them.",
            param="tools",
            code="agent_client_tools_unsupported",
        )
    metadata = dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), Mapping) else {}
    if thread_id:
        metadata["thread_id"] = thread_id
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": _messages(body),
        "stream": bool(body.get("stream")),
    }
    if out["stream"]:
        out["stream_options"] = {"include_usage": True}
    if metadata:
        out["metadata"] = metadata
    fmt = _response_format(body.get("text"))
    if fmt is not None:
        out["response_format"] = fmt
    for key in ("temperature", "top_p", "user", "agent_steps"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    return out


def gateway_metadata(gateway: Mapping[str, Any] | None) -> dict[str, str]:
    """The run's facts as Responses ``metadata`` entries (strings, as the API requires)."""
    if not gateway:
        return {}
    out: dict[str, str] = {}
    for key in ("agent", "run_id", "thread_id", "outcome", "cost", "steps", "inner_calls"):
        value = gateway.get(key)
        if value is not None:
            out[f"gateway_{key}"] = str(value)
    interrupt = gateway.get("interrupt")
    if isinstance(interrupt, Mapping) and interrupt.get("id"):
        out["gateway_interrupt_id"] = str(interrupt["id"])
        if interrupt.get("action"):
            out["gateway_interrupt_action"] = str(interrupt["action"])[:512]
    return out


def _usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _base(body: Mapping[str, Any], rid: str, created: int, status: str) -> dict[str, Any]:
    text = body.get("text") if isinstance(body.get("text"), Mapping) else None
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True) is not False,
        "temperature": body.get("temperature"),
        "text": dict(text) if text else {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), Mapping) else {},
    }


def _reasoning_item(item_id: str, parts: Sequence[str]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": p} for p in parts],
    }


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _steps_of(reasoning: str | None) -> list[str]:
    return [line for line in (reasoning or "").split("\n") if line.strip()]


def response_object(body: Mapping[str, Any], completion: Mapping[str, Any], *, rid: str) -> dict[str, Any]:
    """A non-streamed chat completion (from an agent) as a Responses object."""
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {}
    out = _base(body, rid, int(completion.get("created") or time.time()), "completed")
    steps = _steps_of(message.get("reasoning_content"))
    if steps:
        out["output"].append(_reasoning_item(f"rs_{uuid.uuid4().hex}", steps))
    out["output"].append(
        _message_item(f"msg_{uuid.uuid4().hex}", text_of(message.get("content")), "completed")
    )
    out["usage"] = _usage(completion.get("usage"))
    gateway = completion.get("gateway")
    out["metadata"].update(gateway_metadata(gateway if isinstance(gateway, Mapping) else None))
    if isinstance(gateway, Mapping):
        out["gateway"] = dict(gateway)
    return out


@dataclass
class ResponseStream:
    """Chat-completion chunks in, Responses stream events out (one instance per response)."""

    body: Mapping[str, Any]
    rid: str
    created: int = field(default_factory=lambda: int(time.time()))
    _seq: int = 0
    _output: list[dict[str, Any]] = field(default_factory=list)
    _kind: str | None = None  # "reasoning" | "message": the open output item
    _item_id: str = ""
    _parts: list[str] = field(default_factory=list)
    _text: str = ""
    _usage: Mapping[str, Any] | None = None
    _gateway: Mapping[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self, status: str) -> dict[str, Any]:
        out = _base(self.body, self.rid, self.created, status)
        out["output"] = list(self._output)
        return out

    def start(self) -> list[dict[str, Any]]:
        """``response.created`` and ``response.in_progress``."""
        return [
            self._event("response.created", response=self._snapshot("in_progress")),
            self._event("response.in_progress", response=self._snapshot("in_progress")),
        ]

    def _close(self) -> list[dict[str, Any]]:
        idx = len(self._output)
        if self._kind == "reasoning":
            item = _reasoning_item(self._item_id, self._parts)
        elif self._kind == "message":
            common = {"item_id": self._item_id, "output_index": idx, "content_index": 0}
            part = {"type": "output_text", "text": self._text, "annotations": []}
            item = _message_item(self._item_id, self._text, "completed")
            events = [
                self._event("response.output_text.done", **common, text=self._text, logprobs=[]),
                self._event("response.content_part.done", **common, part=part),
            ]
            self._output.append(item)
            self._kind = None
            return [*events, self._event("response.output_item.done", output_index=idx, item=item)]
        else:
            return []
        self._output.append(item)
        self._kind = None
        return [self._event("response.output_item.done", output_index=idx, item=item)]

    def _step(self, line: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._kind != "reasoning":
            events += self._close()
            self._kind, self._item_id, self._parts = "reasoning", f"rs_{uuid.uuid4().hex}", []
            item = {"id": self._item_id, "type": "reasoning", "summary": []}
            events.append(
                self._event("response.output_item.added", output_index=len(self._output), item=item)
            )
        common = {
            "item_id": self._item_id,
            "output_index": len(self._output),
            "summary_index": len(self._parts),
        }
        self._parts.append(line)
        return [
            *events,
            self._event(
                "response.reasoning_summary_part.added", **common, part={"type": "summary_text", "text": ""}
            ),
            self._event("response.reasoning_summary_text.delta", **common, delta=line),
            self._event("response.reasoning_summary_text.done", **common, text=line),
            self._event(
                "response.reasoning_summary_part.done", **common, part={"type": "summary_text", "text": line}
            ),
        ]

    def _answer(self, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._kind != "message":
            events += self._close()
            self._kind, self._item_id, self._text = "message", f"msg_{uuid.uuid4().hex}", ""
            idx = len(self._output)
            item = _message_item(self._item_id, "", "in_progress")
            events.append(self._event("response.output_item.added", output_index=idx, item=item))
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=self._item_id,
                    output_index=idx,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
        self._text += text
        common = {"item_id": self._item_id, "output_index": len(self._output), "content_index": 0}
        return [*events, self._event("response.output_text.delta", **common, delta=text, logprobs=[])]

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The events for one chat-completion chunk (a parsed SSE ``data:`` line)."""
        events: list[dict[str, Any]] = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        psf = chunk.get("provider_specific_fields")
        gateway = (psf.get("gateway") if isinstance(psf, Mapping) else None) or chunk.get("gateway")
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            dpsf = delta.get("provider_specific_fields")
            if isinstance(dpsf, Mapping) and isinstance(dpsf.get("gateway"), Mapping):
                gateway = dpsf["gateway"]
            for line in _steps_of(delta.get("reasoning_content")):
                events += self._step(line)
            content = delta.get("content")
            if content:
                events += self._answer(str(content))
        if isinstance(gateway, Mapping):
            self._gateway = gateway
        return events

    def finish(self) -> list[dict[str, Any]]:
        """Close the open item; ``response.completed`` with usage and the run's metadata."""
        events = self._close()
        if not any(item["type"] == "message" for item in self._output):
            events += self._answer("")
            events += self._close()
        final = self._snapshot("completed")
        final["usage"] = _usage(self._usage)
        final["metadata"].update(gateway_metadata(self._gateway))
        if self._gateway:
            final["gateway"] = dict(self._gateway)
        return [*events, self._event("response.completed", response=final)]

    def failed(self, error: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``response.failed`` with the error's code and message (a run that broke mid-stream)."""
        final = self._snapshot("failed")
        final["error"] = {
            "code": str(error.get("code") or "server_error"),
            "message": str(error.get("message") or "The agent run failed."),
        }
        return [self._event("response.failed", response=final)]
