"""Every text a request sends upstream, per wire format, as writable slots.

One extractor per surface LiteLLM serves, chosen by the pre-call hook's ``call_type``
(LiteLLM's route type) with a fallback on the body's shape:

=====================  ===================  ================================================
call_type              route                slots
=====================  ===================  ================================================
``acompletion``        /v1/chat/completions messages (string, ``text``/``input_text`` parts),
                                            ``tool``/``function`` results, tool-call arguments,
                                            ``tools``/``functions`` descriptions
``atext_completion``   /v1/completions      ``prompt`` (str or list of str), ``suffix``
``aembedding``         /v1/embeddings       ``input`` (str or list of str; token arrays skipped)
``aresponses``         /v1/responses        ``instructions``, ``input`` (str or items: messages
                                            with parts, ``function_call.arguments``,
                                            ``function_call_output.output``), ``tools``
``anthropic_messages`` /v1/messages         ``system`` (str or blocks), message blocks
                                            (``text``, ``tool_use.input``, ``tool_result``),
                                            ``tools``
=====================  ===================  ================================================

Each :class:`TextSlot` carries the conversational ``role`` (``user``, ``system``,
``developer``, ``assistant``, ``tool``) and a ``kind``: ``content``, ``arguments`` (what a
model asked a tool to run), ``tool_output`` (what a tool returned, role ``tool`` whatever
the surface calls it) or ``tool_definition`` (descriptions in ``tools``). Parts and items
of a type this module does not know are walked conservatively (every string but ids,
names, enums and inline binary), never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTENT",
    "TextSlot",
    "anthropic_slots",
    "chat_slots",
    "completion_slots",
    "embedding_slots",
    "request_slots",
    "responses_slots",
    "tool_definition_slots",
]

CONTENT, ARGUMENTS, TOOL_OUTPUT, TOOL_DEFINITION = "content", "arguments", "tool_output", "tool_definition"


@dataclass(slots=True)
class TextSlot:
    """One piece of text in a request or response, and how to write it back."""

    role: str
    text: str
    setter: Callable[[str], None]
    kind: str = CONTENT

    def set(self, value: str) -> None:
        if value != self.text:
            self.setter(value)
            self.text = value


def _at(container: Any, key: Any) -> Callable[[str], None]:
    def set_(value: str) -> None:
        container[key] = value

    return set_


def _slot(role: str, container: dict[str, Any], key: str, kind: str = CONTENT) -> Iterator[TextSlot]:
    value = container.get(key)
    if isinstance(value, str):
        yield TextSlot(role, value, _at(container, key), kind)


# Keys whose strings are identifiers or enums, not text a model reads as prose.
_NOT_TEXT = frozenset(
    {"type", "id", "call_id", "tool_call_id", "tool_use_id", "role", "name", "status", "model"}
    | {"media_type", "mime_type", "format", "detail", "encoding_format", "signature", "cache_control"}
    | {"encrypted_content"}  # opaque provider state, not readable text
)
_BINARY = frozenset({"file_data", "b64_json", "image_base64"})


def _any_strings(value: Any, role: str, kind: str = CONTENT, depth: int = 0) -> Iterator[TextSlot]:
    """Every string under ``value`` (conservative walk of a shape this module does not know)."""
    if depth > 32:
        return
    if isinstance(value, dict):
        base64_source = value.get("type") == "base64"
        for key in list(value):
            item = value[key]
            if isinstance(item, str):
                if key in _NOT_TEXT or key in _BINARY or (base64_source and key == "data"):
                    continue
                if item.startswith("data:") and ";base64," in item[:100]:
                    continue  # an inline image or file
                yield TextSlot(role, item, _at(value, key), kind)
            elif isinstance(item, dict | list):
                yield from _any_strings(item, role, kind, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield TextSlot(role, item, _at(value, i), kind)
            elif isinstance(item, dict | list):
                yield from _any_strings(item, role, kind, depth + 1)


def _descriptions(value: Any, depth: int = 0) -> Iterator[TextSlot]:
    if depth > 32:
        return
    if isinstance(value, dict):
        for key in list(value):
            item = value[key]
            if key == "description" and isinstance(item, str):
                yield TextSlot("tool", item, _at(value, key), TOOL_DEFINITION)
            elif isinstance(item, dict | list):
                yield from _descriptions(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _descriptions(item, depth + 1)


def tool_definition_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """Every ``description`` in ``tools`` / ``functions`` (all three surfaces): a tool's
    own description and its parameters'. They reach the model as instructions."""
    for key in ("tools", "functions"):
        tools = data.get(key)
        if isinstance(tools, list):
            yield from _descriptions(tools)


