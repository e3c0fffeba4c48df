"""What a client may put in an LLM request body: pure checks that raise a 400 naming ``param``.

Three families, all before any model, hook or provider sees the request:

- **Operator-only parameters.** Anything that changes where or how a deployment is
  called (credentials, ``api_base``/``base_url``, ``extra_headers``, LiteLLM's own kwargs
  such as ``mock_response``, prices, fallbacks, retries, ``cache_key``, ``user_config``)
  is refused for non-admin callers. The rule is LiteLLM's own list of the kwargs it owns
  (``litellm.types.utils.all_litellm_params``) plus the provider-credential spellings,
  minus the few that are the client's to set (``metadata``, ``tags``, ...), so a
  LiteLLM upgrade that adds a knob refuses it by default.
- **Reserved metadata.** ``metadata.gateway*`` and ``metadata.user_api_key*`` belong to
  the gateway (decisions, identity, the PII vault id); a client may not pre-set them.
- **Shape and range.** The body is a JSON object; messages, prompts and inputs have the
  wire format's types; ``max_tokens``, ``n``, ``temperature`` and friends are in range;
  identifiers (model, user, thread and response ids) carry no control characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from custom_hooks.core.errors import BadRequest

__all__ = ["InvalidParameter", "check_header_ids", "check_request", "parse_body", "refused_parameter"]


class InvalidParameter(BadRequest):
    code = "invalid_parameter"


class ForbiddenParameter(BadRequest):
    code = "parameter_not_allowed"


# LiteLLM-owned kwargs a client may still send.
_CLIENT_OWNED = frozenset(
    {"metadata", "litellm_metadata", "tags", "guardrails", "litellm_session_id", "litellm_trace_id"}
)
# Not in LiteLLM's list, but they change where or how the provider is called.
_EXTRA_FORBIDDEN = frozenset(
    {
        "extra_headers",
        "extra_body",
        "extra_query",
        "base_url",
        "api_type",
        "organization",
        "deployment_id",
        "user_config",
        "azure_ad_token",
        "drop_params",
        "additional_drop_params",
        "num_retries",
        "max_retries",
        "fallbacks",
        "context_window_fallback_dict",
        "model_list",
        "litellm_params",
        "proxy_server_request",
        "secret_fields",
        "callbacks",
        "success_callback",
        "failure_callback",
        "input_callback",
        "service_account_json",
        "credentials",
        "mcp_servers",
    }
)
# Hosted tools run by the provider on the operator's account (their files, vector stores,
# containers, MCP servers): an operator decision, like credentials.
_HOSTED_TOOLS = frozenset(
    {
        "file_search",
        "mcp",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "local_shell",
    }
)
_FORBIDDEN_PATTERN = re.compile(
    r"^(mock_|aws_|vertex_|azure_|watsonx_|sagemaker_|bedrock_|litellm_|_)|(_api_key|_api_base|_secret|_password)$"
)
_CACHE_CONTROLS = frozenset({"no-cache", "no-store"})
_RESERVED_METADATA = ("gateway", "user_api_key")
_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ANTHROPIC_ROLES = frozenset({"user", "assistant"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@lru_cache(maxsize=1)
def _litellm_owned() -> frozenset[str]:
    from litellm.types.utils import all_litellm_params

    return frozenset(all_litellm_params)


@lru_cache(maxsize=1)
def _user_content_types() -> frozenset[str]:
    from litellm.types.llms.openai import ValidUserMessageContentTypes

    return frozenset(ValidUserMessageContentTypes)


def _user_part_types(content: Any, param: str) -> None:
    """A user message's part types must be ones LiteLLM accepts (else it answers with a 500)."""
    if not isinstance(content, list):
        return
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind not in _user_content_types():
            raise _bad(f"{param}[{i}].type", f"'{kind[:40]}' is not a content part type of a user message.")


