"""An agent run in-process: fake chat models, a real thread store, real run tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent_routes.providers.agent import refuse_client_tools
from agent_routes.runtime.errors import (
    AgentDepthLimit,
    AgentStepLimit,
    AgentTimeout,
    ThreadNotFound,
    provider_error,
)
from agent_routes.runtime.registry import pending_approvals_by_agent, registry_problems
from agent_routes.runtime.request_ids import request_thread_id
from agent_routes.runtime.runner import (
    AgentRun,
    Caller,
    caller_from_metadata,
    new_agent_run,
)
from agent_routes.runtime.structured import Format, StructuredOutputFailed
from agent_routes.runtime.threads import ThreadStore, open_thread_store
from custom_hooks.auth.run_tokens import RunTokens, derive_secret
from custom_hooks.core.errors import BadRequest
from custom_hooks.core.sections.agents import AgentsConfig
from tests.agent_routes.graph_fakes import Factory, call

# Built explicitly: the shipped config (agent model names, guardrail options), tracing off.
pytestmark = pytest.mark.usefixtures("shipped_services")

G = "tests.agent_routes.tiny_graphs"
AGENTS = AgentsConfig.model_validate(
    {
        "max_depth": 2,
        "registry": {
            "echo": {"graph": f"{G}.echo", "model": "m"},
            "tooly": {"graph": f"{G}.tooly", "model": "m", "approval_required": ["send_email"]},
            "nomem": {"graph": f"{G}.echo", "model": "m", "memory": False},
            "loop": {"graph": f"{G}.loop", "model": "m", "step_limit": 4},
            "slow": {"graph": f"{G}.slow", "model": "m", "timeout_s": 0.2},
        },
    }
)
ALICE = Caller(key_hash="alice", team_id="red")


def _ai(text: str, p: int, c: int) -> AIMessage:
    return AIMessage(text, usage_metadata={"input_tokens": p, "output_tokens": c, "total_tokens": p + c})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ThreadStore]:
    s = await open_thread_store(str(tmp_path / "threads.db"))
    yield s
    await s.close()


@pytest.fixture
def tokens() -> RunTokens:
    return RunTokens(derive_secret("sk-test"))


def _run(
    store: ThreadStore, tokens: RunTokens, factory: Factory, agent: str, text: str, **kw: Any
) -> AgentRun:
    run = new_agent_run(
        agent=agent,
        agents=AGENTS,
        caller=kw.pop("caller", ALICE),
        messages=[{"role": "user", "content": text}],
        store=store,
        tokens=tokens,
        base_url="http://127.0.0.1:1/v1",
        parent_request_id="req-1",
        thread_id=kw.pop("thread_id", None),
        **kw,
    )
    run.model_factory = factory
    return run


async def _finish(run: AgentRun) -> tuple[list[str], Any]:
    steps, outcome = [], None
    async for kind, value in run.events():
        if kind == "step":
            steps.append(value)
        else:
            outcome = value
    return steps, outcome


async def test_completed_run_sums_usage_reports_and_cleans_up(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps += [call("lookup", query="life"), _ai("It is 42.", 20, 4)]
    factory.script.steps[0].usage_metadata = {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
    run = _run(store, tokens, factory, "tooly", "meaning of life?")
    steps, outcome = await _finish(run)
    assert outcome.content == "It is 42." and outcome.outcome == "completed"
    assert any(s.startswith("Calling tool lookup") for s in steps)
    assert any(s.startswith("Tool lookup finished") for s in steps)
    assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (30, 7)
    report = run.report
    assert report["outcome"] == "completed" and report["inner_calls"] == 2
    assert report["tool_calls"] == {"lookup": 1} and report["usage"]["total_tokens"] == 37
    durations = report["tool_durations_s"]
    assert list(durations) == ["lookup"] and len(durations["lookup"]) == 1 and durations["lookup"][0] >= 0
    assert factory.aliases == ["m"]
    assert not await store.exists(run.thread_id)  # private thread: gone after the run
    assert run.gateway_fields(outcome)["thread_id"] is None


async def test_run_token_is_scoped_and_revoked(store: ThreadStore, tokens: RunTokens) -> None:
    seen: list[str] = []

    def factory(model: str, **kw: Any) -> Any:
        f = Factory()
        f.script.steps.append(lambda msgs, tools: _ai("ok", 1, 1))
        return f(model, **kw)

    run = _run(store, tokens, Factory(), "echo", "hi")
    run.model_factory = factory
    original = tokens.aissue

    async def spy(**kw: Any) -> str:
        token = await original(**kw)
        seen.append(token)
        return token

    tokens.aissue = spy  # type: ignore[method-assign]
    await _finish(run)
    claims = tokens.decode(seen[0])
    assert claims is not None and claims.allowed_models == ("m",) and claims.depth == 1
    assert claims.key_hash == "alice" and claims.parent_request_id == "req-1"
    assert await tokens.averify(seen[0]) is None  # revoked at the end


async def test_thread_memory_sends_only_the_new_turn(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps += [_ai("one", 1, 1), _ai("two", 1, 1)]
    await _finish(_run(store, tokens, factory, "echo", "first", thread_id="t1"))
    run = new_agent_run(
        agent="echo",
        agents=AGENTS,
        caller=ALICE,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "second"},
        ],
        store=store,
        tokens=tokens,
        base_url="http://x/v1",
        parent_request_id="r",
        thread_id="t1",
    )
    run.model_factory = factory
    _, outcome = await _finish(run)
    assert outcome.content == "two"
    sent = [m.content for m in factory.calls[-1].messages]
    assert sent == ["first", "one", "second"]  # history from the checkpoint, not duplicated
    with pytest.raises(ThreadNotFound):
        await _finish(
            _run(store, tokens, factory, "echo", "x", thread_id="t1", caller=Caller(key_hash="bob"))
        )


async def test_memory_off_agent_does_not_keep_the_thread(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps.append(_ai("hi", 1, 1))
    await _finish(_run(store, tokens, factory, "nomem", "hello", thread_id="t-nomem"))
    assert not await store.exists("t-nomem")


async def test_interrupt_then_approve(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps.append(call("send_email", to="a@b.c", body="hi"))
    first = _run(store, tokens, factory, "tooly", "email a@b.c")
    _, outcome = await _finish(first)
    assert outcome.outcome == "interrupted" and outcome.interrupt["action"] == "send_email"
    assert first.report["tool_durations_s"] == {}  # paused for approval: not a finished tool call
    assert await pending_approvals_by_agent(store, AGENTS) == {"tooly": 1}
    run1_thread = outcome.content.split("thread_id: ")[1].split(",")[0]
    assert await store.exists(run1_thread)  # kept while the approval is pending
    # a message that is not a decision re-asks without calling the model
    calls_before = len(factory.calls)
    _, again = await _finish(_run(store, tokens, factory, "tooly", "what?", thread_id=run1_thread))
    assert again.outcome == "awaiting_approval" and len(factory.calls) == calls_before
    factory.script.steps.append(_ai("Sent.", 1, 1))
    resumed = _run(store, tokens, factory, "tooly", "approve", thread_id=run1_thread)
    _, done = await _finish(resumed)
    assert done.content == "Sent."
    assert len(resumed.report["tool_durations_s"]["send_email"]) == 1
    assert await pending_approvals_by_agent(store, AGENTS) == {"tooly": 0}  # listed, so a gauge drops to 0
    tool_results = [m.content for m in factory.calls[-1].messages if m.type == "tool"]
    assert tool_results == ["Email sent to a@b.c."]


async def test_limits(store: ThreadStore, tokens: RunTokens) -> None:
    with pytest.raises(AgentStepLimit) as step:
        await _finish(_run(store, tokens, Factory(), "loop", "go"))
    assert step.value.code == "agent_step_limit" and step.value.status_code == 422
    with pytest.raises(AgentTimeout):
        await _finish(_run(store, tokens, Factory(), "slow", "go"))
    deep = Caller(key_hash="alice", parent_run={"run_id": "r0", "depth": 2})
    with pytest.raises(AgentDepthLimit):
        await _finish(_run(store, tokens, Factory(), "echo", "go", caller=deep))


def test_provider_error_keeps_status_and_code() -> None:
    err = provider_error(AgentStepLimit("too many steps"))
    assert getattr(err, "status_code", None) == 422 and getattr(err, "code", None) == "agent_step_limit"


def test_request_parsing() -> None:
    md = {
        "user_api_key_hash": "fallback",
        "user_api_key_metadata": {
            "gateway_identity": {"key_hash": "h1", "team_id": "t", "run": {"run_id": "r", "depth": 1}}
        },
        "headers": {"X-Thread-Id": "from-header"},
    }
    caller = caller_from_metadata(md)
    assert (caller.key_hash, caller.team_id, caller.depth) == ("h1", "t", 1)
    assert request_thread_id(md) == "from-header"
    assert request_thread_id({**md, "thread_id": "from-metadata"}) == "from-metadata"


def test_registry_validation() -> None:
    agents = AgentsConfig.model_validate(
        {
            "registry": {
                "a": {"graph": "agent_routes.nope.build", "model": "missing"},
                "b": {"graph": f"{G}.echo"},
            }
        }
    )
    models = [{"model_name": "a", "litellm_params": {"model": "agent/a"}}, {"model_name": "default"}]
    problems = {(key, fatal) for key, _, _, fatal in registry_problems(agents, models)}
    assert ("gateway.agents.registry.a.graph", True) in problems
    assert ("gateway.agents.registry.a.model", True) in problems
    assert ("gateway.agents.registry.b", False) in problems  # defined but not served: a warning


async def test_live_answer_follows_the_steps(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps += [call("lookup", query="life"), _ai("It is 42.", 20, 4)]
    run = _run(store, tokens, factory, "tooly", "meaning of life?")
    events = [(kind, value) async for kind, value in run.events(live_answer=True)]
    kinds = [k for k, _ in events]
    assert "".join(v for k, v in events if k == "answer") == "It is 42."
    assert kinds[-1] == "done" and kinds.index("answer") > max(i for i, k in enumerate(kinds) if k == "step")
    # the tool-calling reply never became answer text
    assert all("lookup" not in v for k, v in events if k == "answer")


def test_registry_builds_graphs_to_catch_bad_tool_options() -> None:
    from custom_hooks.core.config import load_config

    shipped = load_config(Path(__file__).resolve().parents[3] / "config.yaml")
    assert [p for p in registry_problems(shipped.gateway.agents, shipped.model_list) if p[3]] == []
    bad = shipped.gateway.agents.model_copy(deep=True)
    research = bad.registry["research"]
    bad.registry["research"] = research.model_copy(update={"tools": {**research.tools, "web_serch": {}}})
    found = [p for p in registry_problems(bad, shipped.model_list) if p[3]]
    assert [p[0] for p in found] == ["gateway.agents.registry.research.tools"]
    assert "web_serch" in found[0][1]


def test_tool_timer_is_hashable() -> None:
    # LangChain keeps config-level handlers in sets in the served path (an unhashable
    # dataclass handler failed every research run through the gateway)
    from agent_routes.runtime.context import ToolTimer

    assert len({ToolTimer(), ToolTimer()}) == 2


SCHEMA = Format(
    name="n", schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
)


async def test_response_format_restates_the_answer_as_validated_json(
    store: ThreadStore, tokens: RunTokens
) -> None:
    factory = Factory()
    factory.script.steps += [_ai("It is 42.", 5, 2), _ai('```json\n{"n": 42}\n```', 7, 3)]
    run = _run(store, tokens, factory, "echo", "meaning of life?")
    run.output_format = SCHEMA
    _, outcome = await _finish(run)
    assert json.loads(outcome.content) == {"n": 42}
    structuring = factory.script.calls[-1].messages
    assert "It is 42." in structuring[-1].content and '"n"' in structuring[0].content
    assert run.usage.completion_tokens == 5  # the structuring call is part of the run's usage


async def test_response_format_the_model_cannot_meet_is_a_422(store: ThreadStore, tokens: RunTokens) -> None:
    factory = Factory()
    factory.script.steps += [_ai("It is 42.", 5, 2), _ai('{"n": "forty-two"}', 7, 3)]
    run = _run(store, tokens, factory, "echo", "meaning of life?")
    run.output_format = SCHEMA
    with pytest.raises(StructuredOutputFailed) as err:
        await _finish(run)
    assert err.value.status_code == 422 and err.value.param == "response_format"
    assert "forty-two" not in err.value.message
    assert run.report["outcome"] == "error"


@pytest.mark.parametrize(
    "optional",
    [
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"functions": [{"name": "f"}]},
        {"tool_choice": "required"},
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
    ],
)
def test_client_tools_are_refused_naming_tools(optional: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as err:
        refuse_client_tools(optional)
    assert err.value.param == "tools" and err.value.code == "agent_client_tools_unsupported"


def test_no_tools_or_harmless_tool_choice_pass() -> None:
    for optional in ({}, {"tools": []}, {"tool_choice": "none"}, {"tool_choice": "auto"}, {"tools": None}):
        refuse_client_tools(optional)
