"""Structured output: the requested format, schema-valid examples, and the check."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import BaseModel

from agent_routes.runtime.structured import Format, check, example_for, requested_format


class Inner(BaseModel):
    label: str
    weight: float | None = None


class Outer(BaseModel):
    title: str
    count: int
    ok: bool
    items: list[Inner]
    kind: str = "x"


SCHEMAS = [
    Outer.model_json_schema(),
    {"type": "object", "properties": {"e": {"enum": ["b", "a"]}, "c": {"const": 3}}, "required": ["e", "c"]},
    {
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": 5, "maxLength": 6, "format": "email"}},
    },
    {"type": "array", "items": {"type": "integer", "minimum": 7}, "minItems": 2},
    {"anyOf": [{"type": "null"}, {"type": "number", "maximum": 0.5}]},
    {"type": ["null", "string"]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_examples_validate_against_their_schema(schema: dict) -> None:
    jsonschema.validate(example_for(schema, "user text"), schema)


def test_requested_format_reads_chat_responses_and_pydantic() -> None:
    chat = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    assert requested_format(chat) == Format(name="n", schema={"type": "object"})
    flat = {"type": "json_schema", "name": "n", "schema": {"type": "object"}}  # Responses text.format
    assert requested_format(flat) == Format(name="n", schema={"type": "object"})
    assert requested_format({"type": "json_object"}) == Format(name="json_object")
    assert requested_format({"type": "text"}) is None and requested_format(None) is None
    assert requested_format(Outer).schema == Outer.model_json_schema()  # type: ignore[union-attr]


def test_check_accepts_valid_json_and_says_why_otherwise_without_echoing_it() -> None:
    fmt = Format(
        name="o", schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    )
    assert check(fmt, '{"n": 2}') == ({"n": 2}, None)
    value, why = check(fmt, '{"n": "secret-user-text"}')
    assert value is None and why and "n" in why and "secret-user-text" not in why
    assert check(fmt, "not json")[1] == "the answer is not JSON"
    assert check(Format(name="json_object"), "[1]")[1] == "the answer is not a JSON object"
