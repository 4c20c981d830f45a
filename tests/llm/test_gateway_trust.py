"""The gateway under hostile and careless callers, through the real app and real upstream
servers: who may change its configuration and see where it points, guardrails that no
message role, content shape or fallback walks around, and signals and traces that tell
client refusals from upstream failures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from tests.conftest import admin_client
from tests.llm.conftest import serving

from triops.core.gateway_settings import (
    DeploymentConfig,
    GatewaySettings,
    PriceConfig,
    RouteConfig,
    SignalConfig,
    UpstreamConfig,
)
from triops.core.guardrail_settings import GuardrailRule, GuardrailSettings
from triops.core.principals import Role
from triops.server.runtime import Runtime
from triops.store import records
from triops.store.repos import keys

EMAIL = "ada@example.org"
SECRET = "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8"
WINDOW_S = 3.0


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    from triops.llm.gateway.local_upstream import create_app as upstream_app

    with serving({name: upstream_app(name) for name in ("home", "attacker")}) as urls:
        yield urls


def gateway_settings(urls: dict[str, str]) -> GatewaySettings:
    def route(alias: str, model: str, fallbacks: list[str] | None = None) -> RouteConfig:
        return RouteConfig(alias=alias, deployments=[DeploymentConfig(upstream="home",
                                                                      model=model)],
                           fallbacks=fallbacks or [])

    guarded = ["guarded", "metered"]
    return GatewaySettings(
        upstreams=[UpstreamConfig(name="home", base_url=urls["home"] + "/v1",
                                  api_key="sk-home-secret")],
        routes=[route("chat", "gpt-4o-mini"), route("guarded", "guarded-model"),
                route("metered", "guarded-model"),
                route("open", "fail-503", fallbacks=["guarded"]), route("broken", "fail-500")],
        prices={"guarded-model": PriceConfig(input=1.0, output=1.0)},
        retries=0, breaker_failures=1000,
        signals=SignalConfig(window_s=WINDOW_S, min_calls=10, error_rate=0.2),
        guardrails=GuardrailSettings(rules=[
            GuardrailRule(name="guarded-pii", check="pii", mode="redact", routes=guarded),
            GuardrailRule(name="guarded-secrets", check="credentials", mode="block",
                          routes=guarded),
        ]))


@pytest.fixture(scope="module")
def runtime(upstreams, gateway_runtime) -> Runtime:
    return gateway_runtime("gateway-trust", gateway_settings(upstreams))


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with admin_client(runtime) as test_client:
        yield test_client


def key(runtime: Runtime, project: str, role: Role) -> tuple[str, dict[str, str]]:
    with runtime.db.write() as session:
        made = keys.create(session, project=project, role=role)
    return made.id, {"Authorization": f"Bearer {made.secret}", "x-triops-cache": "no"}


def received(url: str) -> list[dict]:
    return httpx.get(url + "/_received").json()


def chat(client: TestClient, model: str, messages: list[dict], **headers: str
         ) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": model, "messages": messages},
                       headers={"x-triops-cache": "no", **headers})


def flushed_spans(runtime: Runtime, project: str = "default") -> list[dict]:
    gateway = runtime.gateway
    gateway.recorder.flush()
    gateway.guardrails.log.flush()
    with runtime.db.read() as session:
        return [r.data for r in records.scan(session, project, "span")]


# -- configuration is the server admin's ----------------------------------------------


def test_a_project_admin_cannot_redirect_other_projects_traffic(client, runtime, upstreams):
    _, team_a_admin = key(runtime, "team-a", Role.admin)
    _, team_b_editor = key(runtime, "team-b", Role.editor)
    hostile = {"base_url": upstreams["attacker"] + "/v1"}
    writes = [
        ("PUT", "/api/v1/gateway/upstreams/home", hostile),
        ("PUT", "/api/v1/gateway/upstreams/evil", hostile),
        ("DELETE", "/api/v1/gateway/upstreams/home", None),
        ("PUT", "/api/v1/gateway/routes/chat",
         {"deployments": [{"upstream": "home", "model": "fail-500"}]}),
        ("DELETE", "/api/v1/gateway/routes/chat", None),
        ("PUT", "/api/v1/guardrails/rules/off", {"check": "pii", "mode": "flag"}),
        ("DELETE", "/api/v1/guardrails/rules/guarded-pii", None),
    ]
    for method, path, body in writes:
        response = client.request(method, path, json=body, headers=team_a_admin)
        assert response.status_code == 403, (method, path, response.text)
        assert "server admin" in response.json()["message"]
    before = len(received(upstreams["attacker"]))
    for _ in range(8):
        answered = chat(client, "chat", [{"role": "user", "content": "hi"}], **team_b_editor)
        assert answered.status_code == 200 and answered.json()["model"] == "gpt-4o-mini"
    assert len(received(upstreams["attacker"])) == before
    assert {r["name"] for r in client.get("/api/v1/guardrails").json()["rules"]} == {
        "guarded-pii", "guarded-secrets"}


def test_the_server_admin_may_change_the_configuration(client, upstreams):
    put = client.put("/api/v1/gateway/upstreams/spare", json={
        "base_url": upstreams["home"] + "/v1"})
    assert put.status_code == 200, put.text
    assert client.delete("/api/v1/gateway/upstreams/spare").status_code == 204


@pytest.mark.parametrize("role", [Role.viewer, Role.editor, Role.admin])
def test_only_the_server_admin_sees_where_upstreams_point(client, runtime, upstreams, role):
    _, headers = key(runtime, "default", role)
    listed = client.get("/api/v1/gateway/upstreams", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == [{"name": "home", "provider": "openai", "source": "config",
                              "base_url": None, "has_secret": None, "timeout_s": None}]
    assert upstreams["home"] not in listed.text
    full = client.get("/api/v1/gateway/upstreams").json()
    assert full[0]["base_url"] == upstreams["home"] + "/v1" and full[0]["has_secret"] is True


# -- guardrails check every role and shape ---------------------------------------------


def sent_to_home(upstreams: dict[str, str]) -> list[dict]:
    return received(upstreams["home"])[-1]["messages"]


@pytest.mark.parametrize("message", [
    {"role": "developer", "content": f"write to {EMAIL}"},
    {"role": "assistant", "content": f"I will write to {EMAIL}"},
    {"role": "system", "content": [{"type": "text", "text": "hi"},
                                   {"type": "text", "text": f"write to {EMAIL}"}]},
    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": EMAIL}]},
    {"role": "assistant", "content": None, "tool_calls": [{
        "id": "c1", "type": "function",
        "function": {"name": "send", "arguments": orjson.dumps({"to": EMAIL}).decode()}}]},
    {"role": "assistant", "content": None,
     "function_call": {"name": "send", "arguments": f'{{"to": "{EMAIL}"}}'}},
], ids=["developer", "assistant", "text-parts", "tool", "tool-call-arguments",
        "function-call-arguments"])
def test_every_role_and_shape_is_redacted(client, upstreams, message):
    response = chat(client, "guarded", [message, {"role": "user", "content": "go on"}])
    assert response.status_code == 200, response.text
    sent = sent_to_home(upstreams)
    assert EMAIL not in orjson.dumps(sent).decode()
    assert "[EMAIL]" in orjson.dumps(sent[0]).decode()
    for call in sent[0].get("tool_calls") or ():
        assert orjson.loads(call["function"]["arguments"]) == {"to": "[EMAIL]"}


@pytest.mark.parametrize("message", [
    {"role": "developer", "content": f"use {SECRET}"},
    {"role": "assistant", "content": f"the token is {SECRET}"},
    {"role": "user", "content": [{"type": "text", "text": f"use {SECRET}"}]},
    {"role": "assistant", "content": None, "tool_calls": [{
        "id": "c1", "type": "function",
        "function": {"name": "login", "arguments": f'{{"token": "{SECRET}"}}'}}]},
], ids=["developer", "assistant", "text-parts", "tool-call-arguments"])
def test_every_role_and_shape_is_blocked(client, upstreams, message):
    before = len(received(upstreams["home"]))
    response = chat(client, "guarded", [message, {"role": "user", "content": "go on"}])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "guardrail_blocked"
    assert SECRET not in response.text
    assert len(received(upstreams["home"])) == before


@pytest.mark.parametrize(("message", "param"), [
    ({"role": "bogus", "content": "hi"}, "messages[0].role"),
    ({"role": "user", "content": {"text": EMAIL}}, "messages[0].content"),
    ({"role": "user", "content": ["plain string part"]}, "messages[0].content"),
    ({"role": "user", "content": [{"type": "text", "text": {"nested": EMAIL}}]},
     "messages[0].content"),
    ({"role": "assistant", "function_call": {"name": "f", "arguments": {"to": EMAIL}}},
     "messages[0]"),
    ({"role": "assistant", "tool_calls": [{"function": {"arguments": {"to": EMAIL}}}]},
     "messages[0].tool_calls"),
])
def test_unknown_roles_and_shapes_are_refused_like_openai(client, upstreams, message, param):
    before = len(received(upstreams["home"]))
    response = chat(client, "guarded", [message])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert len(received(upstreams["home"])) == before


def test_a_route_that_falls_back_into_a_guarded_one_gets_its_rules(client, upstreams):
    before = len(received(upstreams["home"]))
    redacted = chat(client, "open", [{"role": "user", "content": f"mail {EMAIL}"}])
    assert redacted.status_code == 200, redacted.text
    tried = received(upstreams["home"])[before:]
    assert [b["model"] for b in tried] == ["fail-503", "guarded-model"]
    assert all(b["messages"][0]["content"] == "mail [EMAIL]" for b in tried)
    blocked = chat(client, "open", [{"role": "user", "content": f"use {SECRET}"}])
    assert blocked.status_code == 400 and "guarded-secrets" in blocked.text
    assert len(received(upstreams["home"])) == before + 2


def test_naming_a_guarded_deployment_directly_keeps_its_rules(client, upstreams):
    response = chat(client, "home/guarded-model", [{"role": "user", "content": EMAIL}])
    assert response.status_code == 200, response.text
    assert sent_to_home(upstreams)[0]["content"] == "[EMAIL]"


# -- truthful signals and traces ---------------------------------------------------------


def gateway_incidents(client: TestClient, route: str) -> list[dict]:
    return [i for i in client.get("/api/v1/incidents").json()
            if i["subject"] == f"route:{route}" and i["kind"] == "gateway.error_rate"]


def close_windows(client: TestClient, runtime: Runtime, routes: list[str]) -> None:
    """Judge the windows these calls fell in: the next call after a window's end does."""
    time.sleep(WINDOW_S * 1.2)
    for route in routes:
        chat(client, route, [{"role": "user", "content": "hi"}])
    runtime.gateway.recorder.flush()


