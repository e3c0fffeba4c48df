"""The differential profile gives each sample to the subsystem that spent it.

Stacks are written the way py-spy folds them (outermost first, ``func (path:line)``), with
the frames a real recording of the gateway has at those places.
"""

from __future__ import annotations

import pytest

from bench.profile_diff import OTHER, WAITING, Side, shares, subsystem, table

SERVE = [
    "<module> (custom_hooks/cli.py:40)",
    "_run_uvicorn (custom_hooks/server/cli.py:210)",
    "run (asyncio/runners.py:118)",
    "_run (asyncio/events.py:80)",
]
FRONT = [
    *SERVE,
    "FrontDoor.__call__ (custom_hooks/edge/front_door.py:180)",
    "FrontDoor._http (custom_hooks/edge/front_door.py:260)",
    "RequestIdMiddleware.__call__ (custom_hooks/observability/request_context.py:70)",
]
PARKED = [
    "Thread.run (threading.py:975)",
    "_worker (concurrent/futures/thread.py:81)",
]
STREAM = [
    *FRONT,
    "async_data_generator (litellm/proxy/proxy_server.py:5000)",
    "_OutputPass._run (custom_hooks/guardrails/output_pass.py:60)",
    "mask_chunks (custom_hooks/guardrails/stream_surfaces.py:80)",
]
PRE_CALL = [
    *FRONT,
    "ProxyLogging.pre_call_hook (litellm/proxy/utils.py:1400)",
]


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        # our hook, called by LiteLLM's dispatch, calling LiteLLM's token counter: ours
        (
            [
                *PRE_CALL,
                "timed.<locals>.wrapper (custom_hooks/observability/hook_timing.py:50)",
                "CostRouter.async_pre_call_hook (custom_hooks/routing/cost_router.py:175)",
                "token_counter (token_counter.py:300)",
            ],
            "ours: routing, budgets, guardrails",
        ),
        # the hook timer's own time is instrumentation
        (
            [*PRE_CALL, "timed.<locals>.wrapper (custom_hooks/observability/hook_timing.py:52)"],
            "ours: metrics, request log, ledger, tracing",
        ),
        # LiteLLM's dispatch around our hooks is LiteLLM's
        (PRE_CALL, "LiteLLM: proxy request processing"),
        # a request under our pass-through middleware is LiteLLM's, by its innermost subsystem
        (
            [
                *FRONT,
                "Router.acompletion (litellm/router.py:1100)",
                "deepcopy (copy.py:128)",
            ],
            "LiteLLM: router",
        ),
        # ... but the middleware's own time is ours
        (FRONT[:-1], "ours: front door, server, store"),
        # a send wrapper of ours around the server's socket write: the server's
        (
            [
                *FRONT,
                "_scrubbing.<locals>.scrubbed (custom_hooks/edge/front_door.py:383)",
                "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:500)",
            ],
            "HTTP server, ASGI middleware",
        ),
        # LiteLLM deciding whether each guardrail runs, with none of ours on the stack
        (
            [
                *PRE_CALL,
                "CustomGuardrail.should_run_guardrail (litellm/integrations/custom_guardrail.py:200)",
            ],
            "LiteLLM: guardrail dispatch",
        ),
        # a stream: our masker's own work is ours ...
        (
            [*STREAM, "StreamMasker.push (custom_hooks/guardrails/stream_masker.py:120)"],
            "ours: routing, budgets, guardrails",
        ),
        # ... LiteLLM's chunk building, reached through the masker's re-yield, is LiteLLM's ...
        (
            [
                *STREAM,
                "_chain (custom_hooks/guardrails/masking.py:166)",
                "_UpstreamStreamBoundary.__anext__ (litellm/proxy/utils.py:300)",
                "CustomStreamWrapper.__anext__ (streaming_handler.py:2078)",
                "StreamingChoices.__init__ (utils.py:2098)",
            ],
            "LiteLLM: stream wrapper, chunk building",
        ),
        # ... and the boundary LiteLLM puts around each guarded stream is its guarded path
        (
            [
                *STREAM,
                "_chain (custom_hooks/guardrails/masking.py:166)",
                "_UpstreamStreamBoundary.__anext__ (litellm/proxy/utils.py:300)",
            ],
            "LiteLLM: guarded stream path",
        ),
        # an agent run's graph and chat model client
        (
            [
                *SERVE,
                "AgentProvider.acompletion (agent_routes/providers/agent.py:90)",
                "AgentRun.events (agent_routes/runtime/runner.py:325)",
                "Pregel.astream (langgraph/pregel/main.py:2600)",
            ],
            "ours: agent runtime (graph, chat model client)",
        ),
        # LiteLLM's success logging in its logging worker
        (
            [
                *SERVE,
                "Logging.async_success_handler (litellm_logging.py:2000)",
            ],
            "LiteLLM: logging object, callbacks, cost",
        ),
        # a worker thread parked in its queue is waiting; the work it runs is not
        (PARKED, WAITING),
        (
            [*PARKED, "completion (litellm/main.py:1200)"],
            "LiteLLM: completion, provider, response",
        ),
        # the event loop's own time, under the server's frames, is no one's request code
        (
            [
                "<module> (custom_hooks/cli.py:40)",
                "Server.run (uvicorn/server.py:67)",
                "asyncio_run (uvicorn/_compat.py:30)",
                "Runner.run (asyncio/runners.py:118)",
            ],
            OTHER,
        ),
        ([*SERVE], OTHER),
        ([], OTHER),
    ],
)
def test_subsystem(stack: list[str], expected: str) -> None:
    assert subsystem(stack) == expected


def test_shares_weigh_samples_by_count() -> None:
    router = ";".join([*FRONT, "Router.acompletion (litellm/router.py:1100)"])
    ours = ";".join([*PRE_CALL, "BudgetGuard.async_pre_call_hook (custom_hooks/governance/budgets.py:90)"])
    parked = ";".join(PARKED)
    found, total, waiting = shares(f"{router} 3\n{ours} 1\n{parked} 5\nnot a sample line\n")
    assert (total, waiting) == (4, 5)
    assert found == {"LiteLLM: router": 0.75, "ours: routing, budgets, guardrails": 0.25}
    assert shares("") == ({}, 0, 0)


def test_table_is_ms_per_request_by_share_largest_difference_first() -> None:
    base = Side("vanilla", 20.0, {"LiteLLM: router": 0.5, OTHER: 0.5}, 1000)
    other = Side("ours", 24.0, {"LiteLLM: router": 0.25, OTHER: 0.25, "ours: auth": 0.5}, 1200)
    text = table(base, other)
    lines = [line for line in text.splitlines() if not line.startswith("(left out")]
    assert lines[0] == (
        "CPU ms per request: vanilla 20.00 (1000 samples), ours 24.00 (1200 samples), difference +4.00"
    )
    rows = [line.split() for line in lines[3:]]
    assert rows[0][:3] == ["ours:", "auth", "0.00"] and rows[0][-2:] == ["12.00", "+12.00"]
    assert rows[-1][-3:] == ["10.00", "6.00", "-4.00"]  # the router: 10 ms -> 6 ms
    streams = table(base, other, per_chunk=200)
    assert streams.splitlines()[0].startswith("CPU ms per stream:")
    assert streams.splitlines()[-1] == "per chunk (stream / 200): vanilla 100 us, ours 120 us"
