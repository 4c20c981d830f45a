"""The gateway through the real app: OpenAI routes, fallbacks, timeouts, streams,
Anthropic translation, caches, key policies, traces, and the configuration API.

Upstreams are real HTTP servers on free ports (``local_upstream``), so every call
crosses a socket the way it does in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from tests.conftest import admin_client
from tests.llm.conftest import serving

from triops.core.gateway_settings import (
    CacheConfig,
    DeploymentConfig,
    GatewaySettings,
    RouteConfig,
    UpstreamConfig,
)
from triops.core.principals import Role
from triops.core.settings import Settings
from triops.llm.gateway.cache import ExactCache
from triops.llm.gateway.resilience import CircuitBreaker
from triops.server.app import create_app
from triops.server.runtime import Runtime
from triops.store import records
from triops.store.repos import keys

UPSTREAM_SECRET = "sk-upstream-secret-value"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    from triops.llm.gateway.local_upstream import create_app as upstream_app

    with serving({name: upstream_app(name) for name in ("primary", "backup")}) as urls:
        yield urls


def gateway_settings(urls: dict[str, str], **extra: object) -> GatewaySettings:
    def dep(upstream: str, model: str) -> DeploymentConfig:
        return DeploymentConfig(upstream=upstream, model=model)

    return GatewaySettings(
        upstreams=[
            UpstreamConfig(name="primary", base_url=urls["primary"] + "/v1",
                           api_key=UPSTREAM_SECRET),
            UpstreamConfig(name="backup", base_url=urls["backup"] + "/v1"),
            UpstreamConfig(name="claude", provider="anthropic", base_url=urls["backup"] + "/v1",
                           api_key="anthropic-secret"),
            UpstreamConfig(name="slowpoke", base_url=urls["primary"] + "/v1", timeout_s=0.5),
        ],
        routes=[
            RouteConfig(alias="chat", deployments=[dep("primary", "gpt-4o-mini")]),
            RouteConfig(alias="backup-chat", deployments=[dep("backup", "gpt-4o-mini")]),
            RouteConfig(alias="flaky", deployments=[dep("primary", "fail-503")],
                        fallbacks=["backup-chat"]),
            RouteConfig(alias="broken", deployments=[dep("primary", "fail-500")]),
            RouteConfig(alias="slow", deployments=[dep("slowpoke", "hang")]),
            RouteConfig(alias="slow-then-backup", deployments=[dep("slowpoke", "hang")],
                        fallbacks=["backup-chat"]),
            RouteConfig(alias="cut", deployments=[dep("primary", "cut")]),
            RouteConfig(alias="bare", deployments=[dep("primary", "no-usage")]),
            RouteConfig(alias="claude", deployments=[dep("claude", "claude-3-5-haiku-latest")]),
            RouteConfig(alias="embed", deployments=[dep("primary", "text-embedding-3-small")]),
        ],
        retries=1, backoff_s=0.01, **extra,
    )


@pytest.fixture
def settings(store_url: str, tmp_path: Path, upstreams: dict[str, str]) -> Settings:
    return Settings(store=store_url, artifacts=str(tmp_path / "artifacts"), home=tmp_path,
                    gateway=gateway_settings(upstreams))


@pytest.fixture(scope="module")
def runtime(upstreams, gateway_runtime) -> Runtime:
    """One store and server runtime for the module: a fresh PostgreSQL database per test
    would spend most of the module's time creating databases. Tests stay independent
    through ``isolated`` below."""
    return gateway_runtime("gateway", gateway_settings(upstreams))


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with admin_client(runtime) as test_client:
        yield test_client


_seen = {"record_id": 0}


@pytest.fixture(autouse=True)
def isolated(request):
    """Each test sees only its own spans, a closed circuit and an empty cache."""
    if "client" not in request.fixturenames:
        yield
        return
    rt = request.getfixturevalue("runtime")
    request.getfixturevalue("client")
    gateway = rt.gateway
    gateway.recorder.flush()
    with rt.db.read() as session:
        newest = list(records.scan(session, "default", "span", newest_first=True, limit=1))
    _seen["record_id"] = newest[0].id if newest else 0
    config = gateway.settings
    gateway.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s)
    gateway.cache = ExactCache(config.cache.ttl_s, config.cache.max_entries)
    yield


def spans(runtime: Runtime, project: str = "default") -> list[dict]:
    runtime.gateway.recorder.flush()
    with runtime.db.read() as session:
        return [r.data for r in records.scan(session, project, "span")
                if r.id > _seen["record_id"]]


def chat(client: TestClient, model: str = "chat", **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}
    return client.post("/v1/chat/completions", json=body,
                       headers={"x-triops-cache": "no"} if "cache" not in extra else {})


def received(url: str) -> list[dict]:
    return httpx.get(url + "/_received").json()


# -- the OpenAI routes -------------------------------------------------------------


def test_chat_completion_is_proxied_and_traced(client, runtime, upstreams):
    httpx.delete(upstreams["primary"] + "/_received")
    response = client.post(
        "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hello there"}],
              "user": "ada", "temperature": 0.2,
              "response_format": {"type": "json_object"}},
        headers={"x-triops-session-id": "s-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "primary says: hello there"
    assert body["upstream"] == "primary"
    sent = received(upstreams["primary"])[-1]
    assert sent["model"] == "gpt-4o-mini"  # the deployment's model, not the alias
    assert sent["response_format"] == {"type": "json_object"}
    (span,) = spans(runtime)
    attrs = span["attributes"]
    assert span["trace_id"] == response.headers["x-triops-trace-id"]
    assert span["kind"] == "LLM" and span["status"] == "OK"
    assert attrs["llm.model_name"] == "gpt-4o-mini"
    assert attrs["triops.gateway.route"] == "chat"
    assert attrs["llm.input_messages"][0]["content"] == "hello there"
    assert attrs["llm.output_messages"][0]["content"] == "primary says: hello there"
    assert attrs["llm.invocation_parameters"]["temperature"] == 0.2
    assert (attrs["llm.token_count.prompt"], attrs["llm.token_count.completion"]) == (10, 4)
    assert attrs["triops.tokens_estimated"] is False
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens
    assert attrs["triops.cost_usd"] == pytest.approx((10 * 0.15 + 4 * 0.6) / 1e6)
    assert attrs["user.id"] == "ada" and attrs["session.id"] == "s-1"
    assert attrs["triops.key"] and attrs["triops.time_to_first_token_ms"] > 0
    assert attrs["triops.gateway.cache"] == "miss"


def test_upstream_secrets_are_sent_upstream(client, upstreams):
    httpx.delete(upstreams["primary"] + "/_received")
    httpx.delete(upstreams["backup"] + "/_received")
    assert chat(client).status_code == 200
    assert chat(client, model="claude").status_code == 200
    assert chat(client, model="backup-chat").status_code == 200
    assert httpx.get(upstreams["primary"] + "/_credentials").json() == [
        f"Bearer {UPSTREAM_SECRET}"]
    # Anthropic's header for the claude upstream; none for the keyless backup upstream
    assert httpx.get(upstreams["backup"] + "/_credentials").json() == ["anthropic-secret", ""]


def test_invalid_json_is_400_in_openai_shape_and_writes_nothing(client, runtime):
    response = client.post("/v1/chat/completions", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "not valid JSON" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert spans(runtime) == []


@pytest.mark.parametrize("body, param", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "chat", "messages": []}, "messages"),
    ({"model": "chat", "messages": ["hi"]}, "messages[0]"),
    ({"model": "chat", "messages": [{"role": "user"}], "stream": "yes"}, "stream"),
    ([1, 2], None),
])
def test_malformed_requests_name_the_parameter(client, body, param):
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unknown_model_is_404_and_models_lists_aliases(client):
    response = chat(client, model="nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert {"chat", "flaky", "claude"} <= {m["id"] for m in models["data"]}
    assert client.get("/v1/models/chat").json()["id"] == "chat"


def test_missing_key_is_401_in_openai_shape(client):
    response = client.post("/v1/chat/completions", json={}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_deployment_named_directly(client):
    response = chat(client, model="backup/gpt-4o")
    assert response.status_code == 200
    assert response.json()["upstream"] == "backup"


def test_failing_upstream_falls_back_after_retries(client, runtime, upstreams):
    httpx.delete(upstreams["primary"] + "/_received")
    response = chat(client, model="flaky")
    assert response.status_code == 200
    assert response.json()["upstream"] == "backup"
    assert len(received(upstreams["primary"])) == 2  # one try and one retry, then fallback
    (span,) = spans(runtime)
    assert span["attributes"]["triops.gateway.attempts"] == [
        "primary/fail-503: 503", "primary/fail-503: 503", "backup/gpt-4o-mini: ok"]


def test_upstream_failure_without_fallback_is_502(client, runtime):
    response = chat(client, model="broken")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    (span,) = spans(runtime)
    assert span["status"] == "ERROR" and "500" in span["status_message"]


def test_hanging_upstream_times_out_to_504_or_falls_back(client, runtime):
    response = chat(client, model="slow")
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    response = chat(client, model="slow-then-backup")
    assert response.status_code == 200
    assert response.json()["upstream"] == "backup"
    statuses = sorted(s["status"] for s in spans(runtime))
    assert statuses == ["ERROR", "OK"]


def test_circuit_breaker_takes_a_failing_deployment_out(client, upstreams):
    gateway = client.app.state.runtime.gateway
    gateway.breaker.threshold = 2
    httpx.delete(upstreams["primary"] + "/_received")
    for _ in range(3):
        assert chat(client, model="flaky").status_code == 200
    # first call: 2 failures open the circuit; later calls skip primary entirely
    assert len(received(upstreams["primary"])) == 2


# -- streaming ---------------------------------------------------------------------


def sse_events(response: httpx.Response) -> list:
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else orjson.loads(data))
    return events


def test_stream_relays_chunks_and_traces_estimated_usage(client, runtime):
    response = chat(client, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "primary says: hello there"
    (span,) = spans(runtime)
    attrs = span["attributes"]
    assert attrs["llm.output_messages"][0]["content"] == text
    assert attrs["triops.tokens_estimated"] is True
    assert attrs["llm.token_count.completion"] > 0 and attrs["llm.token_count.prompt"] > 0
    assert 0 < attrs["triops.time_to_first_token_ms"] <= attrs["triops.latency_ms"]


def test_stream_usage_from_upstream_when_asked(client, runtime):
    response = chat(client, stream=True, stream_options={"include_usage": True})
    assert sse_events(response)[-2]["usage"]["prompt_tokens"] == 10
    (span,) = spans(runtime)
    assert span["attributes"]["triops.tokens_estimated"] is False


def test_stream_cut_by_upstream_ends_with_error_event_and_error_trace(client, runtime):
    response = chat(client, model="cut", stream=True)
    assert response.status_code == 200
    events = sse_events(response)
    assert "[DONE]" not in events
    assert "broke off" in events[-1]["error"]["message"]
    (span,) = spans(runtime)
    assert span["status"] == "ERROR" and "broke off" in span["status_message"]
    # Whatever arrived before the cut is kept; how much did depends on when the transport
    # noticed the broken connection (the upstream sent two chunks).
    partial = span["attributes"]["llm.output_messages"][0]["content"] or ""
    assert partial in ("", "primary", "primary says:")


def test_stream_that_fails_before_first_chunk_falls_back(client):
    response = chat(client, model="flaky", stream=True)
    assert response.status_code == 200
    assert sse_events(response)[-1] == "[DONE]"


def test_tools_pass_through_and_come_back_as_tool_calls(client, upstreams):
    tools = [{"type": "function", "function": {
        "name": "weather", "parameters": {"type": "object", "properties": {}}}}]
    response = chat(client, tools=tools, tool_choice="auto")
    message = response.json()["choices"][0]["message"]
    assert message["tool_calls"][0]["function"] == {"name": "weather",
                                                    "arguments": '{"echo": true}'}
    assert received(upstreams["primary"])[-1]["tools"] == tools


# -- Anthropic ---------------------------------------------------------------------


def test_anthropic_upstream_speaks_openai_to_the_client(client, upstreams):
    tools = [{"type": "function", "function": {"name": "weather", "description": "w",
                                               "parameters": {"type": "object"}}}]
    response = client.post("/v1/chat/completions", json={
        "model": "claude", "tools": tools, "max_tokens": 50,
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hi claude"}]},
        headers={"x-triops-cache": "no"})
    assert response.status_code == 200, response.text
    body = response.json()
    message = body["choices"][0]["message"]
    assert message["content"] == "backup says: hi claude"
    assert message["tool_calls"][0]["function"]["name"] == "weather"
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"]["prompt_tokens"] == 12
    sent = received(upstreams["backup"])[-1]
    assert sent["system"] == "be brief" and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text",
                                                              "text": "hi claude"}]}]
    assert sent["tools"][0]["input_schema"] == {"type": "object"}


def test_anthropic_stream_is_translated(client, runtime):
    response = chat(client, model="claude", stream=True)
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "backup says: hello there"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    (span,) = spans(runtime)
    assert span["attributes"]["llm.token_count.prompt"] == 12
    assert span["attributes"]["triops.tokens_estimated"] is False


def test_anthropic_has_no_embeddings(client):
    response = client.post("/v1/embeddings", json={"model": "claude/x", "input": "a"})
    assert response.status_code == 400


# -- embeddings and caches -----------------------------------------------------------


def test_embeddings(client, runtime):
    response = client.post("/v1/embeddings", json={"model": "embed", "input": ["a b", "c"]})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 2
    (span,) = spans(runtime)
    assert span["kind"] == "EMBEDDING" and span["attributes"]["llm.token_count.prompt"] == 3
    bad = client.post("/v1/embeddings", json={"model": "embed", "input": []})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"


def test_exact_cache_hit_is_marked_and_skips_upstream(client, runtime, upstreams):
    httpx.delete(upstreams["primary"] + "/_received")
    body = {"model": "chat", "messages": [{"role": "user", "content": "cache me"}]}
    first = client.post("/v1/chat/completions", json=body)
    second = client.post("/v1/chat/completions", json=body)
    third = client.post("/v1/chat/completions", json=body, headers={"x-triops-cache": "no"})
    assert first.json() == second.json()
    assert [r.headers["x-triops-cache-status"] for r in (first, second, third)] == [
        "miss", "hit", "off"]
    assert len(received(upstreams["primary"])) == 2
    by_cache = sorted(s["attributes"]["triops.gateway.cache"] for s in spans(runtime))
    assert by_cache == ["hit", "miss", "off"]


def test_semantic_cache_answers_near_duplicates(store_url, tmp_path, upstreams):
    config = gateway_settings(upstreams, cache=CacheConfig(
        semantic=True, semantic_threshold=0.8, embedding_model="embed"))
    settings = Settings(store=store_url, home=tmp_path, artifacts=str(tmp_path / "a"),
                        gateway=config, auth=False)
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(runtime)) as client:
            ask = "what is the capital city of france today please"
            first = chat(client, cache=True, messages=[{"role": "user", "content": ask}])
            near = chat(client, cache=True, messages=[
                {"role": "user", "content": ask + " now"}])
            far = chat(client, cache=True, messages=[
                {"role": "user", "content": "tell me a joke about cats"}])
            assert first.headers["x-triops-cache-status"] == "miss"
            assert near.headers["x-triops-cache-status"].startswith("semantic_hit:")
            assert near.json() == first.json()
            assert far.headers["x-triops-cache-status"] == "miss"
    finally:
        runtime.close()


# -- key policies ----------------------------------------------------------------------


def editor_key(runtime: Runtime) -> tuple[str, str]:
    with runtime.db.write() as session:
        created = keys.create(session, project="default", role=Role.editor, name="app")
    return created.id, created.secret


def test_budget_rpm_and_allowed_models_per_key(client, runtime):
    key_id, secret = editor_key(runtime)
    auth = {"Authorization": f"Bearer {secret}", "x-triops-cache": "no"}
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    put = client.put(f"/api/v1/gateway/keys/{key_id}/policy",
                     json={"budget_usd": 0.000001, "models": ["chat"]})
    assert put.status_code == 200, put.text
    assert client.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
    over = client.post("/v1/chat/completions", json=body, headers=auth)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "insufficient_quota"
    other = client.post("/v1/chat/completions", json={**body, "model": "backup-chat"},
                        headers=auth)
    assert other.status_code == 403 and other.json()["error"]["code"] == "model_not_allowed"

    client.put(f"/api/v1/gateway/keys/{key_id}/policy", json={"rpm": 2})
    codes = [client.post("/v1/chat/completions", json=body, headers=auth).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get(f"/api/v1/gateway/keys/{key_id}/policy").json()["rpm"] == 2


def test_viewer_key_may_list_models_but_not_spend(client, runtime):
    with runtime.db.write() as session:
        secret = keys.create(session, project="default", role=Role.viewer).secret
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/models", headers=auth).status_code == 200
    denied = chat(client.__class__(client.app, headers=auth))
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"


# -- configuration API -----------------------------------------------------------------


def test_upstreams_and_routes_through_the_api(client, upstreams):
    put = client.put("/api/v1/gateway/upstreams/extra", json={
        "base_url": upstreams["backup"] + "/v1", "api_key": "sk-do-not-leak"})
    assert put.status_code == 200, put.text
    listed = client.get("/api/v1/gateway/upstreams")
    assert "sk-do-not-leak" not in listed.text
    extra = next(u for u in listed.json() if u["name"] == "extra")
    assert extra["has_secret"] is True and extra["source"] == "api"
    # an update without api_key keeps the stored secret
    client.put("/api/v1/gateway/upstreams/extra", json={"base_url": upstreams["backup"] + "/v1"})
    assert next(u for u in client.get("/api/v1/gateway/upstreams").json()
                if u["name"] == "extra")["has_secret"] is True

    bad = client.put("/api/v1/gateway/routes/new", json={
        "deployments": [{"upstream": "missing", "model": "m"}]})
    assert bad.status_code == 400 and "missing" in bad.json()["message"]
    ok = client.put("/api/v1/gateway/routes/new", json={
        "deployments": [{"upstream": "extra", "model": "m", "weight": 2}]})
    assert ok.status_code == 200
    assert chat(client, model="new").json()["upstream"] == "backup"
    in_use = client.delete("/api/v1/gateway/upstreams/extra")
    assert in_use.status_code == 409
    assert client.delete("/api/v1/gateway/routes/new").status_code == 204
    assert client.delete("/api/v1/gateway/upstreams/extra").status_code == 204
    assert chat(client, model="new").status_code == 404
    assert client.put("/api/v1/gateway/upstreams/bad name!", json={
        "base_url": "http://x"}).status_code == 400
    assert client.put("/api/v1/gateway/upstreams/p", json={
        "base_url": "http://x", "provider": "nope"}).status_code == 400


def test_spans_are_flushed_on_close(settings):
    runtime = Runtime.build(settings)
    with TestClient(create_app(runtime)) as client:
        client.headers["Authorization"] = "Bearer x"  # auth is on; make a key first
        with runtime.db.write() as session:
            secret = keys.create(session, project="default", role=Role.editor).secret
        client.headers["Authorization"] = f"Bearer {secret}"
        assert all(chat(client).status_code == 200 for _ in range(5))
    # leaving the TestClient ran the shutdown: Runtime.close() drained the recorder
    db = __import__("triops.store", fromlist=["Database"]).Database(settings.store_url)
    with db.read() as session:
        assert len(list(records.scan(session, "default", "span"))) == 5
    db.dispose()
