"""Threads across instances: one turn at a time, and one owner (issue 11, items 2 and 3).

Before: two simultaneous messages on one thread were both answered 200 while only one of
them was kept; and two tenants racing for a new thread id could both get 200, one
tenant's message landing in the thread the other owns.
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
import uuid
from typing import Any

import openai
import pytest

from tests.harness.fake_upstream import FakeUpstream
from tests.harness.gateway import GatewayProcess
from tests.reliability.conftest import LEASE_TTL_S, Pair, new_key, thread_messages

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]


def _send(gw: GatewayProcess, key: str, model: str, thread_id: str, content: str) -> str:
    try:
        gw.client(key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], metadata={"thread_id": thread_id}
        )
        return "200"
    except openai.APIStatusError as exc:
        return f"{exc.status_code} {exc.code or ''}".strip()


def _together(*calls: Any) -> list[str]:
    """Run the calls at the same moment (a barrier), one thread each."""
    barrier = threading.Barrier(len(calls))

    def go(call: Any) -> str:
        barrier.wait(timeout=30)
        return str(call())

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(go, calls))


def _user_messages(gw: GatewayProcess, key: str, thread_id: str) -> list[str]:
    r = thread_messages(gw, key, thread_id)
    assert r.status_code == 200, r.text
    return [str(m["content"]) for m in r.json()["messages"] if m["role"] == "user"]


def _rounds(pair: Pair, key: str, model: str, thread_id: str, rounds: int) -> dict[str, str]:
    a, b = pair
    sent: dict[str, str] = {}
    for r in range(rounds):
        texts = [f"round {r} from {name}" for name in ("a", "b")]
        results = _together(
            *(
                lambda gw=gw, t=t: _send(gw, key, model, thread_id, t)
                for gw, t in zip((a, b), texts, strict=True)
            )
        )
        sent.update(zip(texts, results, strict=True))
    return sent


def test_simultaneous_turns_on_one_thread_are_never_lost(pair: Pair, fake_upstream: FakeUpstream) -> None:
    a, _ = pair
    key = new_key(a, "two-tabs")["key"]
    thread_id = f"busy-{uuid.uuid4().hex[:8]}"
    fake_upstream.slow_down("gpt-4o-mini", 0.6)  # each turn's LLM call: the turns overlap
    sent = _rounds(pair, key, "slow-support", thread_id, rounds=6)

    answered = {t for t, s in sent.items() if s == "200"}
    kept = _user_messages(a, key, thread_id)
    print(f"reject: {len(sent)} sent, {len(answered)} answered 200, {len(kept)} kept")  # shown with -s
    assert set(sent.values()) <= {"200", "409 thread_busy"}, sent
    assert sorted(kept) == sorted(answered)  # every answered turn kept, no refused one
    assert len(answered) >= 6  # at least one turn of each round ran


def test_enqueued_turns_wait_their_turn_and_are_all_kept(pair: Pair, fake_upstream: FakeUpstream) -> None:
    a, _ = pair
    key = new_key(a, "queue")["key"]
    thread_id = f"queue-{uuid.uuid4().hex[:8]}"
    fake_upstream.slow_down("gpt-4o-mini", 0.6)
    sent = _rounds(pair, key, "queue-support", thread_id, rounds=3)

    kept = _user_messages(a, key, thread_id)
    print(f"enqueue: {len(sent)} sent, {list(sent.values()).count('200')} answered 200, {len(kept)} kept")
    assert set(sent.values()) == {"200"}, sent
    assert sorted(kept) == sorted(sent)


def test_a_turn_longer_than_the_lease_ttl_keeps_its_thread(pair: Pair, fake_upstream: FakeUpstream) -> None:
    a, b = pair
    key = new_key(a, "long-turn")["key"]
    thread_id = f"long-{uuid.uuid4().hex[:8]}"
    fake_upstream.slow_down("gpt-4o-mini", LEASE_TTL_S + 2.0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_send, a, key, "slow-support", thread_id, "a long question")
        time.sleep(LEASE_TTL_S + 1.0)  # past one TTL: only renewal keeps the lease
        assert _send(b, key, "slow-support", thread_id, "meanwhile") == "409 thread_busy"
        assert first.result(timeout=60) == "200"
    assert _user_messages(a, key, thread_id) == ["a long question"]


def test_a_crashed_instances_turn_frees_the_thread_within_the_ttl(
    pair: Pair, fake_upstream: FakeUpstream
) -> None:
    a, b = pair
    key = new_key(a, "crash")["key"]
    thread_id = f"crash-{uuid.uuid4().hex[:8]}"
    fake_upstream.slow_down("gpt-4o-mini", 30.0)  # the turn on b never finishes: b dies first
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(_send, b, key, "slow-support", thread_id, "the turn that crashes")
        deadline = time.monotonic() + 20
        while not fake_upstream.requests_for("gpt-4o-mini") and time.monotonic() < deadline:
            time.sleep(0.1)  # the turn holds the lease once its LLM call is out
        b.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        assert _send(a, key, "slow-support", thread_id, "too early") == "409 thread_busy"
        fake_upstream.slow_down("gpt-4o-mini", 0.0)
        status = ""
        while time.monotonic() - killed_at < LEASE_TTL_S + 5:
            status = _send(a, key, "slow-support", thread_id, "after the crash")
            if status == "200":
                break
            time.sleep(0.5)
        freed_after = time.monotonic() - killed_at
        print(f"crashed turn's lease freed after {freed_after:.1f} s (ttl {LEASE_TTL_S} s)")
        assert status == "200"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        b.start(timeout=240)  # the package's other tests use b
    assert "after the crash" in _user_messages(a, key, thread_id)


def test_two_tenants_racing_for_a_new_thread_never_share_it(pair: Pair) -> None:
    a, b = pair
    x, y = new_key(a, "tenant-x")["key"], new_key(a, "tenant-y")["key"]
    outcomes: list[tuple[str, str]] = []
    for trial in range(20):
        thread_id = f"race-{trial}-{uuid.uuid4().hex[:8]}"
        sx, sy = _together(
            lambda t=thread_id: _send(a, x, "support", t, "x: my order number is X-1"),
            lambda t=thread_id: _send(b, y, "support", t, "y: my order number is Y-2"),
        )
        outcomes.append((sx, sy))
        for key, status, mine in ((x, sx, "x:"), (y, sy, "y:")):
            r = thread_messages(a, key, thread_id)
            if status == "200":
                assert r.status_code == 200, r.text
                users = [m["content"] for m in r.json()["messages"] if m["role"] == "user"]
                assert users and all(str(u).startswith(mine) for u in users), (trial, users)
            else:
                assert status == "404 thread_not_found" and r.status_code == 404, (trial, status, r.text)
    both = sum(1 for o in outcomes if o == ("200", "200"))
    print(f"claim race: {both}/20 trials both tenants got 200; outcomes {sorted(set(outcomes))}")
    assert all(sorted(o) == ["200", "404 thread_not_found"] for o in outcomes), outcomes
