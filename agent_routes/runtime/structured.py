"""Structured output: what ``response_format`` asks for, an example that satisfies it, a check.

- :func:`requested_format`: chat ``response_format`` (``json_schema`` / ``json_object``) or
  Responses ``text.format`` as one :class:`Format` (None for plain text);
- :func:`example_for`: a deterministic JSON value valid against a JSON Schema (the demo
  model's answer, so ``client.beta.chat.completions.parse(...)`` works offline);
- :func:`check`: parse and validate an answer against the format (the agents' last step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from custom_hooks.core.errors import GatewayError

__all__ = ["Format", "StructuredOutputFailed", "check", "example_for", "requested_format", "structure_answer"]


@dataclass(frozen=True)
class Format:
    """A requested JSON output: ``schema`` None means any JSON object (``json_object``)."""

    name: str
    schema: Mapping[str, Any] | None = None

    def response_format(self) -> dict[str, Any]:
        """The chat-completions ``response_format`` asking for this format."""
        if self.schema is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": dict(self.schema)}}


def requested_format(value: Any) -> Format | None:
    """The format ``response_format`` (chat) or ``text.format`` (Responses) asks for."""
    if hasattr(value, "model_json_schema"):  # a pydantic class passed straight to litellm
        return Format(name=str(getattr(value, "__name__", "output")), schema=value.model_json_schema())
    if not isinstance(value, Mapping):
        return None
    kind = value.get("type")
    if kind == "json_object":
        return Format(name="json_object")
    if kind != "json_schema":
        return None
    nested = value.get("json_schema")
    spec: Mapping[str, Any] = nested if isinstance(nested, Mapping) else value
    schema = spec.get("schema")
    return Format(
        name=str(spec.get("name") or "output"), schema=schema if isinstance(schema, Mapping) else {}
    )


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return _resolve(node, root) if isinstance(node, Mapping) else {}


def _string(schema: Mapping[str, Any], text: str) -> str:
    fmt = schema.get("format")
    fixed = {
        "date-time": "2026-01-01T00:00:00Z",
        "date": "2026-01-01",
        "time": "00:00:00",
        "email": "demo@example.com",
        "uri": "https://example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    value = fixed.get(str(fmt), text) if fmt else text
    low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
    if len(value) < low:
        value = value + "x" * (low - len(value))
    if isinstance(high, int):
        value = value[:high]
    return value


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    value: float = 1
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, float(schema["exclusiveMinimum"]) + 1)
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    return int(value) if integer else float(value)


def example_for(schema: Mapping[str, Any], text: str = "", *, _root: Mapping[str, Any] | None = None) -> Any:
    """A deterministic value valid against ``schema`` (strings carry ``text``)."""
    root = _root if _root is not None else schema
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            if key == "allOf":
                merged: dict[str, Any] = {}
                for option in options:
                    merged.update(_resolve(option, root))
                return example_for(merged, text, _root=root)
            return example_for(non_null[0] if non_null else options[0], text, _root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties") or {}
        return {name: example_for(sub, text, _root=root) for name, sub in props.items()}
    if kind == "array":
        raw_items = schema.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        return [example_for(items, text, _root=root) for _ in range(max(1, int(schema.get("minItems") or 0)))]
    if kind == "string":
        return _string(schema, text)
    if kind in {"integer", "number"}:
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    return None


def check(fmt: Format, text: str) -> tuple[Any, str | None]:
    """``(value, None)`` when ``text`` is JSON satisfying ``fmt``, else ``(None, why)``."""
    try:
        value = json.loads(text)
    except ValueError:
        return None, "the answer is not JSON"
    if fmt.schema is None:
        return (value, None) if isinstance(value, dict) else (None, "the answer is not a JSON object")
    try:
        jsonschema.validate(value, dict(fmt.schema))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return None, f"the answer does not match the schema at {where} ({exc.validator} check)"
    except jsonschema.SchemaError:
        return None, "the requested JSON schema is not valid"
    return value, None


_INSTRUCTION = (
    "Rewrite the answer below as JSON{what}. Output only the JSON value, no prose and no code fence."
)


async def structure_answer(model: Any, fmt: Format, question: str, answer: str) -> str:
    """The agent's ``answer`` restated as JSON satisfying ``fmt`` by ``model`` (a chat model).

    One call with ``response_format`` set; raises :class:`StructuredOutputFailed` (422) if the
    reply still does not validate, never returns unvalidated text.
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    what = (
        f" matching this JSON schema: {json.dumps(fmt.schema)}" if fmt.schema is not None else " (an object)"
    )
    bound = model.bind(response_format=fmt.response_format())
    reply = await bound.ainvoke(
        [
            SystemMessage(_INSTRUCTION.format(what=what)),
            HumanMessage(f"Question: {question}\n\nAnswer: {answer}"),
        ]
    )
    content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    text = content.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    value, why = check(fmt, text)
    if why is not None:
        raise StructuredOutputFailed(
            f"The agent could not produce output matching response_format '{fmt.name}': {why}. "
            "Simplify the schema, or call the agent without response_format.",
            param="response_format",
        )
    return json.dumps(value, ensure_ascii=False)


class StructuredOutputFailed(GatewayError):
    status_code = 422
    code = "structured_output_failed"
    type = "invalid_request_error"
