"""The shipped ``approvals`` agent through a real gateway: nothing happens until a human decides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent_graphs_setup import inner_calls, new_key, overrides
from tests.harness.fake_upstream import FakeUpstream, text, tool_call
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

_APPROVALS = {
    "graph": "agent_routes.approvals.build",
    "memory": True,
    "tools": {"send_email": {}, "create_record": {}},
    "approval_required": ["send_email"],
}
AGENTS = {
    "approvals": {**_APPROVALS, "model": "gpt-4o-mini"},
    "approvals-demo": {**_APPROVALS, "model": "default"},
}
EMAIL = {"to": "ceo@example.com", "subject": "Q3", "body": "The numbers are in."}
# The PII guardrail masks the address before it reaches the provider, so a real model
# proposes the placeholder it saw; the gateway restores it in the model's tool call.
ASK = "Send ceo@example.com the Q3 numbers"
PROPOSED = {**EMAIL, "to": "[EMAIL_1]"}


@pytest.fixture(scope="module")
def gw(gateway_factory: Any, fake_upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    yield gateway_factory(config_overrides=overrides(fake_upstream.url, AGENTS), name="approvals")


@pytest.fixture(scope="module")
def key(gw: GatewayProcess) -> str:
    return new_key(gw, "approvals-e2e")


def _outbox(gw: GatewayProcess) -> list[dict[str, Any]]:
    path = gw.data_dir / "agent_outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _say(gw: GatewayProcess, key: str, model: str, thread: str, content: str) -> Any:
    return gw.client(key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], metadata={"thread_id": thread}
    )


def _last_tool_result(upstream: FakeUpstream) -> str:
    return str([m for m in inner_calls(upstream)[-1].messages if m["role"] == "tool"][-1]["content"])


def test_email_waits_for_approval_then_is_sent_once(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(tool_call("send_email", PROPOSED), model="gpt-4o-mini")
    before = len(_outbox(gw))
    paused = _say(gw, key, "approvals", "appr-1", ASK)
    assert "ceo@example.com" not in inner_calls(fake_upstream)[0].text()  # masked for the provider
    message = paused.choices[0].message.content or ""
    assert "Approval needed" in message and "send_email" in message
    pending = paused.model_extra["gateway"]["interrupt"]
    assert (pending["action"], pending["args"]) == ("send_email", EMAIL)
    assert pending["description"] == "Send an email to ceo@example.com with the subject 'Q3'."
    assert len(_outbox(gw)) == before  # nothing sent yet

    fake_upstream.script(text("Sent."), model="gpt-4o-mini")
    done = _say(gw, key, "approvals", "appr-1", "approve")
    assert done.choices[0].message.content == "Sent."
    (entry,) = _outbox(gw)[before:]
    assert (entry["action"], entry["args"]) == ("send_email", EMAIL)
    # the tool result reaches the provider with the address masked again
    assert (
        _last_tool_result(fake_upstream)
        == f"Email queued for delivery to [EMAIL_1] (outbox id {entry['id']})."
    )
    assert {r.model for r in inner_calls(fake_upstream)} == {"gpt-4o-mini"}


def test_reject_sends_nothing_and_edit_sends_the_edited_email(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    before = len(_outbox(gw))
    fake_upstream.script(tool_call("send_email", PROPOSED), text("Not sent."), model="gpt-4o-mini")
    _say(gw, key, "approvals", "appr-2", ASK)
    done = _say(gw, key, "approvals", "appr-2", "reject: not before the board meeting")
    assert done.choices[0].message.content == "Not sent."
    assert _last_tool_result(fake_upstream).startswith(
        "The user rejected send_email; nothing was done. Reason: not before the board meeting."
    )
    assert len(_outbox(gw)) == before

    fake_upstream.script(tool_call("send_email", PROPOSED), text("Sent to the CFO."), model="gpt-4o-mini")
    _say(gw, key, "approvals", "appr-3", ASK)
    _say(gw, key, "approvals", "appr-3", 'edit: {"to": "cfo@example.com"}')
    (entry,) = _outbox(gw)[before:]
    assert entry["args"] == {**EMAIL, "to": "cfo@example.com"}


def test_record_without_approval_and_the_demo_model(
    gw: GatewayProcess, key: str, fake_upstream: FakeUpstream
) -> None:
    before = len(_outbox(gw))
    fake_upstream.script(
        tool_call("create_record", {"title": "Call Bob", "details": "About Q3"}),
        text("Noted."),
        model="gpt-4o-mini",
    )
    resp = _say(gw, key, "approvals", "appr-4", "Note: call Bob about Q3")
    assert resp.choices[0].message.content == "Noted."  # create_record needs no approval here
    assert [e["action"] for e in _outbox(gw)[before:]] == ["create_record"]

    paused = _say(gw, key, "approvals-demo", "appr-demo-1", "Email bob@example.com about the launch")
    assert paused.model_extra["gateway"]["interrupt"]["args"]["to"] == "bob@example.com"
    done = _say(gw, key, "approvals-demo", "appr-demo-1", "approve")
    # (the address in the demo's answer is PII the model wrote, so the guardrail masks it)
    assert "Email queued for delivery to " in (done.choices[0].message.content or "")
    assert _outbox(gw)[-1]["args"]["to"] == "bob@example.com"
