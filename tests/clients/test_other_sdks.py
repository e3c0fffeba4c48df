"""Other client libraries against a real gateway: OpenAI Agents SDK, Anthropic, LiteLLM."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.clients.helpers import thread_ids
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_openai_agents_sdk_uses_a_gateway_agent_as_its_model(gw: GatewayProcess, api: str) -> None:
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    client = gw.aclient()
    kind = agents.OpenAIResponsesModel if api == "responses" else agents.OpenAIChatCompletionsModel
    agent = agents.Agent(
        name="front", instructions="Be brief.", model=kind(model="research", openai_client=client)
    )

    async def run() -> tuple[str, str]:
        plain = await agents.Runner.run(agent, "What are budgets?")
        streamed = agents.Runner.run_streamed(agent, "What are budgets?")
        async for _ in streamed.stream_events():
            pass
        return str(plain.final_output), str(streamed.final_output)

    plain, streamed = asyncio.run(run())
    assert plain.startswith("[demo model]") and streamed == plain


def test_anthropic_messages_with_agents_and_thread_metadata(gw: GatewayProcess) -> None:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=gw.root_url, api_key=gw.admin_key, max_retries=0)
    ask = [{"role": "user", "content": "What are budgets?"}]
    msg = client.messages.create(model="research", max_tokens=300, messages=ask)
    assert [b.type for b in msg.content] == ["thinking", "text"]  # steps arrive as thinking
    with client.messages.stream(model="research", max_tokens=300, messages=ask) as stream:
        final = stream.get_final_message()
    assert final.content[-1].text == msg.content[-1].text
    tid = f"anth-{uuid.uuid4().hex[:6]}"
    client.messages.create(
        model="support",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"metadata": {"thread_id": tid}},
    )
    assert tid in thread_ids(gw)


def test_litellm_sdk_thread_from_extra_body_and_header(gw: GatewayProcess) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    common = {
        "api_base": gw.base_url,
        "api_key": gw.admin_key,
        "messages": [{"role": "user", "content": "hi"}],
    }
    tid_body, tid_header = f"ll-body-{uuid.uuid4().hex[:6]}", f"ll-hdr-{uuid.uuid4().hex[:6]}"
    # metadata= stays inside the LiteLLM SDK (its own callbacks): it is never sent.
    r = litellm.completion(
        model="litellm_proxy/support", extra_body={"metadata": {"thread_id": tid_body}}, **common
    )
    assert r.choices[0].message.content.startswith("[demo model]")
    litellm.completion(model="litellm_proxy/support", extra_headers={"x-thread-id": tid_header}, **common)
    assert {tid_body, tid_header} <= thread_ids(gw)
