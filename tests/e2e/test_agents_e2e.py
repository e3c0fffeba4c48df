"""Agents through a real gateway: serving, steps, usage, threads, approvals, run tokens.

Graphs are the runtime's tiny test graphs (tests/agent_routes/tiny_graphs.py); their LLM
node calls alias ``gpt-4o-mini``, which the harness points at the fake upstream, so every
inner call goes back through the gateway and the upstream sees it arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.e2e.spend_helpers import HOOKS, ledger_rows, sqlite_url
from tests.harness.fake_upstream import FakeUpstream, error, stream, text, tool_call
from tests.harness.gateway import GatewayProcess, make_test_config

pytestmark = pytest.mark.e2e

_GRAPHS = "tests.agent_routes.tiny_graphs"
_REPORTER = "agent_routes.run_reporter.run_reporter"
_AGENTS = {
    "echo-agent": {"graph": f"{_GRAPHS}.echo", "model": "gpt-4o-mini", "description": "echo"},
    "tool-agent": {
        "graph": f"{_GRAPHS}.tooly",
        "model": "gpt-4o-mini",
        "approval_required": ["send_email"],
        "tools": {"lookup": {}, "send_email": {}},
    },
    "loop-agent": {"graph": f"{_GRAPHS}.loop", "model": "gpt-4o-mini", "step_limit": 5},
    "slow-agent": {"graph": f"{_GRAPHS}.slow", "model": "gpt-4o-mini", "timeout_s": 1},
    "probe-agent": {"graph": f"{_GRAPHS}.token_probe", "model": "gpt-4o-mini"},
    "self-agent": {"graph": f"{_GRAPHS}.recursive", "model": "gpt-4o-mini", "agents": ["self-agent"]},
}


def _overrides(tmp: Path, upstream_url: str) -> dict[str, Any]:
    # The harness points provider models at the fake upstream; start from its result.
    shipped = yaml.safe_load(make_test_config(upstream_url, None, tmp / "base.yaml").read_text())
    models = list(shipped["model_list"])
    for name in _AGENTS:
        models.append(
            {
                "model_name": name,
                "litellm_params": {"model": f"agent/{name}"},
                "model_info": {"id": f"agent-{name}", "input_cost_per_token": 0, "output_cost_per_token": 0},
            }
        )
    settings = shipped.get("litellm_settings") or {}
    providers = [p for p in settings.get("custom_provider_map") or [] if p["provider"] != "agent"]
    providers.append({"provider": "agent", "custom_handler": "agent_routes.provider.agent_provider"})
    callbacks = [c for c in settings.get("callbacks") or [] if c not in (*HOOKS, _REPORTER)]
    callbacks += [*HOOKS, _REPORTER]  # budgets and the ledger: the run's cost is charged once
    probe = {**_AGENTS["probe-agent"], "tools": {"probe": {"token_file": str(tmp / "token")}}}
    agents = {**_AGENTS, "probe-agent": probe}
    return {
        "model_list": models,
        "litellm_settings": {"custom_provider_map": providers, "callbacks": callbacks},
        "gateway": {"agents": {"registry": agents}},
    }


@pytest.fixture(scope="module")
def gw(
    gateway_factory: Any, fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("agents-cfg")
    # Nothing listens at the public URL (port 9, discard): every inner call in this module
    # is served in-process (gateway.agents.inner_calls, default in_process) or it fails.
    gw = gateway_factory(
        config_overrides=_overrides(tmp, fake_upstream.url),
        env={"GATEWAY_PUBLIC_URL": "http://127.0.0.1:9"},
        name="agents",
    )
    gw.probe_token_file = tmp / "token"
    yield gw


def _new_key(gw: GatewayProcess, alias: str, models: list[str] | None = None) -> str:
    body: dict[str, Any] = {"key_alias": alias}
    if models is not None:
        body["models"] = models
    r = httpx.post(
        f"{gw.root_url}/key/generate",
        json=body,
        headers={"Authorization": f"Bearer {gw.admin_key}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


@pytest.fixture(scope="module")
def alice(gw: GatewayProcess) -> str:
    return _new_key(gw, "alice-agents")


@pytest.fixture(scope="module")
def bob(gw: GatewayProcess) -> str:
    return _new_key(gw, "bob-agents")


def _inner(upstream: FakeUpstream) -> list[Any]:
    return [r for r in upstream.requests if r.path.endswith("/chat/completions")]


def test_plain_answer_usage_and_inner_call(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        text("The capital is Paris.", prompt_tokens=11, completion_tokens=5), model="gpt-4o-mini"
    )
    raw = gw.client(alice).chat.completions.with_raw_response.create(
        model="echo-agent", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "The capital is Paris."
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 5)
    inner = _inner(fake_upstream)
    assert [r.model for r in inner] == ["gpt-4o-mini"]
    gateway = resp.model_extra["gateway"]
    assert raw.headers["x-gateway-agent-run-id"] == gateway["run_id"]
    expected_cost = 11 * 0.00000015 + 5 * 0.0000006
    assert float(raw.headers["x-gateway-agent-cost"]) == pytest.approx(expected_cost)
    assert gateway["cost"] == pytest.approx(expected_cost)
    # the outer request itself is priced at zero: the cost was charged on the inner call
    assert float(raw.headers.get("x-litellm-response-cost") or 0.0) == 0.0


def test_streaming_sends_steps_as_reasoning_and_answer_as_content(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("lookup", {"query": "meaning of life"}),
        text("It is 42, per the knowledge base.", prompt_tokens=30, completion_tokens=9),
        model="gpt-4o-mini",
    )
    stream = gw.client(alice).chat.completions.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "What is the meaning of life?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    content, reasoning, usage, tool_deltas, extra = "", "", None, 0, {}
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.model_extra.get("provider_specific_fields"):
            extra = chunk.model_extra["provider_specific_fields"]
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        reasoning += getattr(delta, "reasoning_content", None) or ""
        tool_deltas += len(delta.tool_calls or [])
    assert content == "It is 42, per the knowledge base."
    assert "Calling tool lookup" in reasoning and "Tool lookup finished" in reasoning
    assert tool_deltas == 0
    inner = _inner(fake_upstream)
    assert len(inner) == 2 and {r.model for r in inner} == {"gpt-4o-mini"}
    assert usage is not None and usage.completion_tokens >= 9
    assert extra["gateway"]["outcome"] == "completed"


def test_answer_streams_live_as_the_inner_call_generates_it(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    chunks = ["It is ", "42, ", "per the ", "knowledge base."]
    fake_upstream.script(
        tool_call("lookup", {"query": "meaning of life"}, prompt_tokens=10, completion_tokens=3),
        stream(chunks, prompt_tokens=30, completion_tokens=9),
        model="gpt-4o-mini",
    )
    events: list[tuple[str, str]] = []
    usage, extra = None, {}
    for chunk in gw.client(alice).chat.completions.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "What is the meaning of life?"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.model_extra.get("provider_specific_fields"):
            extra = chunk.model_extra["provider_specific_fields"]
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if getattr(delta, "reasoning_content", None):
            events.append(("step", delta.reasoning_content))
        if delta.content:
            events.append(("content", delta.content))
    content = [text for kind, text in events if kind == "content"]
    # the inner call's chunks arrive as separate deltas, in order, after the steps (the
    # gateway's output guardrails may re-split them at word boundaries)
    assert "".join(content) == "".join(chunks) and len(content) >= len(chunks)
    first = next(i for i, (kind, _) in enumerate(events) if kind == "content")
    assert any(kind == "step" for kind, _ in events[:first])
    assert all(kind == "content" for kind, _ in events[first:])
    inner = _inner(fake_upstream)
    assert [r.json.get("stream") for r in inner] == [True, True]  # inner calls stream too
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (40, 12)
    gateway = extra["gateway"]
    assert gateway["outcome"] == "completed" and gateway["inner_calls"] == 2
    assert gateway["cost"] == pytest.approx(40 * 0.00000015 + 12 * 0.0000006)


def test_steps_can_be_switched_off(gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(tool_call("lookup", {"query": "x"}), text("done"), model="gpt-4o-mini")
    stream = gw.client(alice).chat.completions.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "look up x"}],
        stream=True,
        extra_body={"agent_steps": False},
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in stream if c.choices
    )
    assert reasoning == ""


def test_thread_memory_across_three_requests_and_restart(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    client = gw.client(alice)
    thread = "t-memory-1"
    for word in ("one", "two", "three"):
        r = client.chat.completions.create(
            model="echo-agent",
            messages=[{"role": "user", "content": f"word {word}"}],
            metadata={"thread_id": thread},
        )
        assert r.model_extra["gateway"]["thread_id"] == thread
    last = _inner(fake_upstream)[-1].json["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == ["word one", "word two", "word three"]
    gw.restart()
    fake_upstream.reset()
    gw.client(alice).chat.completions.create(
        model="echo-agent",
        messages=[{"role": "user", "content": "word four"}],
        metadata={"thread_id": thread},
    )
    after = _inner(fake_upstream)[-1].json["messages"]
    assert [m["content"] for m in after if m["role"] == "user"][-2:] == ["word three", "word four"]
    assert len([m for m in after if m["role"] == "user"]) == 4


def test_another_key_cannot_read_or_continue_a_thread(gw: GatewayProcess, alice: str, bob: str) -> None:
    thread = "t-private-1"
    gw.client(alice).chat.completions.create(
        model="echo-agent", messages=[{"role": "user", "content": "secret"}], metadata={"thread_id": thread}
    )
    with pytest.raises(openai.NotFoundError) as exc:
        gw.client(bob).chat.completions.create(
            model="echo-agent", messages=[{"role": "user", "content": "hi"}], metadata={"thread_id": thread}
        )
    assert exc.value.body["code"] == "thread_not_found"  # type: ignore[index]
    for key, status in ((bob, 404), (alice, 200), (gw.admin_key, 200)):
        r = httpx.get(f"{gw.root_url}/agents/threads/{thread}", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == status, r.text
    r = httpx.post(
        f"{gw.root_url}/agents/threads/{thread}/resume",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {bob}"},
    )
    assert r.status_code == 404


def _ask_email(gw: GatewayProcess, key: str, upstream: FakeUpstream, thread: str) -> Any:
    upstream.script(tool_call("send_email", {"to": "the-ceo", "body": "hello"}), model="gpt-4o-mini")
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "Email the CEO"}],
        metadata={"thread_id": thread},
    )
    return raw


def test_approve_flow_over_chat(gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream) -> None:
    thread = "t-approve-1"
    raw = _ask_email(gw, alice, fake_upstream, thread)
    resp = raw.parse()
    text_out = resp.choices[0].message.content
    assert "Approval needed" in text_out and "send_email" in text_out and "approve" in text_out
    interrupt = resp.model_extra["gateway"]["interrupt"]
    assert interrupt["action"] == "send_email" and interrupt["args"]["to"] == "the-ceo"
    assert raw.headers["x-gateway-interrupt-id"] == interrupt["id"]
    assert raw.headers["x-gateway-thread-id"] == thread
    pending = httpx.get(
        f"{gw.root_url}/agents/approvals", headers={"Authorization": f"Bearer {alice}"}
    ).json()
    assert any(p["thread_id"] == thread and p["interrupt_id"] == interrupt["id"] for p in pending["data"])
    fake_upstream.script(text("I sent the email."), model="gpt-4o-mini")
    done = gw.client(alice).chat.completions.create(
        model="tool-agent", messages=[{"role": "user", "content": "approve"}], metadata={"thread_id": thread}
    )
    assert done.choices[0].message.content == "I sent the email."
    tool_msgs = [m for m in _inner(fake_upstream)[-1].json["messages"] if m["role"] == "tool"]
    assert tool_msgs[-1]["content"] == "Email sent to the-ceo."


def test_reject_and_edit_flows(gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream) -> None:
    _ask_email(gw, alice, fake_upstream, "t-reject-1")
    fake_upstream.script(text("OK, not sent."), model="gpt-4o-mini")
    gw.client(alice).chat.completions.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "reject: wrong person"}],
        metadata={"thread_id": "t-reject-1"},
    )
    tool_msgs = [m for m in _inner(fake_upstream)[-1].json["messages"] if m["role"] == "tool"]
    assert "rejected" in tool_msgs[-1]["content"] and "wrong person" in tool_msgs[-1]["content"]

    _ask_email(gw, alice, fake_upstream, "t-edit-1")
    fake_upstream.script(text("Sent to the CFO instead."), model="gpt-4o-mini")
    r = httpx.post(
        f"{gw.root_url}/agents/threads/t-edit-1/resume",
        json={"decision": "edit", "args": {"to": "the-cfo"}},
        headers={"Authorization": f"Bearer {alice}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "Sent to the CFO instead."
    tool_msgs = [m for m in _inner(fake_upstream)[-1].json["messages"] if m["role"] == "tool"]
    assert tool_msgs[-1]["content"] == "Email sent to the-cfo."
    state = httpx.get(f"{gw.root_url}/agents/threads/t-edit-1", headers={"Authorization": f"Bearer {alice}"})
    assert state.json()["pending_approval"] is None


def test_tool_error_goes_back_to_the_model(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        tool_call("lookup", {"query": "explode"}), text("The lookup failed."), model="gpt-4o-mini"
    )
    r = gw.client(alice).chat.completions.create(
        model="tool-agent", messages=[{"role": "user", "content": "explode please"}]
    )
    assert r.choices[0].message.content == "The lookup failed."
    tool_msgs = [m for m in _inner(fake_upstream)[-1].json["messages"] if m["role"] == "tool"]
    assert "exploded" in tool_msgs[-1]["content"]


def test_step_limit_and_timeout_errors(gw: GatewayProcess, alice: str) -> None:
    client = gw.client(alice)
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.chat.completions.create(model="loop-agent", messages=[{"role": "user", "content": "go"}])
    assert exc.value.body["code"] == "agent_step_limit"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.chat.completions.create(model="slow-agent", messages=[{"role": "user", "content": "go"}])
    assert exc.value.body["code"] == "agent_timeout"  # type: ignore[index]


def test_agents_listed_in_models_and_key_model_list_obeyed(gw: GatewayProcess) -> None:
    limited = _new_key(gw, "only-echo", models=["echo-agent"])
    ids = {m.id for m in gw.client(limited).models.list()}
    assert "echo-agent" in ids and "tool-agent" not in ids
    with pytest.raises(openai.APIStatusError) as exc:
        gw.client(limited).chat.completions.create(
            model="tool-agent", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.status_code in (401, 403)
    catalog = httpx.get(f"{gw.root_url}/agents", headers={"Authorization": f"Bearer {limited}"}).json()
    assert [a["id"] for a in catalog["data"]] == ["echo-agent"]
    assert "graph TD" in catalog["data"][0]["mermaid"], catalog["data"][0]


def test_run_token_scoped_during_the_run_and_dead_after(gw: GatewayProcess, alice: str) -> None:
    r = gw.client(alice).chat.completions.create(
        model="probe-agent", messages=[{"role": "user", "content": "go"}]
    )
    seen = json.loads(r.choices[0].message.content or "{}")
    token = gw.probe_token_file.read_text()  # type: ignore[attr-defined]
    assert token.startswith("gwrun_")
    assert seen["own"] == 200  # the agent's configured alias
    assert seen["other"] in (401, 403)  # a model the agent is not configured for
    assert seen["admin"] in (401, 403)  # admin routes
    after = httpx.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert after.status_code == 401, after.text  # the run ended: its token is revoked
    assert "run token" in after.text


def test_depth_limit_stops_an_agent_calling_itself(gw: GatewayProcess, alice: str) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        gw.client(alice).chat.completions.create(
            model="self-agent", messages=[{"role": "user", "content": "loop"}]
        )
    assert exc.value.body["code"] == "agent_depth_limit"  # type: ignore[index]
    assert "max_depth" in str(exc.value)


def test_cost_is_charged_once_on_the_inner_calls(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    key = _new_key(gw, "ledger-agents")
    fake_upstream.script(
        tool_call("lookup", {"query": "q"}, prompt_tokens=40, completion_tokens=6),
        text("Answer.", prompt_tokens=70, completion_tokens=8),
        model="gpt-4o-mini",
    )
    raw = gw.client(key).chat.completions.with_raw_response.create(
        model="tool-agent", messages=[{"role": "user", "content": "q?"}]
    )
    resp = raw.parse()
    run_id = raw.headers["x-gateway-agent-run-id"]
    rows = ledger_rows(sqlite_url(gw), expect=3, agent_run_id=run_id)
    inner = [r for r in rows if r["requested_model"] != "tool-agent"]
    outer = [r for r in rows if r["requested_model"] == "tool-agent"]
    assert len(inner) == 2 and len(outer) == 1
    assert float(outer[0]["cost"] or 0) == 0.0  # the outer request is not charged again
    assert {r["key_hash"] for r in rows} == {outer[0]["key_hash"]}  # inner calls charge the caller's key
    assert {r["requested_model"] for r in inner} == {"gpt-4o-mini"}
    inner_cost = sum(float(r["cost"]) for r in inner)
    assert inner_cost == pytest.approx(float(raw.headers["x-gateway-agent-cost"]))
    assert inner_cost == pytest.approx((40 + 70) * 0.00000015 + (6 + 8) * 0.0000006)
    assert resp.usage is not None and resp.usage.prompt_tokens == 110 and resp.usage.completion_tokens == 14


def test_streaming_interrupt_carries_machine_readable_ids(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(tool_call("send_email", {"to": "someone", "body": "b"}), model="gpt-4o-mini")
    with gw.client(alice).chat.completions.with_streaming_response.create(
        model="tool-agent",
        messages=[{"role": "user", "content": "mail x"}],
        metadata={"thread_id": "t-stream-approve"},
        stream=True,
    ) as response:
        assert response.headers["x-gateway-thread-id"] == "t-stream-approve"
        assert response.headers["x-gateway-agent-run-id"].startswith("run_")
        chunks = list(response.parse())
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Approval needed" in content
    extra = next(
        c.model_extra["provider_specific_fields"]
        for c in chunks
        if c.model_extra.get("provider_specific_fields")
    )
    assert extra["gateway"]["interrupt"]["action"] == "send_email"
    assert extra["gateway"]["thread_id"] == "t-stream-approve"


def test_budget_running_out_mid_run_stops_it(gw: GatewayProcess, fake_upstream: FakeUpstream) -> None:
    r = httpx.post(
        f"{gw.root_url}/gateway/keys",
        json={"key_alias": "agents-small-budget", "max_budget": 0.001, "budget_duration": "1d"},
        headers={"Authorization": f"Bearer {gw.admin_key}"},
    )
    assert r.status_code in (200, 201), r.text
    key, key_hash = r.json()["key"], r.json()["key_hash"]
    # the first inner call is allowed (nothing spent yet) and costs more than the whole budget
    fake_upstream.script(
        tool_call("lookup", {"query": "q"}, prompt_tokens=10_000, completion_tokens=10), model="gpt-4o-mini"
    )
    with pytest.raises(openai.BadRequestError) as exc:
        gw.client(key).chat.completions.create(
            model="tool-agent", messages=[{"role": "user", "content": "q"}]
        )
    assert exc.value.body["code"] == "budget_exceeded"  # type: ignore[index]
    assert len(_inner(fake_upstream)) == 1  # the second inner call never left
    rows = ledger_rows(sqlite_url(gw), expect=1, key_hash=key_hash)
    spent = [r for r in rows if r["requested_model"] == "gpt-4o-mini" and r["status"] == "success"]
    assert sum(float(r["cost"]) for r in spent) == pytest.approx(10_000 * 0.00000015 + 10 * 0.0000006)


def test_failing_inner_call_is_retried_by_the_gateway(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(error(500, "upstream hiccup"), text("recovered"), model="gpt-4o-mini")
    r = gw.client(alice).chat.completions.create(
        model="echo-agent", messages=[{"role": "user", "content": "hi"}]
    )
    assert r.choices[0].message.content == "recovered"
    assert len(_inner(fake_upstream)) == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_threads_and_redis_runs(
    gateway_factory: Any,
    fake_upstream: FakeUpstream,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: Any,
    redis_server: Any,
) -> None:
    tmp = tmp_path_factory.mktemp("agents-pg")
    overrides = _overrides(tmp, fake_upstream.url)
    env = {"GATEWAY_CHECKPOINT_URL": postgres_server.url, "GATEWAY_REDIS_URL": redis_server.url}
    pg = gateway_factory(config_overrides=overrides, env=env, name="agents-pg")
    key = _new_key(pg, "pg-agents")
    thread = "t-pg-memory"
    pg.client(key).chat.completions.create(
        model="echo-agent",
        messages=[{"role": "user", "content": "remember pg"}],
        metadata={"thread_id": thread},
    )
    pg.restart()
    pg.client(key).chat.completions.create(
        model="echo-agent", messages=[{"role": "user", "content": "and now?"}], metadata={"thread_id": thread}
    )
    users = [m["content"] for m in _inner(fake_upstream)[-1].json["messages"] if m["role"] == "user"]
    assert users[-2:] == ["remember pg", "and now?"]
    # run tokens are checked against Redis: live during the run, dead after it
    seen = json.loads(
        pg.client(key)
        .chat.completions.create(model="probe-agent", messages=[{"role": "user", "content": "go"}])
        .choices[0]
        .message.content
        or "{}"
    )
    assert seen["own"] == 200
    after = httpx.post(
        f"{pg.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {(tmp / 'token').read_text()}"},
    )
    assert after.status_code == 401


def test_guardrails_apply_to_the_inner_calls(
    gw: GatewayProcess, alice: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(text("noted"), model="gpt-4o-mini")
    gw.client(alice).chat.completions.create(
        model="echo-agent", messages=[{"role": "user", "content": "My email is ada.lovelace@example.com"}]
    )
    sent = json.dumps(_inner(fake_upstream)[-1].json["messages"])
    assert "ada.lovelace@example.com" not in sent  # masked by the gateway's PII guardrail on the way out


def test_thread_routes_list_describe_and_delete(gw: GatewayProcess, alice: str, bob: str) -> None:
    thread = "t-routes-1"
    gw.client(alice).chat.completions.create(
        model="echo-agent", messages=[{"role": "user", "content": "keep me"}], metadata={"thread_id": thread}
    )

    def call(method: str, path: str, key: str) -> httpx.Response:
        return httpx.request(
            method, f"{gw.root_url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    mine = call("GET", "/agents/threads", alice).json()["data"]
    assert thread in {t["thread_id"] for t in mine}
    assert thread not in {t["thread_id"] for t in call("GET", "/agents/threads", bob).json()["data"]}
    state = call("GET", f"/agents/threads/{thread}", alice).json()
    assert state["agent"] == "echo-agent" and state["messages"][0]["content"] == "keep me"
    assert state["pending_approval"] is None
    agent = call("GET", "/agents/echo-agent", alice).json()
    assert agent["model"] == "gpt-4o-mini" and "graph TD" in agent["mermaid"]
    assert call("DELETE", f"/agents/threads/{thread}", bob).status_code == 404
    assert call("DELETE", f"/agents/threads/{thread}", alice).json()["deleted"] is True
    assert call("GET", f"/agents/threads/{thread}", alice).status_code == 404


def test_inner_calls_over_http_when_configured(
    gateway_factory: Any, fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # inner_calls: http sends them to the public URL: here the gateway's own port, then a
    # closed one (the run fails on its inner call: nothing served it in-process).
    tmp = tmp_path_factory.mktemp("agents-http")
    overrides = _overrides(tmp, fake_upstream.url)
    overrides["gateway"]["agents"]["inner_calls"] = "http"
    gw = gateway_factory(config_overrides=overrides, name="agents-http", start=False)
    gw.extra_env["GATEWAY_PUBLIC_URL"] = gw.root_url
    gw.start()
    key = _new_key(gw, "http-agents")
    answer = stream(["Over ", "HTTP."], prompt_tokens=7, completion_tokens=3)
    fake_upstream.script(answer, model="gpt-4o-mini")
    text_out = "".join(
        c.choices[0].delta.content or ""
        for c in gw.client(key).chat.completions.create(
            model="echo-agent", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if c.choices
    )
    assert text_out == "Over HTTP."
    assert [r.model for r in _inner(fake_upstream)] == ["gpt-4o-mini"]
    gw.stop()
    gw.extra_env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:9"
    gw.start()
    fake_upstream.script(text("never sent"), model="gpt-4o-mini")
    before = len(_inner(fake_upstream))
    ask = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.APIError):
        gw.client(key).chat.completions.create(model="echo-agent", messages=ask)  # type: ignore[arg-type]
    assert len(_inner(fake_upstream)) == before
