"""Gateway spend summed per key, project, model, route and day (API and page, with who
sees what), the configuration page for server admins, traces that name the same key
whether they came through the gateway or OTLP, and the playground that runs prompts on
the gateway's models. Real app, real upstream, both backends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from otlp_payloads import rag_trace, request_of
from tests.conftest import admin_client
from tests.llm.conftest import serving

from triops.core.gateway_settings import (
    DeploymentConfig,
    GatewaySettings,
    RouteConfig,
    UpstreamConfig,
)
from triops.core.principals import Role
from triops.server.runtime import Runtime
from triops.store.repos import keys

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    from triops.llm.gateway.local_upstream import create_app as upstream_app
    with serving({"home": upstream_app("home")}) as urls:
        yield urls


@pytest.fixture(scope="module")
def runtime(upstreams, gateway_runtime) -> Runtime:
    def route(alias: str, model: str) -> RouteConfig:
        return RouteConfig(alias=alias, deployments=[DeploymentConfig(upstream="home",
                                                                      model=model)])
    return gateway_runtime("gateway-pages", GatewaySettings(
        upstreams=[UpstreamConfig(name="home", base_url=upstreams["home"] + "/v1")],
        routes=[route("small", "gpt-4o-mini"), route("big", "gpt-4o"),
                route("down", "fail-500")], retries=0))


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with admin_client(runtime) as test_client:
        yield test_client


def key(runtime: Runtime, project: str, role: Role, name: str) -> tuple[str, dict[str, str]]:
    with runtime.db.write() as session:
        made = keys.create(session, project=project, role=role, name=name)
    return made.id, {"Authorization": f"Bearer {made.secret}"}


def chat(client: TestClient, model: str, headers: dict[str, str], user: str = "") -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}]}
    if user:
        body["user"] = user
    r = client.post("/v1/chat/completions", json=body,
                    headers={"x-triops-cache": "no", **headers})
    assert r.status_code == 200, r.text


def test_spend_per_key_model_route_day_and_project(client, runtime):
    alice_id, alice = key(runtime, "shop", Role.editor, "alice-app")
    bob_id, bob = key(runtime, "shop", Role.editor, "bob-app")
    _, shop_admin = key(runtime, "shop", Role.admin, "shop-admin")
    _, other = key(runtime, "other", Role.editor, "other-app")
    for _ in range(2):
        chat(client, "small", alice)
    chat(client, "big", bob)
    chat(client, "big", other)

    def spend(headers: dict[str, str], by: str) -> dict:
        r = client.get("/api/v1/gateway/spend", params={"window": "day", "by": by},
                       headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    per_key = {g["group"]: g for g in spend(shop_admin, "key")["groups"]}
    assert set(per_key) == {alice_id, bob_id}
    assert per_key[alice_id]["calls"] == 2 and per_key[bob_id]["calls"] == 1
    per_model = spend(shop_admin, "model")["groups"]
    # Dearest first: one gpt-4o call costs more than two gpt-4o-mini calls.
    assert [g["group"] for g in per_model] == ["gpt-4o", "gpt-4o-mini"]
    assert all(g["cost_usd"] > 0 for g in per_model)
    assert {g["group"] for g in spend(shop_admin, "route")["groups"]} == {"small", "big"}
    [today] = spend(shop_admin, "day")["groups"]
    assert int(today["group"]) == time.time_ns() // 1_000_000 // DAY_MS * DAY_MS
    assert today["calls"] == 3

    # A key that is not an admin sees its own calls only, however it groups them.
    assert [g["group"] for g in spend(alice, "key")["groups"]] == [alice_id]
    assert [g["calls"] for g in spend(alice, "model")["groups"]] == [2]
    # Per project: a project admin sees its project; a server admin every project.
    assert [g["group"] for g in spend(shop_admin, "project")["groups"]] == ["shop"]
    everywhere = {g["group"] for g in client.get(
        "/api/v1/gateway/spend", params={"window": "day", "by": "project"}).json()["groups"]}
    assert {"shop", "other"} <= everywhere
    assert client.get("/api/v1/gateway/spend", params={"by": "colour"}).status_code == 400

    page = client.get("/ui/llm/gateway", params={"window": "day"}, headers=shop_admin)
    assert page.status_code == 200
    assert "alice-app" in page.text and "bob-app" in page.text and "gpt-4o-mini" in page.text
    assert 'class="spend-project"' not in page.text  # a project admin: no cross-project view
    assert 'href="/ui/llm/gateway/config"' not in page.text
    mine = client.get("/ui/llm/gateway", params={"window": "day"}, headers=alice).text
    assert "alice-app" in mine and "bob-app" not in mine
    admin_page = client.get("/ui/llm/gateway", params={"window": "day"}).text
    assert 'class="spend-project"' in admin_page and 'href="/ui/llm/gateway/config"' in admin_page
    assert 'href="/ui/llm/guardrails"' in admin_page


def test_configuration_page_is_for_server_admins_and_changes_the_gateway(client, runtime):
    _, project_admin = key(runtime, "shop", Role.admin, "shop-admin-2")
    assert client.get("/ui/llm/gateway/config", headers=project_admin).status_code == 403
    assert client.post("/ui/llm/gateway/routes", headers=project_admin, data={
        "alias": "sneaky", "deployments": "home gpt-4o"}).status_code == 403

    page = client.get("/ui/llm/gateway/config")
    assert page.status_code == 200 and "home" in page.text and "small" in page.text
    r = client.post("/ui/llm/gateway/upstreams", follow_redirects=False, data={
        "name": "spare", "provider": "openai", "base_url": runtime.settings.gateway.upstreams[0]
        .base_url, "api_key": "sk-spare-secret"})
    assert r.status_code == 303
    r = client.post("/ui/llm/gateway/routes", follow_redirects=False, data={
        "alias": "weighted", "deployments": "home gpt-4o-mini 3\nspare gpt-4o-mini 1",
        "fallbacks": "small"})
    assert r.status_code == 303
    page = client.get("/ui/llm/gateway/config").text
    assert "weighted" in page and "spare gpt-4o-mini" in page and "sk-spare-secret" not in page
    chat(client, "weighted", {})  # the gateway serves the new route at once
    routes = {r["alias"]: r for r in client.get("/api/v1/gateway/routes").json()}
    assert routes["weighted"]["deployments"][0]["weight"] == 3.0
    audit = client.get("/ui").text
    assert "gateway.route.put" in audit

    # A refused change shows the page again with the reason, and stores nothing.
    bad = client.post("/ui/llm/gateway/routes", data={"alias": "x", "deployments": "home"})
    assert bad.status_code == 400 and "write &#39;upstream model [weight]&#39;" in bad.text
    assert 'role="alert"' in bad.text and "Gateway configuration" in bad.text
    unknown = client.post("/ui/llm/gateway/routes", data={"alias": "x",
                                                          "deployments": "nowhere m"})
    assert unknown.status_code == 400 and "nowhere" in unknown.text
    assert ">x<" not in client.get("/ui/llm/gateway/config").text
    in_use = client.post("/ui/llm/gateway/upstreams/spare/delete")
    assert in_use.status_code == 409 and "used by routes weighted" in in_use.text
    assert client.post("/ui/llm/gateway/routes/weighted/delete",
                       follow_redirects=False).status_code == 303
    assert client.post("/ui/llm/gateway/upstreams/spare/delete",
                       follow_redirects=False).status_code == 303
    assert "spare" not in client.get("/ui/llm/gateway/config").text


def test_gateway_and_otlp_traces_name_the_same_key(client, runtime):
    key_id, headers = key(runtime, "default", Role.editor, "support-bot")
    chat(client, "small", headers, user="carol")
    _, spans = rag_trace(time.time_ns(), user="carol", session="c-1")
    assert client.post("/v1/traces", content=request_of(spans).SerializeToString(),
                       headers={**headers, "Content-Type": "application/x-protobuf"}
                       ).status_code == 200
    runtime.gateway.recorder.flush()
    traces = client.get("/api/v1/traces", params={"user": "carol"}).json()["traces"]
    assert len(traces) == 2 and {t["api_key"] for t in traces} == {key_id}
    page = client.get(f"/ui/llm/traces/{traces[0]['trace_id']}").text
    assert "support-bot" in page and key_id[:8] in page


def _span_attributes(client: TestClient, trace_id: str) -> dict:
    [span] = client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    return span["attributes"]


def test_playground_runs_a_prompt_version_on_two_models_and_saves_a_new_one(client, runtime):
    made = client.post("/api/v1/prompts/greeter/versions", json={
        "messages": [{"role": "system", "content": "Be kind."},
                     {"role": "user", "content": "Greet {{ who }} warmly"}],
        "model": "small", "message": "first"})
    assert made.status_code == 201, made.text

    page = client.get("/ui/llm/playground", params={"prompt": "greeter"})
    assert page.status_code == 200
    assert "Greet {{ who }} warmly" in page.text and 'name="var_who"' in page.text
    assert "<option selected>small</option>" in page.text and "<option>big</option>" in page.text

    form = {"kind": "chat", "loaded_name": "greeter", "loaded_version": "1",
            "role_0": "system", "content_0": "Be kind.",
            "role_1": "user", "content_1": "Greet {{ who }} warmly",
            "var_who": "Ada", "model_a": "small", "model_b": "big", "action": "run"}
    ran = client.post("/ui/llm/playground", data=form)
    assert ran.status_code == 200, ran.text
    assert ran.text.count('class="pg-result"') == 2
    assert ran.text.count("home says: Greet Ada warmly") == 2
    runtime.gateway.recorder.flush()
    trace_ids = [line.split("/ui/llm/traces/")[1].split('"')[0]
                 for line in ran.text.splitlines() if "/ui/llm/traces/" in line]
    assert len(trace_ids) == 2
    attrs = _span_attributes(client, trace_ids[0])
    # The stored version ran unchanged: its traces name it.
    assert attrs["triops.playground"] is True and attrs["triops.prompt.name"] == "greeter"
    assert attrs["triops.prompt.version"] == 1

    edited = {**form, "content_1": "Greet {{ who }} in {{ language }}", "var_language": "Welsh",
              "model_b": "", "temperature": "0.3"}
    ran = client.post("/ui/llm/playground", data=edited)
    assert ran.text.count('class="pg-result"') == 1 and "in Welsh" in ran.text
    runtime.gateway.recorder.flush()
    [trace_id] = [line.split("/ui/llm/traces/")[1].split('"')[0]
                  for line in ran.text.splitlines() if "/ui/llm/traces/" in line]
    attrs = _span_attributes(client, trace_id)
    assert "triops.prompt.name" not in attrs  # an edited draft is no stored version
    assert attrs["llm.invocation_parameters"]["temperature"] == 0.3

    # A failing model shows its error beside the one that answered.
    failing = client.post("/ui/llm/playground", data={**form, "model_b": "down"})
    assert 'class="pg-result failed"' in failing.text and "home says" in failing.text

    refreshed = client.post("/ui/llm/playground", data={**edited, "action": "refresh"})
    assert 'name="var_language"' in refreshed.text
    broken = client.post("/ui/llm/playground", data={**form, "content_1": "{{ who "})
    assert broken.status_code == 200 and 'role="alert"' in broken.text

    saved = client.post("/ui/llm/playground", follow_redirects=False, data={
        **edited, "action": "save", "save_name": "greeter", "save_message": "say it in Welsh"})
    assert saved.status_code == 303, saved.text.split("role=\"alert\">")[-1][:300]
    assert saved.headers["location"] == "/ui/llm/prompts/greeter#versions"
    v2 = client.get("/api/v1/prompts/greeter/resolve", params={"version": 2}).json()
    assert v2["template"]["messages"][1]["content"] == "Greet {{ who }} in {{ language }}"
    assert v2["model"] == "small" and v2["params"] == {"temperature": 0.3}
    assert sorted(v2["variables"]) == ["language", "who"]

    _, viewer = key(runtime, "default", Role.viewer, "reader")
    assert client.get("/ui/llm/playground", headers=viewer).status_code == 200
    assert client.post("/ui/llm/playground", data=form, headers=viewer).status_code == 403