# --- chat completions -------------------------------------------------------------


def _chat_parts(role: str, parts: list[Any], kind: str) -> Iterator[TextSlot]:
    for i, part in enumerate(parts):
        if isinstance(part, str):
            yield TextSlot(role, part, _at(parts, i), kind)
        elif not isinstance(part, dict):
            continue
        elif isinstance(part.get("text"), str):  # text, input_text, output_text
            yield from _slot(role, part, "text", kind)
        elif isinstance(part.get("refusal"), str):
            yield from _slot(role, part, "refusal", kind)
        elif part.get("type") in ("image_url", "input_image", "input_audio", "image"):
            continue  # media: a URL is not prose (masking an IP in it would break the fetch)
        else:
            yield from _any_strings(part, role, kind)


def _chat_message(msg: dict[str, Any]) -> Iterator[TextSlot]:
    role = str(msg.get("role") or "user")
    kind = CONTENT
    if role in ("tool", "function"):
        role, kind = "tool", TOOL_OUTPUT
    content = msg.get("content")
    if isinstance(content, str):
        yield TextSlot(role, content, _at(msg, "content"), kind)
    elif isinstance(content, list):
        yield from _chat_parts(role, content, kind)
    elif isinstance(content, dict):
        yield from _any_strings(content, role, kind)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            yield TextSlot(role, fn["arguments"], _at(fn, "arguments"), ARGUMENTS)
    legacy = msg.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        yield TextSlot(role, legacy["arguments"], _at(legacy, "arguments"), ARGUMENTS)


def chat_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """``/v1/chat/completions``: messages, their parts, tool results and calls, tools."""
    for msg in data.get("messages") or ():
        if isinstance(msg, dict):
            yield from _chat_message(msg)
    if isinstance(data.get("system"), str | list):  # not chat, but some providers forward it
        yield from anthropic_slots({"system": data["system"]})
    prediction = data.get("prediction")  # predicted output: sent upstream as the answer's draft
    if isinstance(prediction, dict):
        content = prediction.get("content")
        if isinstance(content, str):
            yield from _slot("assistant", prediction, "content")
        elif isinstance(content, list):
            yield from _chat_parts("assistant", content, CONTENT)
    yield from tool_definition_slots(data)


# --- legacy completions and embeddings --------------------------------------------


