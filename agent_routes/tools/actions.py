"""Side-effecting actions for the approvals agent: ``send_email`` and ``create_record``.

Both write to an outbox, a JSON-lines file in the data directory
(``<data_dir>/agent_outbox.jsonl``, one object per action with ``id``, ``action``,
``args``, ``tool_call_id`` and ``created_at``), from which a mailer or a CRM sync would
pick them up. The gateway itself never talks SMTP: the outbox is the real, checkable
effect.

A tool listed in the agent's ``approval_required`` asks a human first
(:func:`agent_routes.runtime.context.request_approval`, which calls ``interrupt()``) and acts
only on ``approve``, or on ``edit`` with the edited arguments (merged over the proposed
ones and validated again). On ``reject`` nothing is written and the model is told so.
Writes are idempotent per tool call id, so a resumed or retried run never sends twice.

Options (``tools.send_email`` / ``tools.create_record`` in config.yaml)::

    send_email: {outbox: /var/lib/gateway/agent_outbox.jsonl}   # default: <data_dir>/agent_outbox.jsonl
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool
from pydantic import BaseModel, Field, ValidationError, field_validator

from agent_routes.runtime.context import ApprovalDecision, request_approval

__all__ = ["ACTIONS", "Outbox", "make_action_tools", "outbox_path"]

OUTBOX_FILE = "agent_outbox.jsonl"
_LOCK = threading.Lock()


class Outbox:
    """An append-only JSON-lines file of performed actions."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        """Every action written so far, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def write(self, action: str, args: Mapping[str, Any], *, tool_call_id: str) -> dict[str, Any]:
        """Record ``action(args)`` once per ``tool_call_id``; returns the (existing) entry."""
        with _LOCK:
            for entry in self.entries():
                if tool_call_id and entry.get("tool_call_id") == tool_call_id:
                    return entry
            entry = {
                "id": f"{action}_{uuid.uuid4().hex[:12]}",
                "action": action,
                "args": dict(args),
                "tool_call_id": tool_call_id,
                "created_at": time.time(),
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
            return entry


def outbox_path(outbox: str | None = None) -> Path:
    """Where the outbox lives: the ``outbox`` option, else ``<data_dir>/agent_outbox.jsonl``."""
    if outbox:
        return Path(outbox)
    from custom_hooks.core.settings import get_settings

    return get_settings().data_dir.resolve() / OUTBOX_FILE  # created on the first write, not here


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class SendEmail(BaseModel):
    """Send an email (queued in the outbox for delivery)."""

    @field_validator("to", mode="before")
    @classmethod
    def _address_only(cls, value: Any) -> Any:
        """``"Bob <bob@example.com>"`` -> ``"bob@example.com"``: keep the one address given."""
        found = _ADDRESS.findall(value) if isinstance(value, str) else []
        return found[0] if len(found) == 1 else value

    to: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, description="The recipient's email address."
    )
    subject: str = Field(min_length=1, max_length=200, description="The subject line.")
    body: str = Field(min_length=1, max_length=10_000, description="The message text.")


class CreateRecord(BaseModel):
    """Create a record (e.g. a CRM note or a ticket) in the outbox."""

    title: str = Field(min_length=1, max_length=200, description="A short title for the record.")
    details: str = Field(min_length=1, max_length=10_000, description="What the record says.")


ACTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "send_email": (SendEmail, "Send an email to someone. Needs a human's approval when configured."),
    "create_record": (CreateRecord, "Create a record, such as a CRM note or a ticket."),
}


def _describe(action: str, args: Mapping[str, Any]) -> str:
    if action == "send_email":
        return f"Send an email to {args.get('to')} with the subject {str(args.get('subject'))[:80]!r}."
    return f"Create a record titled {str(args.get('title'))[:80]!r}."


def _done(action: str, entry: Mapping[str, Any]) -> str:
    args = entry["args"]
    if action == "send_email":
        return f"Email queued for delivery to {args['to']} (outbox id {entry['id']})."
    return f"Record {args['title']!r} created (outbox id {entry['id']})."


def _make_tool(
    action: str,
    outbox: Outbox,
    needs_approval: bool,
    ask: Callable[..., ApprovalDecision],
) -> BaseTool:
    schema, description = ACTIONS[action]

    class Args(schema):  # type: ignore[valid-type,misc]
        tool_call_id: Annotated[str, InjectedToolCallId]

    Args.__name__ = schema.__name__

    def run(tool_call_id: str, **proposed: Any) -> str:
        args = schema.model_validate(proposed).model_dump()
        if needs_approval:
            decision = ask(action=action, args=args, description=_describe(action, args))
            if decision["decision"] == "reject":
                reason = decision.get("reason")
                because = f" Reason: {reason}." if reason else ""
                return (
                    f"The user rejected {action}; nothing was done.{because} "
                    "Do not retry unless the user asks again."
                )
            if decision["decision"] == "edit":
                try:
                    args = schema.model_validate({**args, **decision.get("args", {})}).model_dump()
                except ValidationError as exc:
                    fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
                    raise ValueError(
                        f"the edited arguments are invalid ({fields}); nothing was done"
                    ) from None
        entry = outbox.write(action, args, tool_call_id=tool_call_id)
        return _done(action, entry)

    return StructuredTool.from_function(func=run, name=action, description=description, args_schema=Args)


def make_action_tools(
    names: list[str],
    outbox: Outbox,
    *,
    needs_approval: Callable[[str], bool],
    ask: Callable[..., ApprovalDecision] = request_approval,
) -> list[BaseTool]:
    """The action tools named (keys of :data:`ACTIONS`: ``send_email``, ``create_record``), in that order.

    Names are checked against the agent's configured tools by the caller (``unknown_tools``).
    """
    return [_make_tool(n, outbox, needs_approval(n), ask) for n in names]
