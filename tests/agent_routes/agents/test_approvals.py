"""approvals: side-effecting tools wait for approve / reject / edit; effects land in the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent_routes.agents import approvals
from agent_routes.tools.actions import Outbox
from tests.agent_routes.graph_fakes import Factory, call, make_ctx

EMAIL = {"to": "bob@example.com", "subject": "Launch", "body": "We launch on Monday."}
CFG = {"configurable": {"thread_id": "t1"}}


def _graph(factory: Factory, outbox: Path, **kw: Any) -> Any:
    kw.setdefault("approval_required", ["send_email"])
    kw.setdefault("tools", {"send_email": {"outbox": str(outbox)}, "create_record": {}})
    return approvals.build(
        make_ctx("approvals", "agent_routes.approvals.build", factory, checkpointer=InMemorySaver(), **kw)
    )


def _tool_result(messages: list[Any]) -> ToolMessage:
    return [m for m in messages if isinstance(m, ToolMessage)][-1]


def _echo_tool_result(messages: list[Any], tools: list[dict[str, Any]]) -> str:
    return f"Done: {messages[-1].content}"


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.jsonl"


async def test_approve_sends_once(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("send_email", **EMAIL), _echo_tool_result]
    graph = _graph(factory, outbox)
    paused = await graph.ainvoke({"messages": [HumanMessage("Tell Bob we launch Monday")]}, CFG)

    (pending,) = paused["__interrupt__"]
    assert pending.value == {
        "action": "send_email",
        "args": EMAIL,
        "description": "Send an email to bob@example.com with the subject 'Launch'.",
    }
    assert not outbox.exists()  # nothing happens before the decision

    done = await graph.ainvoke(Command(resume={"decision": "approve"}), CFG)
    (entry,) = Outbox(outbox).entries()
    assert entry["action"] == "send_email"
    assert entry["args"] == EMAIL
    assert (
        done["messages"][-1].content
        == f"Done: Email queued for delivery to bob@example.com (outbox id {entry['id']})."
    )
    assert "__interrupt__" not in done


async def test_reject_does_nothing_and_tells_the_model(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("send_email", **EMAIL), _echo_tool_result]
    graph = _graph(factory, outbox)
    await graph.ainvoke({"messages": [HumanMessage("Tell Bob")]}, CFG)
    done = await graph.ainvoke(Command(resume={"decision": "reject", "reason": "wrong day"}), CFG)
    assert Outbox(outbox).entries() == []
    result = _tool_result(done["messages"]).content
    assert result.startswith("The user rejected send_email; nothing was done. Reason: wrong day.")
    assert done["messages"][-1].content == f"Done: {result}"


async def test_edit_acts_with_the_edited_arguments(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("send_email", **EMAIL), _echo_tool_result]
    graph = _graph(factory, outbox)
    await graph.ainvoke({"messages": [HumanMessage("Tell Bob")]}, CFG)
    await graph.ainvoke(Command(resume={"decision": "edit", "args": {"to": "carol@example.com"}}), CFG)
    (entry,) = Outbox(outbox).entries()
    assert entry["args"] == {**EMAIL, "to": "carol@example.com"}


async def test_invalid_edit_or_bad_arguments_go_back_to_the_model(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("send_email", **EMAIL), _echo_tool_result]
    graph = _graph(factory, outbox)
    await graph.ainvoke({"messages": [HumanMessage("Tell Bob")]}, CFG)
    done = await graph.ainvoke(Command(resume={"decision": "edit", "args": {"to": "not-an-address"}}), CFG)
    result = _tool_result(done["messages"])
    assert result.status == "error"
    assert "the edited arguments are invalid (to); nothing was done" in result.content
    assert Outbox(outbox).entries() == []

    # a bad address from the model fails validation before anyone is asked
    factory.script.steps = [call("send_email", to="bob", subject="s", body="b"), _echo_tool_result]
    out = await graph.ainvoke({"messages": [HumanMessage("again")]}, {"configurable": {"thread_id": "t2"}})
    assert "__interrupt__" not in out
    assert _tool_result(out["messages"]).status == "error"


async def test_actions_not_listed_for_approval_act_at_once(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("create_record", title="Call Bob", details="About the launch"), "Recorded."]
    graph = _graph(factory, outbox)
    out = await graph.ainvoke({"messages": [HumanMessage("note: call Bob")]}, CFG)
    assert "__interrupt__" not in out
    (entry,) = Outbox(outbox).entries()
    assert (entry["action"], entry["args"]["title"]) == ("create_record", "Call Bob")
    assert factory.calls[0].tools == ["send_email", "create_record"]
    assert factory.calls[0].bind_kwargs == {"parallel_tool_calls": False}  # one approval at a time


async def test_demo_model_proposes_an_email_to_the_address_in_the_request(outbox: Path) -> None:
    graph = _graph(Factory(demo=True), outbox)
    paused = await graph.ainvoke({"messages": [HumanMessage("Email bob@example.com about the launch")]}, CFG)
    (pending,) = paused["__interrupt__"]
    assert pending.value["action"] == "send_email"
    assert pending.value["args"]["to"] == "bob@example.com"
    done = await graph.ainvoke(Command(resume="approve"), CFG)  # a bare string is accepted too
    assert "Email queued for delivery to bob@example.com" in done["messages"][-1].content
    assert len(Outbox(outbox).entries()) == 1


def test_outbox_is_idempotent_per_tool_call(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "sub" / "o.jsonl")
    first = box.write("send_email", EMAIL, tool_call_id="c1")
    again = box.write("send_email", {**EMAIL, "to": "x@example.com"}, tool_call_id="c1")
    assert again == first
    assert len(box.entries()) == 1


def test_only_listed_actions_are_offered_and_typos_fail(outbox: Path) -> None:
    graph = _graph(Factory(), outbox, tools={"create_record": {"outbox": str(outbox)}}, approval_required=[])
    assert "create_record" in graph.get_graph().draw_mermaid()
    assert "send_email" not in graph.get_graph().draw_mermaid()
    with pytest.raises(ValueError, match="has no tool"):
        _graph(Factory(), outbox, tools={"send_mail": {}})


async def test_an_address_inside_text_is_used_and_two_addresses_are_refused(outbox: Path) -> None:
    factory = Factory()
    factory.script.steps = [call("send_email", **{**EMAIL, "to": "Bob <bob@example.com>"}), _echo_tool_result]
    graph = _graph(factory, outbox)
    paused = await graph.ainvoke({"messages": [HumanMessage("Tell Bob")]}, CFG)
    assert paused["__interrupt__"][0].value["args"]["to"] == "bob@example.com"

    factory.script.steps = [call("send_email", **{**EMAIL, "to": "a@example.com, b@example.com"}), "Sorry."]
    out = await graph.ainvoke(
        {"messages": [HumanMessage("Tell both")]}, {"configurable": {"thread_id": "t3"}}
    )
    assert "__interrupt__" not in out
    assert _tool_result(out["messages"]).status == "error"
