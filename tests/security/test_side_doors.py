"""Regression tests for the side doors an attacker found: every one must stay shut.

The gateway runs with provider keys in its environment (as production does) and the
caller holds a virtual key limited to the demo model.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.harness.fake_upstream import FakeUpstream
from tests.harness.gateway import GatewayProcess
from tests.security.conftest import assert_openai_error

pytestmark = pytest.mark.e2e

# Provider-native and passthrough routes LiteLLM serves with the operator's credentials.
SIDE_DOORS = [
    ("GET", "/files"),  # /v1/files* is enabled for one team in this suite's config
    ("GET", "/openai/v1/files"),
    ("DELETE", "/v1/files/file-abc"),  # enabled for GET/POST only
    ("GET", "/v1/batches"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/vector_stores"),
    ("DELETE", "/v1/vector_stores/vs_1"),
    ("GET", "/v1/containers"),
    ("GET", "/v1/skills"),
    ("GET", "/openai/v1/models"),
    ("POST", "/openai/v1/chat/completions"),
    ("POST", "/openai_passthrough/v1/chat/completions"),
    ("GET", "/anthropic/v1/models"),
    ("POST", "/azure/chat/completions"),
    ("POST", "/cohere/v1/chat"),
    ("POST", "/mistral/v1/chat/completions"),
    ("POST", "/openrouter/v1/chat/completions"),
    ("POST", "/vertex_ai/v1/projects/p/locations/l/publishers/google/models/gemini:generateContent"),
    ("POST", "/v1beta/models/gemini-pro:generateContent"),
    ("POST", "/interactions"),
    ("POST", "/v1/interactions"),
    ("POST", "/v1/images/generations"),
    ("POST", "/v1/audio/speech"),
    ("POST", "/v1/moderations"),
    ("POST", "/v1/rerank"),
    ("POST", "/v1/fine_tuning/jobs"),
    ("POST", "/v1/threads"),
    ("POST", "/v1/assistants"),
    ("POST", "/queue/chat/completions"),
    ("POST", "/v1/responses/compact"),
    ("POST", "/v1/responses/input_tokens"),
    ("GET", "/model/info"),
    ("GET", "/v1/model/info"),
    ("GET", "/health"),
    ("GET", "/health/readiness"),
    ("GET", "/sso/key/generate"),
    ("GET", "/fallback/login"),
    ("GET", "/onboarding/get_token"),
    ("GET", "/.well-known/openid-configuration"),
    ("POST", "/api/event_logging/batch"),
    ("GET", "/ui/"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("POST", "/key/health"),
    ("GET", "/global/spend/logs"),
    ("POST", "/user/new"),
    ("POST", "/config/update"),
    ("GET", "/mcp"),
    ("POST", "/v1/mcp/server"),
    ("POST", "/a2a/agent/message"),
    ("GET", "/v1/agents"),
    ("POST", "/cache/flushall"),
]


@pytest.mark.parametrize(("method", "path"), SIDE_DOORS)
def test_side_door_is_refused_for_keys_and_admins(
    secure_gw: GatewayProcess, demo_key: str, method: str, path: str, fake_upstream: FakeUpstream
) -> None:
    for key in (demo_key, secure_gw.admin_key):
        r = httpx.request(
            method,
            secure_gw.root_url + path,
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-4o", "input": "x"} if method == "POST" else None,
            timeout=30,
        )
        err = assert_openai_error(r, 404, "route_not_found")
        assert path.split("?")[0][:60] in err["message"]
    assert fake_upstream.requests == []


def test_realtime_websocket_is_refused(secure_gw: GatewayProcess, demo_key: str) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", secure_gw.port), timeout=10) as s:
        s.sendall(
            b"GET /v1/realtime?model=gpt-4o HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + demo_key.encode() + b"\r\n\r\n"
        )
        reply = s.recv(4096)
    assert not reply.startswith(b"HTTP/1.1 101"), reply[:200]


def test_served_routes_still_work(secure_gw: GatewayProcess, demo_key: str) -> None:
    client = secure_gw.client(api_key=demo_key)
    out = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content
    assert [m.id for m in client.models.list().data] == ["demo"]
    assert httpx.get(secure_gw.root_url + "/health/liveliness", timeout=10).status_code == 200
    assert httpx.get(secure_gw.root_url + "/gateway/health/live", timeout=10).status_code == 200


def test_enabled_route_is_admin_only_unless_granted(
    secure_gw: GatewayProcess, demo_key: str, data_key: str
) -> None:
    r = httpx.get(
        secure_gw.root_url + "/v1/files", headers={"Authorization": f"Bearer {demo_key}"}, timeout=30
    )
    assert_openai_error(r, 403)
    for key in (secure_gw.admin_key, data_key):
        r = httpx.get(
            secure_gw.root_url + "/v1/files", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        # Past the gateway: LiteLLM answers (the fake upstream has no files API), not our 404/403.
        assert r.status_code not in (403, 404) or r.json()["error"].get("code") not in (
            "route_not_found",
            "permission_denied",
        ), r.text[:300]
    # Methods outside the grant stay refused.
    r = httpx.delete(
        secure_gw.root_url + "/v1/files/f1", headers={"Authorization": f"Bearer {data_key}"}, timeout=30
    )
    assert_openai_error(r, 404, "route_not_found")


# --- model in the URL or the query string --------------------------------------------------


def test_model_in_path_is_the_model_checked(raw: httpx.Client, fake_upstream: FakeUpstream) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    for path in ("/openai/deployments/gpt-4o/chat/completions", "/engines/gpt-4o/chat/completions"):
        err = assert_openai_error(raw.post(path, json={"messages": msgs}), 403, "model_not_allowed")
        assert err["param"] == "model"
        err = assert_openai_error(
            raw.post(path, json={"model": "demo", "messages": msgs}), 400, "model_conflict"
        )
        assert "gpt-4o" in err["message"] and "demo" in err["message"]
    r = raw.post("/openai/deployments/demo/chat/completions", json={"messages": msgs})
    assert r.status_code == 200, r.text
    assert fake_upstream.requests == []


def test_model_in_query_conflicts_with_body(raw: httpx.Client, fake_upstream: FakeUpstream) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    r = raw.post("/v1/chat/completions?model=gpt-4o", json={"model": "demo", "messages": msgs})
    assert_openai_error(r, 400, "model_conflict")
    r = raw.post("/v1/chat/completions?model=gpt-4o", json={"messages": msgs})
    assert_openai_error(r, 403, "model_not_allowed")
    assert fake_upstream.requests == []


def test_agent_only_key_cannot_reach_the_model_behind_it(secure_gw: GatewayProcess) -> None:
    from tests.security.conftest import _key

    key = _key(secure_gw, key_alias="agent-only", models=["support"])
    with httpx.Client(
        base_url=secure_gw.root_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as c:
        msgs = [{"role": "user", "content": "hi"}]
        for path in ("/openai/deployments/default/chat/completions", "/engines/demo/chat/completions"):
            assert_openai_error(c.post(path, json={"messages": msgs}), 403, "model_not_allowed")
        r = c.post("/v1/chat/completions?model=default", json={"model": "support", "messages": msgs})
        assert_openai_error(r, 400, "model_conflict")


def test_unknown_model_is_404_and_wrong_operation_400(secure_gw: GatewayProcess) -> None:
    client = secure_gw.client()
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="demo", input="hello")
    assert bad.value.code == "model_not_supported"
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="support", input="hello")
    assert bad.value.code == "model_not_supported"


# --- parameters that change where or how a deployment is called ----------------------------

OPERATOR_PARAMS: list[tuple[str, Any]] = [
    ("extra_headers", {"Authorization": "Bearer sk-attacker"}),
    ("api_base", "http://127.0.0.1:9/v1"),
    ("base_url", "http://127.0.0.1:9/v1"),
    ("api_key", "sk-mine"),
    ("api_version", "2024-01-01"),
    ("cache_key", "shared-poison"),
    ("mock_response", "pwned"),
    ("mock_tool_calls", []),
    ("user_config", {"model_list": []}),
    ("input_cost_per_token", 0),
    ("output_cost_per_token", 0),
    ("fallbacks", ["gpt-4o"]),
    ("num_retries", 50),
    ("custom_llm_provider", "openai"),
    ("aws_access_key_id", "AKIA..."),
    ("vertex_credentials", "{}"),
    ("azure_ad_token", "x"),
    ("litellm_logging_obj", {}),
    ("headers", {"x": "y"}),
    ("extra_body", {"api_base": "http://127.0.0.1:9"}),
    ("model_list", []),
    ("cache", {"ttl": 1}),
    ("cache", {"namespace": "other-team"}),
]


@pytest.mark.parametrize(("name", "value"), OPERATOR_PARAMS)
def test_operator_parameter_refused(
    raw: httpx.Client, fake_upstream: FakeUpstream, name: str, value: Any
) -> None:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], name: value}
    err = assert_openai_error(raw.post("/v1/chat/completions", json=body), 400, "parameter_not_allowed")
    assert err["param"] == name
    assert fake_upstream.requests == []


def test_cache_controls_within_policy_pass(raw: httpx.Client) -> None:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "cache": {"no-cache": True}}
    assert raw.post("/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize(
    "key", ["gateway", "gateway_identity", "gateway_guardrail_vault", "user_api_key_alias"]
)
def test_reserved_metadata_refused(raw: httpx.Client, key: str) -> None:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "metadata": {key: "x"}}
    err = assert_openai_error(raw.post("/v1/chat/completions", json=body), 400, "parameter_not_allowed")
    assert err["param"] == f"metadata.{key}"


@pytest.mark.parametrize("key", ["gateway", "user_api_key_metadata"])
def test_reserved_litellm_metadata_refused(raw: httpx.Client, key: str) -> None:
    """The other spelling: a client cannot plant a gateway record or LiteLLM's stamp there either."""
    body = {
        "model": "demo",
        "messages": [{"role": "user", "content": "hi"}],
        "litellm_metadata": {key: {"budget": {"reservation_id": "someone-elses"}}},
    }
    err = assert_openai_error(raw.post("/v1/chat/completions", json=body), 400, "parameter_not_allowed")
    assert err["param"] == f"litellm_metadata.{key}"


