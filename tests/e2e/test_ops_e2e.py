"""Operations through real gateways: exact metric increments after a scripted sequence,
request ids across response / log / ledger, no secrets in metrics or logs, readiness that
follows Redis and PostgreSQL, pending approvals, several workers on one /metrics.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.e2e.spend_helpers import create_key, ledger_rows, sqlite_url
from tests.harness.fake_upstream import FakeUpstream, text
from tests.harness.gateway import REPO_ROOT, GatewayProcess, make_test_config
from tests.harness.services import PostgresServer, RedisServer

pytestmark = pytest.mark.e2e

TOKEN = "ops-scrape-token-8c1e"
PROMPT_MARK = "zanzibar-quokka-7731"  # a prompt string that must never reach metrics or logs

# Every hook, in the documented order (the shipped config may not list them all yet).
HOOKS = [
    "custom_hooks.cost_router.cost_router",
    "custom_hooks.budget_guard.budget_guard",
    "custom_hooks.spend_ledger.spend_ledger",
    "custom_hooks.metrics.metrics",  # also LiteLLM's metric families (no "prometheus" callback)
    "custom_hooks.request_log.request_log",
    "agent_routes.run_reporter.run_reporter",
]
GUARDRAILS = [
    {
        "guardrail_name": "topic_guard",
        "litellm_params": {
            "guardrail": "custom_hooks.topic_guard.TopicGuard",
            "mode": "pre_call",
            "default_on": True,
        },
    },
]


def _module_exists(dotted: str) -> bool:
    module = dotted.rsplit(".", 1)[0]
    return (REPO_ROOT / (module.replace(".", "/") + ".py")).exists()


# Agents that end on their step limit / timeout (the agents runtime's tiny test graphs).
LIMIT_AGENTS = {
    "loop-agent": {"graph": "tests.agent_routes.tiny_graphs.loop", "model": "gpt-4o-mini", "step_limit": 5},
    "slow-agent": {"graph": "tests.agent_routes.tiny_graphs.slow", "model": "gpt-4o-mini", "timeout_s": 1},
}


def _overrides(upstream_url: str, workdir: Path) -> dict[str, Any]:
    callbacks = [h for h in HOOKS if _module_exists(h)]
    # model_list is replaced by an override: start from the harness's version of the shipped one.
    shipped = yaml.safe_load(make_test_config(upstream_url, None, workdir / "base.yaml").read_text())
    models = list(shipped["model_list"]) + [
        {
            "model_name": name,
            "litellm_params": {"model": f"agent/{name}"},
            "model_info": {"id": f"agent-{name}", "input_cost_per_token": 0, "output_cost_per_token": 0},
        }
        for name in LIMIT_AGENTS
    ]
    return {
        "model_list": models,
        "litellm_settings": {"callbacks": callbacks},
        "router_settings": {"num_retries": 0},
        "guardrails": GUARDRAILS,
        "gateway": {
            "guardrails": {"topics": {"topics": {"weapons": ["build a bomb"]}}},
            "routing": {
                # gpt-4o for a short prompt with max_tokens=10 is estimated ~1.3e-4 USD; its
                # cheaper tier gpt-4o-mini ~8e-6: a 5e-5 ceiling reroutes gpt-4o to gpt-4o-mini.
                "policies": [{"match": {"model": "gpt-4o"}, "max_cost_per_request": 0.00005}],
            },
            "observability": {"health": {"probe_interval_s": 1.0}},
            "agents": {"registry": LIMIT_AGENTS},
        },
    }


# --- helpers ----------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for line in exposition.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            labels = frozenset(_LABEL.findall(m.group(3) or ""))
            samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def scrape(gw: GatewayProcess) -> str:
    r = httpx.get(f"{gw.root_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


class Snapshot:
    def __init__(self, gw: GatewayProcess) -> None:
        self.samples = parse(scrape(gw))

    def get(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def log_lines(gw: GatewayProcess) -> list[dict[str, Any]]:
    out = []
    for line in gw.log_text().splitlines():
        if line.startswith('{"ts"'):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            if parsed.get("event") == "request":
                out.append(parsed)
    return out


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


@pytest.fixture(scope="module")
def gw(
    gateway_factory: Any, fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    overrides = _overrides(fake_upstream.url, tmp_path_factory.mktemp("ops-cfg"))
    yield gateway_factory(config_overrides=overrides, env={"GATEWAY_METRICS_TOKEN": TOKEN}, name="ops")


@pytest.fixture(scope="module")
def team_key(gw: GatewayProcess) -> dict[str, Any]:
    team = f"ops-{uuid.uuid4().hex[:6]}"
    with gw.http() as http:
        r = http.post("/gateway/teams", json={"team_id": team, "max_budget": 100.0, "budget_duration": "30d"})
        assert r.status_code in (200, 201), r.text
    return create_key(gw, team_id=team, key_alias=f"ops-key-{uuid.uuid4().hex[:6]}")


# --- tests ------------------------------------------------------------------------------


def test_request_id_ties_response_log_line_and_ledger_row(
    gw: GatewayProcess, team_key: dict[str, Any], fake_upstream: FakeUpstream
) -> None:
    client = gw.client(api_key=team_key["key"])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=user("a complaint is coming"),
        extra_headers={"x-request-id": "ticket-4711"},
    )
    request_id = raw.headers["x-request-id"]
    assert raw.headers["x-litellm-call-id"] == request_id
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)

    wait_until(lambda: any(line.get("request_id") == request_id for line in log_lines(gw)), what="log line")
    [line] = [ln for ln in log_lines(gw) if ln.get("request_id") == request_id]
    assert line["client_request_id"] == "ticket-4711"
    assert line["status"] == "success" and line["key_alias"] == team_key["key_alias"]
    assert line["team_id"] == team_key["team_id"] and line["served_model"] == "gpt-4o-mini"
    assert line["cost_usd"] > 0 and line["latency_ms"] > 0

    if _module_exists("custom_hooks.spend_ledger.spend_ledger"):
        [row] = ledger_rows(sqlite_url(gw), expect=1, request_id=request_id)
        assert row["key_alias"] == team_key["key_alias"] and row["cost"] == pytest.approx(line["cost_usd"])

    streamed = client.chat.completions.with_raw_response.create(
        model="demo", messages=user("stream"), stream=True
    )
    stream_id = streamed.headers["x-request-id"]
    assert stream_id != request_id and streamed.headers["x-litellm-call-id"] == stream_id
    list(streamed.parse())
    wait_until(lambda: any(ln.get("request_id") == stream_id for ln in log_lines(gw)), what="stream log line")

    with pytest.raises(openai.AuthenticationError) as err:
        gw.client(api_key="sk-not-a-key").chat.completions.create(model="gpt-4o-mini", messages=user("x"))
    assert re.fullmatch(r"[0-9a-f-]{36}", err.value.response.headers["x-request-id"])  # errors carry one too


def test_scripted_sequence_gives_exact_increments(
    gw: GatewayProcess, team_key: dict[str, Any], fake_upstream: FakeUpstream
) -> None:
    team = team_key["team_id"]
    client = gw.client(api_key=team_key["key"])
    before = Snapshot(gw)

    # 1. plain call
    fake_upstream.script(text("plain answer", prompt_tokens=12, completion_tokens=5), model="gpt-4o-mini")
    client.chat.completions.create(model="gpt-4o-mini", messages=user("plain call"))
    # 2. streaming call (demo model, words streamed)
    chunks = list(
        client.chat.completions.create(
            model="demo", messages=user("stream me"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks
    # 3. rerouted call: gpt-4o over the policy ceiling -> its cheaper tier gpt-4o-mini
    fake_upstream.script(text("rerouted", prompt_tokens=9, completion_tokens=4), model="gpt-4o-mini")
    rerouted = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=user("reroute me"), max_tokens=10
    )
    assert rerouted.headers.get("x-litellm-model-group") == "gpt-4o-mini"
    # 4. blocked call (topic guardrail)
    with pytest.raises(openai.BadRequestError) as blocked:
        client.chat.completions.create(model="gpt-4o-mini", messages=user("how do I build a bomb"))
    assert blocked.value.code == "guardrail_blocked"
    # 5. agent run with tools (research agent on the demo model: web_search, then an answer)
    client.chat.completions.create(model="research", messages=user("what is the gateway?"))
    # 6. budget rejection: a key with a budget far below one call
    poor = create_key(gw, team_id=team, max_budget=0.0000001, budget_duration="1d")
    budget_rejections = poor_ok = 0
    for i in range(2):
        try:
            gw.client(api_key=poor["key"]).chat.completions.create(
                model="claude-haiku", messages=user(f"spend {i}")
            )
            poor_ok += 1  # a window's first call may pass: budgets check spend before the call
        except openai.BadRequestError as exc:
            assert exc.code == "budget_exceeded"
            budget_rejections += 1
    assert budget_rejections >= 1

    def settled() -> bool:  # logging callbacks run after the response: wait for the agent run
        return Snapshot(gw).get("gateway_agent_runs_total", agent="research") > before.get(
            "gateway_agent_runs_total", agent="research"
        )

    wait_until(settled, what="the agent run's metrics")
    time.sleep(1.0)
    after = Snapshot(gw)

    def delta(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    chat = {"gen_ai_operation_name": "chat"}
    # the plain call only (the poor key called claude-haiku)
    assert (
        delta(
            "gen_ai_client_token_usage_count",
            **chat,
            gen_ai_request_model="gpt-4o-mini",
            gen_ai_token_type="input",
        )
        == 1
    )
    # rejected calls never reached a model
    assert (
        delta("gen_ai_client_token_usage_count", **chat, gen_ai_request_model="claude-haiku") == 2 * poor_ok
    )
    assert (
        delta(
            "gen_ai_client_token_usage_sum",
            **chat,
            gen_ai_request_model="gpt-4o-mini",
            gen_ai_token_type="input",
        )
        == 12
    )
    assert (
        delta(
            "gen_ai_client_token_usage_count",
            **chat,
            gen_ai_request_model="gpt-4o",
            gen_ai_token_type="output",
        )
        == 1
    )
    assert (
        delta(
            "gen_ai_client_token_usage_sum",
            **chat,
            gen_ai_request_model="gpt-4o",
            gen_ai_response_model="gpt-4o-mini",
            gen_ai_token_type="output",
        )
        == 4
    )
    assert delta("gen_ai_client_operation_duration_seconds_count", **chat, gen_ai_request_model="demo") == 1
    assert delta("gateway_routing_decisions_total", requested_model="gpt-4o", served_model="gpt-4o-mini") == 1
    assert delta("gateway_rejections_total", reason="guardrail_blocked") == 1
    assert (
        delta(
            "gateway_guardrail_actions_total",
            guardrail="topic_guard",
            entity="topic:weapons",
            action="blocked",
        )
        == 1
    )
    assert delta("gateway_rejections_total", reason="budget_exceeded") == budget_rejections
    assert delta("gateway_agent_runs_total", agent="research", outcome="completed") == 1
    assert delta("gateway_agent_run_tool_calls_count", agent="research", tool="web_search") == 1
    assert delta("gateway_agent_run_llm_calls_count", agent="research") == 1
    assert (
        delta(
            "gen_ai_client_operation_duration_seconds_count",
            gen_ai_operation_name="invoke_agent",
            gen_ai_request_model="research",
        )
        == 1
    )
    assert (  # the run's one web_search call, timed by the agent runtime
        delta(
            "gen_ai_client_operation_duration_seconds_count",
            gen_ai_operation_name="execute_tool",
            gen_ai_request_model="research",
            gen_ai_tool_name="web_search",
        )
        == 1
    )
    assert delta("gateway_upstream_failures_total") == 0
    assert delta("gateway_hook_duration_seconds_count", hook="topic_guard") >= 1
    assert delta("gateway_request_overhead_seconds_count") >= 6
    # spend by team = what the ledger charged the team's keys in this sequence
    spent = delta("gateway_spend_usd_total", team=team)
    assert spent > 0
    if _module_exists("custom_hooks.spend_ledger.spend_ledger"):
        rows = ledger_rows(sqlite_url(gw), team_id=team)
        charged = sum(r["cost"] for r in rows)
        assert spent <= charged + 1e-12
        # the team's budget gauges follow the ledger (refreshed every few seconds)
        budget = {"scope": "team", "id": team, "window": "30d"}

        def remaining() -> float:
            return Snapshot(gw).get("gateway_budget_remaining_usd", **budget)

        def follows_ledger() -> bool:
            charged_now = sum(r["cost"] for r in ledger_rows(sqlite_url(gw), team_id=team))
            return charged_now > 0 and remaining() == pytest.approx(100.0 - charged_now)

        wait_until(follows_ledger, timeout=40, what="the team's budget gauge to follow the ledger")
        assert Snapshot(gw).get("gateway_budget_limit_usd", **budget) == 100.0


def test_no_raw_key_or_prompt_in_metrics_or_logs(gw: GatewayProcess, team_key: dict[str, Any]) -> None:
    client = gw.client(api_key=team_key["key"])
    client.chat.completions.create(model="gpt-4o-mini", messages=user(f"remember {PROMPT_MARK}"))
    list(client.chat.completions.create(model="demo", messages=user(f"stream {PROMPT_MARK}"), stream=True))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=user(f"build a bomb {PROMPT_MARK}"))
    with pytest.raises(openai.AuthenticationError):
        gw.client(api_key=team_key["key"] + "x").chat.completions.create(
            model="gpt-4o-mini", messages=user("x")
        )
    time.sleep(1.0)
    exposition = scrape(gw)
    log = gw.log_text()
    raw_key = team_key["key"]
    assert raw_key not in exposition and raw_key not in log
    assert PROMPT_MARK not in exposition
    assert PROMPT_MARK not in log
    assert team_key["key_alias"] in log  # the alias is what identifies the caller


def test_pending_approval_shows_in_the_gauge(gw: GatewayProcess, team_key: dict[str, Any]) -> None:
    client = gw.client(api_key=team_key["key"])
    client.chat.completions.create(
        model="approvals",
        messages=user(
            'Email the team [[tool:send_email {"to": "ops@example.com", "subject": "hi", "body": "x"}]]'
        ),
        extra_body={"metadata": {"thread_id": f"ops-{uuid.uuid4().hex[:8]}"}},
    )
    wait_until(
        lambda: Snapshot(gw).get("gateway_agent_pending_approvals", agent="approvals") >= 1,
        timeout=30,
        what="gateway_agent_pending_approvals{agent=approvals} >= 1",
    )


def test_step_limit_and_timeout_ends(gw: GatewayProcess, team_key: dict[str, Any]) -> None:
    client = gw.client(api_key=team_key["key"])
    before = Snapshot(gw)
    for agent, code in (("loop-agent", "agent_step_limit"), ("slow-agent", "agent_timeout")):
        with pytest.raises(openai.APIStatusError) as exc:
            client.chat.completions.create(model=agent, messages=user("go"))
        assert exc.value.code == code

    def ended() -> bool:
        now = Snapshot(gw)
        return all(
            now.get("gateway_agent_runs_total", agent=a, outcome=o)
            - before.get("gateway_agent_runs_total", agent=a, outcome=o)
            == 1
            for a, o in (("loop-agent", "step_limit"), ("slow-agent", "timeout"))
        )

    wait_until(ended, what="step_limit and timeout ends counted")
    after = Snapshot(gw)
    # an agent's own end is its outcome, not an upstream failure
    assert after.get("gateway_upstream_failures_total") == before.get("gateway_upstream_failures_total")
    slow = {"gen_ai_operation_name": "invoke_agent", "gen_ai_request_model": "slow-agent"}
    assert (
        after.get("gen_ai_client_operation_duration_seconds_count", **slow)
        - before.get("gen_ai_client_operation_duration_seconds_count", **slow)
        == 1
    )


# --- readiness with real Redis and PostgreSQL ---------------------------------------------


def ready(gw: GatewayProcess) -> httpx.Response:
    return httpx.get(f"{gw.root_url}/gateway/health/ready", timeout=30)


@pytest.fixture(scope="module")
def prod_gw(
    gateway_factory: Any, redis_server: RedisServer, postgres_server: PostgresServer
) -> GatewayProcess:
    db = postgres_server.create_database(f"ops_{uuid.uuid4().hex[:8]}")
    return gateway_factory(
        env={"GATEWAY_STORE_URL": db, "GATEWAY_REDIS_URL": redis_server.url, "GATEWAY_METRICS_TOKEN": TOKEN},
        config_overrides={"gateway": {"observability": {"health": {"check_timeout_s": 1.0}}}},
        name="ops-prod",
    )


def test_readiness_follows_redis_and_postgres(
    prod_gw: GatewayProcess, redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    live = httpx.get(f"{prod_gw.root_url}/gateway/health/live", timeout=10)
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    first = ready(prod_gw)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "healthy"
    assert body["checks"]["store"]["ok"] and body["checks"]["redis"]["ok"] and body["checks"]["config"]["ok"]
    assert body["checks"]["store"]["detail"] == "postgresql"

    redis_server.stop()
    try:
        wait_until(lambda: ready(prod_gw).status_code == 503, what="unready without Redis")
        down = ready(prod_gw).json()
        assert down["status"] == "unhealthy" and not down["checks"]["redis"]["ok"]
        assert down["checks"]["store"]["ok"]
        assert "no answer" in down["checks"]["redis"]["error"]
        assert Snapshot(prod_gw).get("gateway_dependency_up", dependency="redis") == 0
    finally:
        redis_server.start()
    wait_until(lambda: ready(prod_gw).status_code == 200, what="ready again with Redis")
    assert Snapshot(prod_gw).get("gateway_dependency_up", dependency="redis") == 1

    postgres_server.stop()
    try:
        wait_until(lambda: ready(prod_gw).status_code == 503, what="unready without PostgreSQL")
        down = ready(prod_gw).json()
        assert not down["checks"]["store"]["ok"] and down["checks"]["redis"]["ok"]
        assert "password" not in json.dumps(down)
    finally:
        postgres_server.start()
    wait_until(lambda: ready(prod_gw).status_code == 200, timeout=30, what="ready again with PostgreSQL")


# --- several workers ----------------------------------------------------------------------


def test_two_workers_one_exposition(gateway_factory: Any, tmp_path: Path) -> None:
    gw2 = gateway_factory(env={"GATEWAY_WORKERS": "2", "GATEWAY_METRICS_TOKEN": TOKEN}, name="ops-workers")
    try:
        n = 8
        for i in range(n):  # a new connection per call, so the calls spread over the workers
            with gw2.client() as client:
                client.chat.completions.create(model="demo", messages=user(f"worker call {i}"))
        labels = {
            "gen_ai_operation_name": "chat",
            "gen_ai_request_model": "demo",
            "gen_ai_token_type": "input",
        }

        def count() -> float:
            return Snapshot(gw2).get("gen_ai_client_token_usage_count", **labels)

        wait_until(lambda: count() == n, what=f"{n} calls counted")  # callbacks run after responses
        # whichever worker answers a scrape (a new connection each), every worker's calls are counted
        for _ in range(4):
            assert count() == n
        assert (gw2.data_dir / "prometheus-multiproc").is_dir()
    finally:
        gw2.stop()
