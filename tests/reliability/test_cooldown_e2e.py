"""One tenant's error must not take a model offline for every tenant (issue 11, item 1).

With the shipped router settings (cooldowns on), a caller's own 4xx inside an agent run
(thread owned by someone else, key blocked mid-run) and a single upstream 404 on a model
with one deployment used to cool the deployment down: every other key then got 429 "No
deployments available" for 30 s, on every instance sharing Redis.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from typing import Any

import openai
import pytest

from tests.harness.fake_upstream import FakeUpstream, delay, error, text, tool_call
from tests.reliability.conftest import Pair, new_key

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]


def _status(fn: Any) -> str:
    try:
        fn()
        return "200"
    except openai.APIStatusError as exc:
        return f"{exc.status_code} {exc.code or ''}".strip()


def _ask(client: Any, model: str, content: str, **kw: Any) -> Any:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def test_a_thread_not_found_does_not_take_the_agent_offline(pair: Pair) -> None:
    a, b = pair
    owner, intruder, bystander = (new_key(a, n)["key"] for n in ("owner", "intruder", "bystander"))
    thread = {"thread_id": f"cool-{uuid.uuid4().hex[:8]}"}
    _ask(a.client(owner), "support", "I lost my API key", metadata=thread)

    # Another tenant probes the thread, more often than allowed_fails, on both instances.
    probes = [
        _status(lambda gw=gw: _ask(gw.client(intruder), "support", "hi", metadata=thread))
        for gw in (a, b) * 3
    ]
    assert probes == ["404 thread_not_found"] * 6

    others = [
        _status(lambda gw=gw: _ask(gw.client(bystander), "support", "How do budgets work?")) for gw in (a, b)
    ]
    owner_again = _status(lambda: _ask(b.client(owner), "support", "And the team budget?", metadata=thread))
    print(f"after 6x 404 thread_not_found: other tenant {others}, owner {owner_again}")  # shown with -s
    assert others == ["200", "200"] and owner_again == "200"


def test_a_key_blocked_mid_run_does_not_take_the_agent_offline(
    pair: Pair, fake_upstream: FakeUpstream
) -> None:
    a, b = pair
    victim, bystander = new_key(a, "blocked-mid-run"), new_key(a, "bystander")
    # The run's first LLM call is slow; the key is blocked meanwhile, so the run's second
    # call (after the tool) is refused with 401 key_blocked inside the run.
    fake_upstream.script(
        delay(2.0, tool_call("lookup_kb", {"query": "budget"})), text("done"), model="gpt-4o-mini"
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(_status, lambda: _ask(a.client(victim["key"]), "slow-support", "Why 429?"))
        time.sleep(0.5)
        with a.http() as http:
            assert http.post(f"/gateway/keys/{victim['key_hash']}/block").status_code == 200
        assert run.result(timeout=60) == "401 key_blocked"

    for gw in (a, b, a):
        assert _status(lambda gw=gw: _ask(gw.client(bystander["key"]), "slow-support", "hello")) == "200"


def test_one_upstream_404_does_not_take_a_single_deployment_model_offline(
    pair: Pair, fake_upstream: FakeUpstream
) -> None:
    a, b = pair
    caller, bystander = new_key(a, "caller")["key"], new_key(a, "bystander")["key"]
    # llama3 has one deployment and no fallback.
    fake_upstream.script(error(404, "The model does not exist"), model="llama3")
    assert _status(lambda: _ask(a.client(caller), "llama3", f"q {uuid.uuid4().hex}")).startswith("404")
    after = [
        _status(lambda gw=gw: _ask(gw.client(bystander), "llama3", f"q {uuid.uuid4().hex}")) for gw in (a, b)
    ]
    print(f"after one upstream 404 on llama3: {after}")
    assert after == ["200", "200"]
