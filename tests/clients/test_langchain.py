"""LangChain's ChatOpenAI against a real gateway: chat, Responses mode, structured output, threads."""

from __future__ import annotations

import uuid

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.clients.helpers import thread_ids
from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e


class Rating(BaseModel):
    title: str
    score: int


def _chat(gw: GatewayProcess, model: str, **kw: object) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=gw.base_url, api_key=gw.admin_key, max_retries=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("responses_api", [False, True])
@pytest.mark.parametrize("model", ["demo", "research"])
def test_invoke_and_stream(gw: GatewayProcess, model: str, responses_api: bool) -> None:
    llm = _chat(gw, model, use_responses_api=responses_api)
    prompt = f"What are budgets? {uuid.uuid4().hex[:6]}"
    answer = llm.invoke(prompt)
    assert answer.text.startswith("[demo model]")
    chunks = list(llm.stream(prompt))
    assert "".join(c.text for c in chunks) == answer.text


def test_agent_steps_reach_chatopenai_as_think_block(gw: GatewayProcess) -> None:
    # ChatOpenAI drops reasoning_content; the think mode puts the steps in the content.
    llm = _chat(gw, "research", extra_body={"metadata": {"agent_steps": "think"}})
    text = llm.invoke("What are budgets?").text
    assert text.startswith("<think>\nCalling tool web_search") and "</think>" in text


def test_agent_steps_reach_chatopenai_over_responses(gw: GatewayProcess) -> None:
    msg = _chat(gw, "research", use_responses_api=True).invoke("What are budgets?")
    kinds = [b.get("type") for b in msg.content if isinstance(b, dict)]
    assert "reasoning" in kinds and "text" in kinds


@pytest.mark.parametrize("model", ["demo", "research"])
def test_with_structured_output(gw: GatewayProcess, model: str) -> None:
    out = _chat(gw, model).with_structured_output(Rating, method="json_schema").invoke("rate it")
    assert isinstance(out, Rating)


def test_thread_ids_from_extra_body_and_default_headers(gw: GatewayProcess) -> None:
    # model_kwargs={"metadata": ...} never leaves langchain-openai (it sends no metadata),
    # so the documented channels are extra_body and default_headers.
    tid_body, tid_header = f"lc-body-{uuid.uuid4().hex[:6]}", f"lc-hdr-{uuid.uuid4().hex[:6]}"
    _chat(gw, "support", extra_body={"metadata": {"thread_id": tid_body}}).invoke("hi")
    _chat(gw, "support", default_headers={"x-thread-id": tid_header}).invoke("hi")
    assert {tid_body, tid_header} <= thread_ids(gw)