def test_hosted_tools_refused_on_responses(raw: httpx.Client) -> None:
    body = {"model": "demo", "input": "hi", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}
    err = assert_openai_error(raw.post("/v1/responses", json=body), 400, "parameter_not_allowed")
    assert err["param"] == "tools[0].type"


def test_admin_may_still_set_operator_parameters(secure_gw: GatewayProcess) -> None:
    with secure_gw.http() as admin:
        body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "num_retries": 0}
        assert admin.post("/v1/chat/completions", json=body).status_code == 200


# --- what responses reveal -----------------------------------------------------------------


def test_internal_headers_not_returned(raw: httpx.Client) -> None:
    r = raw.post(
        "/v1/chat/completions", json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 200
    leaked = [
        h for h in r.headers if h in ("x-litellm-model-api-base", "x-litellm-version", "x-litellm-cache-key")
    ]
    assert leaked == [] and not [h for h in r.headers if h.startswith("llm_provider-")]
    assert r.headers.get("x-request-id")


def test_client_chosen_model_names_never_become_metric_labels(
    secure_gw: GatewayProcess, raw: httpx.Client
) -> None:
    junk = [f"junk-model-{i}-zz" for i in range(30)]
    for name in junk:
        r = raw.post(
            "/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "x"}]}
        )
        assert r.status_code == 404
        r = raw.post(
            "/v1/chat/completions?model=" + name, json={"messages": [{"role": "user", "content": "x"}]}
        )
        assert r.status_code == 404
    with secure_gw.http() as admin:
        text = admin.get("/metrics").text
    assert "junk-model-" not in text


def test_data_directory_is_owner_only(secure_gw: GatewayProcess) -> None:
    import stat

    mode = stat.S_IMODE(secure_gw.data_dir.stat().st_mode)
    assert mode == 0o700, oct(mode)
    files = [p for p in secure_gw.data_dir.iterdir() if p.is_file() and not p.name.endswith(".log")]
    assert files, "the gateway wrote no data files"
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path.name, oct(path.stat().st_mode))


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/gateway/keys", {"duration": "99999999999999999999d"}, "duration"),
        ("/gateway/keys", {"budget_duration": "99999999999999999999d"}, "budget_duration"),
        ("/gateway/keys", {"rpm_limit": 2**70}, "rpm_limit"),
        ("/gateway/keys", {"max_budget": 1e308}, "max_budget"),
        ("/gateway/teams", {"team_id": "t-big", "tpm_limit": 2**64}, "tpm_limit"),
        ("/key/generate", {"duration": "99999999999999999999d"}, "duration"),
    ],
)
def test_overflowing_admin_values_are_400(
    secure_gw: GatewayProcess, path: str, body: dict[str, Any], param: str
) -> None:
    with secure_gw.http() as admin:
        err = assert_openai_error(admin.post(path, json=body), 400)
    assert err["param"] == param


def test_provider_side_response_state_is_not_shared_between_tenants(raw: httpx.Client) -> None:
    # Another tenant's response id must not be readable, deletable or continuable.
    err = assert_openai_error(raw.get("/v1/responses/resp_someone_elses"), 404, "response_not_found")
    assert err["param"] == "response_id"
    assert_openai_error(raw.delete("/v1/responses/resp_someone_elses"), 404, "response_not_found")
    body = {"model": "demo", "input": "continue", "previous_response_id": "resp_someone_elses"}
    err = assert_openai_error(raw.post("/v1/responses", json=body), 400)
    assert err["param"] == "previous_response_id"


def test_every_responses_spelling_checks_the_model(raw: httpx.Client) -> None:
    for path in ("/v1/responses", "/responses", "/openai/v1/responses"):
        err = assert_openai_error(
            raw.post(path, json={"model": "gpt-4o", "input": "hi"}), 403, "model_not_allowed"
        )
        assert err["param"] == "model"
