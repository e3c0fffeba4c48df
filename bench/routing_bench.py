"""CPU cost of the cost router per request (pre-call hook + response headers hook).

    .venv/bin/python -m bench.routing_bench          # ~15 s

The hook is called directly (no HTTP) with the shipped config.yaml's catalog and a
policy that reroutes, so the figures are routing's own cost: reading the request,
counting prompt tokens (LiteLLM's counter, or characters/4 with token_counting: approx),
the policy decision, the metadata record, and the headers. Compare with the ~14-17 ms of
CPU the configured proxy itself spends per request on this kind of 2-core machine (priced
deployments, custom auth, opentelemetry-sdk installed, LITELLM_LOG=ERROR).
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import time
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse

from custom_hooks.core.config import load_config
from custom_hooks.core.pricing import ModelCatalog
from custom_hooks.core.sections.routing import RoutingConfig
from custom_hooks.routing.cost_router import CostRouter

SENTENCE = "The gateway estimates what a request will cost before it sends it upstream. "


def _prompt(size: int) -> str:
    return (SENTENCE * (size // len(SENTENCE) + 1))[:size]


def _request(model: str, size: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": _prompt(size)},
        ],
        "max_tokens": 1000,
        **extra,
    }


def _router(token_counting: str) -> CostRouter:
    cfg = load_config("config.yaml")
    routing = cfg.gateway.routing.model_copy(
        update={
            "token_counting": token_counting,
            "default": RoutingConfig.model_validate({"default": {"max_cost_per_request": 0.008}}).default,
        }
    )
    catalog = ModelCatalog.from_model_list(cfg.model_list, routing)
    return CostRouter(config=routing, catalog=catalog)


async def _per_call_us(router: CostRouter, data: dict[str, Any], n: int) -> float:
    user = UserAPIKeyAuth(
        api_key="h", team_id="t", metadata={"gateway_identity": {"tier": "free", "budgets": []}}
    )
    response = ModelResponse()
    response._hidden_params = {"response_cost": 0.0001, "cache_hit": False}
    samples = []
    for _ in range(5):
        batch = [copy.deepcopy(data) for _ in range(n)]
        start = time.process_time()
        for d in batch:
            out = await router.async_pre_call_hook(user, None, d, "acompletion")
            await router.async_post_call_response_headers_hook(out, user, response)
        samples.append((time.process_time() - start) / n * 1e6)
    return statistics.median(samples)


async def main() -> None:
    exact, approx = _router("exact"), _router("approx")
    cases = [
        ("gpt-4o, 200 B prompt, rerouted", "gpt-4o", 200, 400),
        ("gpt-4o, 4 KB prompt, rerouted", "gpt-4o", 4096, 200),
        ("gpt-4o, 64 KB prompt, rerouted", "gpt-4o", 65536, 20),
        ("claude-sonnet, 4 KB prompt, rerouted", "claude-sonnet", 4096, 100),
        ("auto, 4 KB prompt", "auto", 4096, 200),
    ]
    print(f"{'case':52} {'exact µs':>10} {'approx µs':>10}")
    for label, model, size, n in cases:
        e = await _per_call_us(exact, _request(model, size), n)
        a = await _per_call_us(approx, _request(model, size), n)
        print(f"{label:52} {e:10.0f} {a:10.0f}")


if __name__ == "__main__":
    asyncio.run(main())
