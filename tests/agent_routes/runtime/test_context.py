"""AgentContext.chat_model: each run's ChatOpenAI carries that run's token and callbacks."""

from __future__ import annotations

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agent_routes.runtime.context import ANSWER_TAG, AgentContext, RunUsage
from custom_hooks.core.sections.agents import AgentSpec

SPEC = AgentSpec.model_validate({"graph": "tests.agent_routes.tiny_graphs.echo", "model": "gpt-4o-mini"})


def _model(token: str, **kw: object) -> ChatOpenAI:
    ctx = AgentContext(name="a", spec=SPEC, base_url="http://127.0.0.1:9/v1", api_key=token, usage=RunUsage())
    model = ctx.chat_model(**kw)  # type: ignore[arg-type]
    assert isinstance(model, ChatOpenAI)
    return model


def test_each_run_gets_its_own_token_callbacks_and_options() -> None:
    a = _model("gwrun_a", answer=True)
    b = _model("gwrun_b", temperature=0)
    a_again = _model("gwrun_c", answer=True)
    for model, token in ((a, "gwrun_a"), (b, "gwrun_b"), (a_again, "gwrun_c")):
        assert isinstance(model.openai_api_key, SecretStr)
        assert model.openai_api_key.get_secret_value() == token
        assert model.root_async_client.api_key == token
        assert model.async_client._client is model.root_async_client  # type: ignore[union-attr]
        assert model.root_client is not None and model.root_client.api_key == token
        assert model.max_retries == 0 and model.include_response_headers and model.stream_usage
        assert model.callbacks is not None and len(model.callbacks) == 1  # type: ignore[arg-type]
    assert a.tags == [ANSWER_TAG] and b.tags is None and b.temperature == 0 and a.temperature is None
    assert a.callbacks[0] is not a_again.callbacks[0]  # type: ignore[index]
    a.model_kwargs["probe"] = 1  # a graph mutating its model must not reach other runs
    assert "probe" not in a_again.model_kwargs
    assert a.root_async_client._client is a_again.root_async_client._client  # one connection pool


def test_options_that_cannot_be_cached_still_work() -> None:
    m = _model("gwrun_d", model_kwargs={"user": "x"})
    assert m.model_kwargs == {"user": "x"} and m.root_async_client.api_key == "gwrun_d"
