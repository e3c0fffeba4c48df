"""Every text of a non-streaming answer, per wire format, as writable slots.

What ``async_post_call_success_hook`` receives differs per route (LiteLLM 1.108.7):

- ``/v1/chat/completions``: a ``ModelResponse``, ``choices[].message`` (content, tool calls);
- ``/v1/completions``: a ``TextCompletionResponse``, ``choices[].text``;
- ``/v1/responses``: a ``ResponsesAPIResponse``; ``output`` items are pydantic objects or
  dicts: ``message`` (``content[].text``), ``function_call`` (``arguments``), ``reasoning``;
- ``/v1/messages``: a plain dict in the Anthropic format, ``content[]`` blocks (``text``,
  ``tool_use.input``).

Slots have role ``assistant`` and kind ``content`` or ``arguments``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from custom_hooks.guardrails.request_slots import TextSlot

__all__ = ["field", "response_slots", "responses_item_slots", "responses_output_slots", "setter"]


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict, ``obj.name`` otherwise (LiteLLM mixes both)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def setter(obj: Any, name: str) -> Callable[[str], None]:
    """How to write ``name`` of a dict or object (plain field storage: no re-validation)."""
    if isinstance(obj, dict):

        def set_item(value: str) -> None:
            obj[name] = value

        return set_item

    def set_attr(value: str) -> None:
        fields = getattr(obj, "__dict__", None)
        if isinstance(fields, dict) and name in fields:
            fields[name] = value
        else:
            setattr(obj, name, value)

    return set_attr


def _text(obj: Any, name: str, kind: str = "content") -> Iterator[TextSlot]:
    value = field(obj, name)
    if isinstance(value, str):
        yield TextSlot("assistant", value, setter(obj, name), kind)


def _strings(value: Any, kind: str, depth: int = 0) -> Iterator[TextSlot]:
    """Every string leaf of a dict/list (a tool call's ``input`` object)."""
    if depth > 32:
        return
    keys = list(value) if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
    for k in keys:
        item = value[k]
        if isinstance(item, str):

            def set_(v: str, c: Any = value, key: Any = k) -> None:
                c[key] = v

            yield TextSlot("assistant", item, set_, kind)
        elif isinstance(item, dict | list):
            yield from _strings(item, kind, depth + 1)


def responses_output_slots(output: Any) -> Iterator[TextSlot]:
    """Texts of a Responses ``output`` item list (also ``response.completed``'s)."""
    for item in output or ():
        yield from responses_item_slots(item)


def responses_item_slots(item: Any) -> Iterator[TextSlot]:
    kind = field(item, "type")
    if kind in ("function_call", "custom_tool_call"):
        yield from _text(item, "arguments" if kind == "function_call" else "input", "arguments")
    elif kind == "reasoning":
        for part in field(item, "summary") or ():
            yield from _text(part, "text")
    else:
        for part in field(item, "content") or ():
            yield from _text(part, "text")
            yield from _text(part, "refusal")


def _anthropic(response: dict[str, Any]) -> Iterator[TextSlot]:
    for block in response.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            yield from _text(block, "text")
        elif block.get("type") in ("tool_use", "server_tool_use"):
            yield from _strings(block.get("input"), "arguments")
        elif block.get("type") == "thinking":
            yield from _text(block, "thinking")


def response_slots(response: Any) -> Iterator[TextSlot]:
    """Every text of a non-streaming answer of any surface (see the module docstring)."""
    if isinstance(response, dict):
        if response.get("type") == "message":
            yield from _anthropic(response)
        elif response.get("object") == "response":
            yield from responses_output_slots(response.get("output"))
        return
    if field(response, "object") == "response" or type(response).__name__ == "ResponsesAPIResponse":
        yield from responses_output_slots(field(response, "output"))
        return
    for choice in field(response, "choices") or ():
        msg = field(choice, "message")
        if msg is None:
            yield from _text(choice, "text")  # text completion
            continue
        yield from _text(msg, "content")
        for call in field(msg, "tool_calls") or ():
            fn = field(call, "function")
            if fn is not None:
                yield from _text(fn, "arguments", "arguments")
