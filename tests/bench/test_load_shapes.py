"""The shapes of the load: the bench upstream streams the number of chunks a prompt asks
for, the mix cycle holds the shares it promises, the servers take turns fairly."""

from __future__ import annotations

import itertools
import json

import pytest

from bench._measure import PHASES, turns
from bench._mix import plan
from bench._upstream import DEFAULT_CHUNKS, MAX_CHUNKS, chunks_wanted, stream_events


def _body(content: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "first chunks=3"}, {"role": "user", "content": content}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_body("benchmark stream chunks=200"), 200),
        (_body("benchmark stream"), DEFAULT_CHUNKS),  # only the last message counts
        (_body("chunks=0"), 1),
        (_body("chunks=99999"), MAX_CHUNKS),
        (_body([{"type": "text", "text": "chunks=50"}]), DEFAULT_CHUNKS),
        (_body(None), DEFAULT_CHUNKS),
        ({"messages": []}, DEFAULT_CHUNKS),
        ({"messages": "chunks=7"}, DEFAULT_CHUNKS),
        ({}, DEFAULT_CHUNKS),
    ],
)
def test_chunks_wanted(body: dict[str, object], expected: int) -> None:
    assert chunks_wanted(body) == expected


@pytest.mark.parametrize("n", [1, 10, 200])
def test_stream_events_are_n_content_chunks_between_role_finish_and_usage(n: int) -> None:
    events = stream_events(n)
    assert len(events) == n + 3
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    assert events[-1].endswith(b"data: [DONE]\n\n")
    payloads = [json.loads(e.split(b"\n\n")[0][len(b"data: ") :]) for e in events]
    contents = [p["choices"][0]["delta"].get("content") for p in payloads[1 : n + 1]]
    assert contents == [f"tok{i} " for i in range(n)]
    assert payloads[n + 1]["choices"][0]["finish_reason"] == "stop"
    assert payloads[-1]["usage"]["completion_tokens"] == n


def test_mix_cycle_is_80_18_2_and_spread() -> None:
    cycle = plan()
    assert len(cycle) == 50
    assert (cycle.count("plain"), cycle.count("stream"), cycle.count("agent")) == (40, 9, 1)
    twice = cycle + cycle
    assert not any(a == b == "stream" for a, b in itertools.pairwise(twice)), "streams in bursts"
    assert plan(1, 1, 0) in (["plain", "stream"], ["stream", "plain"])


def test_servers_take_turns_in_alternating_order_and_only_ours_runs_agents() -> None:
    order = turns(["vanilla", "ours"], [*PHASES, "mix"], {"ours"})
    assert order == [
        ("c1", "vanilla"),
        ("c1", "ours"),
        ("c32", "ours"),
        ("c32", "vanilla"),
        ("stream10", "vanilla"),
        ("stream10", "ours"),
        ("stream_long", "ours"),
        ("stream_long", "vanilla"),
        ("agent", "ours"),
        ("mix", "ours"),
        ("mix", "vanilla"),
    ]