def test_client_refusals_raise_no_failure_signal_but_upstream_errors_do(client, runtime):
    key_id, headers = key(runtime, "default", Role.editor)
    assert client.put(f"/api/v1/gateway/keys/{key_id}/policy", json={
        "budget_usd": 0.0000001, "models": ["metered"]}).status_code == 200
    chat(client, "metered", [{"role": "user", "content": "hi"}], **headers)  # spends it
    codes = [chat(client, "metered", [{"role": "user", "content": f"use {SECRET}"}],
                  **headers).status_code for _ in range(10)]
    codes += [chat(client, "metered", [{"role": "user", "content": "hi"}],
                   **headers).status_code for _ in range(10)]
    codes += [chat(client, "chat", [{"role": "user", "content": "hi"}],
                   **headers).status_code for _ in range(10)]
    assert codes == [400] * 10 + [429] * 10 + [403] * 10
    broken = [chat(client, "broken", [{"role": "user", "content": "hi"}]).status_code
              for _ in range(10)]
    assert broken == [502] * 10
    close_windows(client, runtime, ["metered", "chat", "broken"])
    assert gateway_incidents(client, "metered") == []
    assert gateway_incidents(client, "chat") == []
    assert len(gateway_incidents(client, "broken")) == 1

    faults = {}
    for span in flushed_spans(runtime):
        attributes = span["attributes"]
        if (span["kind"] == "LLM" and span["status"] == "ERROR"
                and attributes["triops.gateway.route"] in ("metered", "chat", "broken")):
            faults.setdefault(attributes["triops.gateway.route"], set()).add(
                attributes["triops.gateway.fault"])
    assert faults == {"metered": {"client"}, "chat": {"client"}, "broken": {"server"}}