def _str_or_strs(data: Mapping[str, Any], key: str) -> Iterator[TextSlot]:
    value = data.get(key)
    if isinstance(value, str):
        yield TextSlot("user", value, _at(data, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield TextSlot("user", item, _at(value, i))
            # int / list[int]: token ids, nothing a text detector can read


def completion_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """``/v1/completions``: ``prompt`` (str or list of str) and ``suffix``."""
    yield from _str_or_strs(data, "prompt")
    yield from _str_or_strs(data, "suffix")


def embedding_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """``/v1/embeddings``: ``input`` (str or list of str; token arrays are skipped)."""
    yield from _str_or_strs(data, "input")


# --- Responses API ----------------------------------------------------------------


def _responses_item(item: dict[str, Any]) -> Iterator[TextSlot]:
    kind = item.get("type")
    if kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
        out = item.get("output")
        if isinstance(out, str):
            yield TextSlot("tool", out, _at(item, "output"), TOOL_OUTPUT)
        elif isinstance(out, list):
            yield from _chat_parts("tool", out, TOOL_OUTPUT)
        elif isinstance(out, dict):
            yield from _any_strings(out, "tool", TOOL_OUTPUT)
    elif kind in ("function_call", "custom_tool_call"):
        key = "arguments" if kind == "function_call" else "input"
        if isinstance(item.get(key), str):
            yield TextSlot("assistant", item[key], _at(item, key), ARGUMENTS)
    elif kind == "reasoning":
        yield from _any_strings(item, "assistant")
    elif kind == "item_reference":
        return
    elif "role" in item or kind == "message":
        role = str(item.get("role") or "user")
        content = item.get("content")
        if isinstance(content, str):
            yield TextSlot(role, content, _at(item, "content"))
        elif isinstance(content, list):
            yield from _chat_parts(role, content, CONTENT)
        elif content is not None:
            yield from _any_strings(content, role)
    else:
        yield from _any_strings(item, "user")


def responses_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """``/v1/responses``: ``instructions``, ``input`` (str, or items), tool descriptions."""
    if isinstance(data.get("instructions"), str):
        yield TextSlot("system", data["instructions"], _at(data, "instructions"))
    value = data.get("input")
    if isinstance(value, str):
        yield TextSlot("user", value, _at(data, "input"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield TextSlot("user", item, _at(value, i))
            elif isinstance(item, dict):
                yield from _responses_item(item)
    elif value is not None:
        yield from _any_strings(value, "user")
    prompt = data.get("prompt")  # a stored prompt template: its variables are user text
    if isinstance(prompt, dict) and isinstance(prompt.get("variables"), dict):
        yield from _any_strings(prompt["variables"], "user")
    yield from tool_definition_slots(data)


# --- Anthropic messages -----------------------------------------------------------


def _anthropic_blocks(role: str, blocks: list[Any]) -> Iterator[TextSlot]:
    for i, block in enumerate(blocks):
        if isinstance(block, str):
            yield TextSlot(role, block, _at(blocks, i))
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            yield from _slot(role, block, "text")
        elif kind == "tool_result":
            content = block.get("content")
            if isinstance(content, str):
                yield TextSlot("tool", content, _at(block, "content"), TOOL_OUTPUT)
            elif isinstance(content, list):
                for slot in _anthropic_blocks("tool", content):
                    slot.kind = TOOL_OUTPUT
                    yield slot
        elif kind in ("tool_use", "server_tool_use"):
            yield from _any_strings(block.get("input"), role, ARGUMENTS)
        elif kind in ("image", "redacted_thinking"):
            continue
        elif kind == "thinking":
            yield from _slot(role, block, "thinking")
        else:  # document, search_result, web results, future block types
            yield from _any_strings(block, role)


def anthropic_slots(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """``/v1/messages``: ``system`` (str or blocks), message blocks, tool descriptions."""
    system = data.get("system")
    if isinstance(system, str):
        yield TextSlot("system", system, _at(data, "system"))
    elif isinstance(system, list):
        yield from _anthropic_blocks("system", system)
    for msg in data.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = str(msg.get("role") or "user")
        content = msg.get("content")
        if isinstance(content, str):
            yield TextSlot(role, content, _at(msg, "content"))
        elif isinstance(content, list):
            yield from _anthropic_blocks(role, content)
    yield from tool_definition_slots(data)


# --- dispatch -----------------------------------------------------------------------

_BY_CALL_TYPE: dict[str, Callable[[Mapping[str, Any]], Iterator[TextSlot]]] = {
    "completion": chat_slots,
    "acompletion": chat_slots,
    "text_completion": completion_slots,
    "atext_completion": completion_slots,
    "embedding": embedding_slots,
    "aembedding": embedding_slots,
    "responses": responses_slots,
    "aresponses": responses_slots,
    "anthropic_messages": anthropic_slots,
    "aanthropic_messages": anthropic_slots,
}
_BLOCK_TYPES = frozenset({"tool_use", "tool_result", "thinking", "document", "search_result"})


def _looks_anthropic(data: Mapping[str, Any]) -> bool:
    if "system" in data:
        return True
    for msg in data.get("messages") or ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") in _BLOCK_TYPES for b in content
        ):
            return True
    return False


def _by_shape(data: Mapping[str, Any]) -> Iterator[TextSlot]:
    """An unknown route: every text-bearing key any surface uses, scanned conservatively."""
    if "messages" in data:
        yield from (anthropic_slots if _looks_anthropic(data) else chat_slots)(data)
    else:
        if isinstance(data.get("system"), str | list):
            yield from anthropic_slots({"system": data["system"]})
        yield from tool_definition_slots(data)
    if "instructions" in data or "input" in data:
        yield from responses_slots({k: data[k] for k in ("instructions", "input") if k in data})
    yield from completion_slots(data)
    for key in ("query", "documents", "text"):  # rerank, moderation-like and speech bodies
        if key in data:
            yield from _any_strings({key: data[key]}, "user")


def request_slots(data: Mapping[str, Any], call_type: str | None = None) -> Iterator[TextSlot]:
    """Every text ``data`` sends upstream for LiteLLM's ``call_type`` (the route type the
    pre-call hook receives); an unknown or missing ``call_type`` falls back to the shape."""
    extract = _BY_CALL_TYPE.get(str(call_type or ""), _by_shape)
    yield from extract(data)