def refused_parameter(name: str) -> bool:
    """Whether a top-level body parameter is the operator's, not the client's."""
    if name in _CLIENT_OWNED:
        return False
    return name in _EXTRA_FORBIDDEN or name in _litellm_owned() or bool(_FORBIDDEN_PATTERN.search(name))


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object (strict: no NaN/Infinity), else a 400."""
    if not raw.strip():
        raise InvalidParameter("The request body is empty. Send a JSON object.", param=None)
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidParameter(
            "The request body is not valid JSON (NaN and Infinity are not JSON). Send a JSON object.",
            param=None,
        ) from None
    if not isinstance(body, dict):
        raise InvalidParameter(f"The request body must be a JSON object, not {_json_type(body)}.", param=None)
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad(param: str, message: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid '{param}': {message}", param=param)


def _identifier(value: Any, param: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _bad(param, f"expected a string, got {_json_type(value)}.")
    if len(value) > 512:
        raise _bad(param, "longer than 512 characters.")
    if _CONTROL.search(value):
        raise _bad(param, "contains control characters (newlines, NUL, ...). Use printable characters only.")


def _int(body: Mapping[str, Any], name: str, lo: int, hi: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, f"expected an integer, got {_json_type(value)}.")
    if not lo <= value <= hi:
        raise _bad(name, f"must be between {lo} and {hi}, got {value}.")


def _number(body: Mapping[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, f"expected a number, got {_json_type(value)}.")
    if not lo <= value <= hi:
        raise _bad(name, f"must be between {lo} and {hi}, got {value}.")


def _bool(body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(name, f"expected true or false, got {_json_type(value)}.")


def _content(value: Any, param: str, *, block_types: bool = True) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise _bad(param, f"expected a string or an array of content parts, got {_json_type(value)}.")
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise _bad(f"{param}[{i}]", f"expected a content part object, got {_json_type(part)}.")
        if block_types and not isinstance(part.get("type"), str):
            raise _bad(f"{param}[{i}].type", "every content part needs a string 'type'.")
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise _bad(f"{param}[{i}].text", f"expected a string, got {_json_type(text)}.")


def _messages(body: Mapping[str, Any], *, required: bool, anthropic: bool = False) -> None:
    messages = body.get("messages")
    if messages is None:
        if required:
            raise _bad("messages", "this operation needs a non-empty array of messages.")
        return
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "expected a non-empty array of message objects.")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad(f"messages[{i}]", f"expected a message object, got {_json_type(msg)}.")
        role = msg.get("role")
        if not isinstance(role, str) or not role:
            raise _bad(f"messages[{i}].role", "every message needs a string 'role'.")
        if role not in (_ANTHROPIC_ROLES if anthropic else _CHAT_ROLES):
            roles = ", ".join(sorted(_ANTHROPIC_ROLES if anthropic else _CHAT_ROLES))
            raise _bad(f"messages[{i}].role", f"'{role[:40]}' is not a role; use one of {roles}.")
        _content(msg.get("content"), f"messages[{i}].content")
        if role == "user" and not anthropic:
            _user_part_types(msg.get("content"), f"messages[{i}].content")
        calls = msg.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _bad(f"messages[{i}].tool_calls", "expected an array.")
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise _bad(
                        f"messages[{i}].tool_calls[{j}]", "expected {'function': {'name', 'arguments'}}."
                    )
                if fn.get("arguments") is not None and not isinstance(fn.get("arguments"), str):
                    raise _bad(f"messages[{i}].tool_calls[{j}].function.arguments", "expected a JSON string.")


def _prompt_like(body: Mapping[str, Any], name: str, *, required: bool) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(name, "this operation needs it (a string or an array of strings).")
        return
    if isinstance(value, str):
        return
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return
        if all(
            isinstance(v, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
            for v in value
        ):
            return
    raise _bad(name, "expected a string, an array of strings, or an array of token arrays.")


def _responses_input(body: Mapping[str, Any]) -> None:
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _bad("instructions", f"expected a string, got {_json_type(instructions)}.")
    value = body.get("input")
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise _bad("input", f"expected a string or an array of input items, got {_json_type(value)}.")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(f"input[{i}]", f"expected an input item object, got {_json_type(item)}.")
        if "content" in item:
            _content(item.get("content"), f"input[{i}].content")


def _system(body: Mapping[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise _bad("system", f"expected a string or an array of text blocks, got {_json_type(system)}.")
    if isinstance(system, list):
        _content(system, "system")


def _anthropic(body: Mapping[str, Any]) -> None:
    _messages(body, required=True, anthropic=True)
    _system(body)


_SHAPES: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "chat": lambda b: _messages(b, required=True),
    "completions": lambda b: _prompt_like(b, "prompt", required=True),
    "embeddings": lambda b: _prompt_like(b, "input", required=True),
    "responses": _responses_input,
    "messages": _anthropic,
    "count_tokens": _anthropic,
}
_MAX_TOKENS = 10_000_000


def _ranges(body: Mapping[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        _int(body, name, 1, _MAX_TOKENS)
    _int(body, "n", 1, 128)
    _int(body, "top_logprobs", 0, 20)
    _int(body, "top_k", 0, 100_000)
    _int(body, "dimensions", 1, 100_000)
    _int(body, "seed", -(2**63), 2**63 - 1)
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _number(body, "timeout", 0.001, 3600)
    _bool(body, "stream")
    _bool(body, "logprobs")
    _bool(body, "parallel_tool_calls")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _bad("stop", "expected a string or an array of strings.")
    for name in ("tools", "functions"):
        value = body.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(t, dict) for t in value)):
            raise _bad(name, "expected an array of tool objects.")
    _response_format(body.get("response_format"))
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise _bad("tool_choice", 'expected "none", "auto", "required" or a tool choice object.')


_RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def _response_format(value: Any) -> None:
    """OpenAI's ``response_format``: ``{"type": text|json_object|json_schema, ...}``.

    LiteLLM answers anything else (``[]``, ``{"type": "x"}``) with a 500 from deep inside
    its provider mapping; this is the client's mistake, so it is a 400 naming the field.
    """
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in _RESPONSE_FORMATS:
        raise _bad(
            "response_format", 'expected an object with "type": "text", "json_object" or "json_schema".'
        )
    if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), dict):
        raise _bad("response_format", 'a "json_schema" response format needs a "json_schema" object.')


def _operator_params(body: Mapping[str, Any]) -> None:
    for name in body:
        if name == "cache":
            continue
        if refused_parameter(name):
            raise ForbiddenParameter(
                f"The parameter '{name[:100]}' is set by the gateway operator, not by clients. "
                "Remove it from the request.",
                param=name[:100],
            )
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if isinstance(kind, str) and kind in _HOSTED_TOOLS:
                raise ForbiddenParameter(
                    f"The hosted tool '{kind}' runs on the operator's provider account and is not "
                    "available to clients. Use function tools instead.",
                    param=f"tools[{i}].type",
                )
    cache = body.get("cache")
    if cache is not None:
        if not isinstance(cache, dict) or any(
            k not in _CACHE_CONTROLS or not isinstance(v, bool) for k, v in cache.items()
        ):
            raise ForbiddenParameter(
                "Only {'no-cache': true} and {'no-store': true} may be set in 'cache'; "
                "the cache key and lifetime are the gateway's.",
                param="cache",
            )


def _metadata(body: Mapping[str, Any]) -> None:
    for field in ("metadata", "litellm_metadata"):
        md = body.get(field)
        if md is None:
            continue
        if not isinstance(md, dict):
            raise _bad(field, f"expected an object, got {_json_type(md)}.")
        for key in md:
            if isinstance(key, str) and key.startswith(_RESERVED_METADATA):
                raise ForbiddenParameter(
                    f"'{field}.{key[:100]}' is reserved for the gateway. Use another metadata key.",
                    param=f"{field}.{key[:100]}",
                )
        for name in ("thread_id", "conversation_id", "session_id"):
            _identifier(md.get(name), f"{field}.{name}")


_HEADER_IDS = (b"x-thread-id", b"x-conversation-id")


def check_header_ids(headers: Any) -> None:
    """Refuse identifier headers (``x-thread-id``, ...) with control characters or over 512 bytes."""
    for name, value in headers:
        if name in _HEADER_IDS and (len(value) > 512 or any(b < 0x20 or b == 0x7F for b in value)):
            label = name.decode()
            raise InvalidParameter(
                f"Invalid '{label}' header: use up to 512 printable characters.", param=label
            )


def check_request(body: Mapping[str, Any], *, kind: str | None, operator: bool) -> None:
    """Raise a 400 :class:`BadRequest` naming ``param`` for what a client may not send.

    ``operator`` callers (admin keys, the master key) may set operator-only parameters;
    shape, range and identifier checks apply to everyone.
    """
    if not operator:
        _operator_params(body)
    _metadata(body)
    _identifier(body.get("model"), "model")
    _identifier(body.get("user"), "user")
    for name in ("previous_response_id", "conversation"):
        if not isinstance(body.get(name), dict):
            _identifier(body.get(name), name)
    shape = _SHAPES.get(kind or "")
    if shape is not None:
        shape(body)
    _ranges(body)