def test_guardrail_spans_hang_under_the_gateway_span(client, runtime):
    passed = chat(client, "guarded", [{"role": "user", "content": f"mail {EMAIL}"}])
    assert passed.status_code == 200
    blocked = chat(client, "guarded", [{"role": "user", "content": f"use {SECRET}"}])
    assert blocked.status_code == 400
    spans = flushed_spans(runtime)
    blocked_span = [s for s in spans if s["kind"] == "LLM" and s["status"] == "ERROR"
                    and "guarded-secrets" in s["status_message"]][-1]

    for trace_id, status in ((passed.headers["x-triops-trace-id"], "OK"),
                             (blocked_span["trace_id"], "ERROR")):
        in_trace = [s for s in spans if s["trace_id"] == trace_id]
        roots = [s for s in in_trace if s["parent_span_id"] is None]
        assert [(r["kind"], r["status"]) for r in roots] == [("LLM", status)]
        guards = [s for s in in_trace if s["kind"] == "GUARDRAIL"]
        assert {g["attributes"]["triops.guardrail.rule"] for g in guards} == {
            "guarded-pii", "guarded-secrets"}
        assert all(g["parent_span_id"] == roots[0]["span_id"] for g in guards)
        detail = client.get(f"/api/v1/traces/{trace_id}").json()
        assert detail["status"] == status and detail["span_count"] == 3
        assert detail["name"].startswith("gateway.chat guarded")

    attributes = blocked_span["attributes"]
    assert attributes["triops.gateway.fault"] == "client"
    # The refused text is not kept in the trace.
    assert attributes.get("llm.input_messages") is None
    assert SECRET not in orjson.dumps(blocked_span).decode()
