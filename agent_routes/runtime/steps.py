"""How an agent's progress lines ("steps") reach the caller: one choice per request.

Clients show steps differently: the OpenAI SDK and Vercel AI SDK's ``openai.chat()`` read
``reasoning_content`` only if the app asks for it, LangChain's ``ChatOpenAI`` drops it, and
chat UIs (Open WebUI, LibreChat) fold a ``<think>…</think>`` block in the content. So the
mode is chosen per request, else per key, else by config:

- ``reasoning`` (default): steps stream as ``delta.reasoning_content`` (chat), as
  reasoning items with summary parts (Responses); the content is the answer only;
- ``think``: steps go into the content as ``<think>\\n…\\n</think>\\n\\n`` before the answer,
  for clients that show nothing else;
- ``off``: no steps.

Precedence: body ``agent_steps`` > ``metadata.agent_steps`` > the key's metadata
``agent_steps`` > ``gateway.agents.steps_default`` (true = ``reasoning``, false = ``off``).
Accepted values: ``reasoning`` (or ``reasoning_content``, ``true``), ``think``, ``off``
(or ``false``, ``none``); anything else is a 400 naming ``metadata.agent_steps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from custom_hooks.core.errors import BadRequest
from custom_hooks.core.record import identity_from_metadata

__all__ = ["StepsMode", "StepsRenderer", "parse_steps_mode", "steps_mode"]

StepsMode = Literal["reasoning", "think", "off"]

_ALIASES: dict[str, StepsMode] = {
    "reasoning": "reasoning",
    "reasoning_content": "reasoning",
    "true": "reasoning",
    "1": "reasoning",
    "yes": "reasoning",
    "on": "reasoning",
    "think": "think",
    "off": "off",
    "false": "off",
    "0": "off",
    "no": "off",
    "none": "off",
}


def parse_steps_mode(value: Any, *, param: str = "metadata.agent_steps") -> StepsMode | None:
    """``value`` as a mode; None when unset; :class:`BadRequest` when not a known mode."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "reasoning" if value else "off"
    mode = _ALIASES.get(str(value).strip().lower())
    if mode is None:
        raise BadRequest(
            f"agent_steps must be one of reasoning, think, off (got {str(value)[:40]!r}).", param=param
        )
    return mode


def steps_mode(md: Mapping[str, Any], optional_params: Mapping[str, Any], default: bool) -> StepsMode:
    """The steps mode for one request (see the module docstring for the precedence)."""
    ident = identity_from_metadata(md)
    key_md = ident.metadata if ident is not None else {}
    for value, param in (
        (optional_params.get("agent_steps"), "agent_steps"),
        (md.get("agent_steps"), "metadata.agent_steps"),
        (key_md.get("agent_steps") if isinstance(key_md, Mapping) else None, "key metadata.agent_steps"),
    ):
        mode = parse_steps_mode(value, param=param)
        if mode is not None:
            return mode
    return "reasoning" if default else "off"


@dataclass
class StepsRenderer:
    """Turns run events into ``(content, reasoning)`` deltas for one response in ``mode``."""

    mode: StepsMode
    _open: bool = False  # inside a <think> block
    steps: list[str] = field(default_factory=list)

    def step(self, line: str) -> tuple[str | None, str | None]:
        """The delta for one progress line (``(None, None)``: nothing to send)."""
        if self.mode == "off":
            return None, None
        self.steps.append(line)
        if self.mode == "reasoning":
            return None, f"{line}\n"
        prefix = "" if self._open else "<think>\n"
        self._open = True
        return f"{prefix}{line}\n", None

    def answer(self, text: str) -> str:
        """The content for a piece of the answer (closes an open ``<think>`` block first)."""
        if self._open:
            self._open = False
            return "</think>\n\n" + text
        return text

    def whole(self, answer: str) -> tuple[str, str | None]:
        """A non-streamed message: ``(content, reasoning_content)`` from the steps seen."""
        if self.mode == "off" or not self.steps:
            return answer, None
        lines = "\n".join(self.steps)
        if self.mode == "think":
            return f"<think>\n{lines}\n</think>\n\n{answer}", None
        return answer, lines + "\n"
