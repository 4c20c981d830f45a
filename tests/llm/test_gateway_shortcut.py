"""The hot-path shortcut for /v1/chat/completions and /v1/embeddings answers exactly as
the declared FastAPI routes do: same roles, same error shapes, same metrics labels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import ADMIN_SECRET
from tests.llm.test_gateway import gateway_settings
from tests.shortcut_apps import admin_client

from triops.api.openai.shortcut import GatewayShortcut
from triops.core.principals import ALL_PROJECTS, Role
from triops.core.settings import Settings
from triops.server.runtime import Runtime
from triops.store import records
from triops.store.repos import keys


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    from tests.conftest import free_port

    from triops.llm.gateway.local_upstream import Served
    from triops.llm.gateway.local_upstream import create_app as upstream_app

    served = Served(upstream_app("primary"), free_port()).start()
    yield served.url
    served.stop()


@pytest.fixture
def runtime(store_url, tmp_path, upstream) -> Iterator[Runtime]:
    urls = {"primary": upstream, "backup": upstream}
    rt = Runtime.build(Settings(store=store_url, artifacts=str(tmp_path / "a"), home=tmp_path,
                                gateway=gateway_settings(urls), max_body_bytes=4096))
    with rt.db.write() as session:
        keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="admin",
                    secret=ADMIN_SECRET)
    yield rt
    rt.close()


def _span_count(runtime: Runtime, project: str = "default") -> int:
    with runtime.db.read() as session:
        return len(list(records.scan(session, project, "span")))


CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}


def _exchange(client: TestClient, editor: str, viewer: str, team_a: str) -> list[tuple]:
    """What a client sees for a spread of good and bad requests."""
    seen = []
    for path, kwargs in [
        ("/v1/chat/completions", {"json": CHAT}),
        ("/v1/chat/completions", {"json": CHAT, "headers": {"Authorization": f"Bearer {editor}"}}),
        ("/v1/chat/completions", {"json": CHAT, "headers": {"Authorization": f"Bearer {viewer}"}}),
        ("/v1/chat/completions", {"json": CHAT, "headers": {"Authorization": ""}}),
        ("/v1/chat/completions", {"json": CHAT, "headers": {"Authorization": "Bearer tri_nope_0"}}),
        ("/v1/chat/completions", {"json": CHAT, "headers": {
            "Authorization": f"Bearer {team_a}", "X-Triops-Project": "team-b"}}),
        ("/v1/chat/completions?project=Bad%20Name", {"json": CHAT}),
        ("/v1/chat/completions", {"content": b"{nope", "headers": {"content-type": "application/json"}}),
        ("/v1/chat/completions", {"json": {**CHAT, "model": "missing"}}),
        ("/v1/chat/completions", {"json": {**CHAT, "stream": "yes"}}),
        ("/v1/chat/completions", {"content": b"x" * 5000}),
        ("/v1/embeddings", {"json": {"model": "embed", "input": "hi"}}),
        ("/v1/embeddings", {"json": {"model": "embed", "input": []}}),
    ]:
        response = client.post(path, **kwargs)
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        shape = (error["type"], error["code"], error["param"]) if error else sorted(body)
        seen.append((path, response.status_code, shape,
                     response.headers.get("www-authenticate")))
    return seen


def test_shortcut_answers_as_the_declared_routes_do(runtime):
    with runtime.db.write() as session:
        editor = keys.create(session, project="default", role=Role.editor).secret
        viewer = keys.create(session, project="default", role=Role.viewer).secret
        team_a = keys.create(session, project="team-a", role=Role.editor).secret
    seen = {}
    for shortcut in (True, False):
        with admin_client(runtime, without=None if shortcut else GatewayShortcut) as client:
            seen[shortcut] = _exchange(client, editor, viewer, team_a)
            runtime.gateway.recorder.flush()
        # Each client runs its own event loop; the app closes the runtime's services as
        # it stops, so the next client gets a gateway of its own.
    fast_seen, routed_seen = seen[True], seen[False]
    assert fast_seen == routed_seen
    statuses = [status for _, status, _, _ in fast_seen]
    assert statuses == [200, 200, 403, 401, 401, 403, 400, 400, 404, 400, 413, 200, 400]
    assert fast_seen[3][3] == 'Bearer realm="triops"'  # 401 asks for a key
    # Per client: two chats and one embedding served, the unknown model traced as an
    # error; refused and malformed requests leave nothing.
    assert _span_count(runtime) == 8


def test_shortcut_requests_are_counted_under_their_route(runtime):
    with admin_client(runtime) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.post("/v1/chat/completions", json={"model": 1}).status_code == 400
        metrics = client.get("/metrics").text
    assert ('triops_http_requests_total{method="POST",route="/v1/chat/completions",'
            'status="200"} 1.0') in metrics
    assert ('triops_http_requests_total{method="POST",route="/v1/chat/completions",'
            'status="400"} 1.0') in metrics


def test_unexpected_failure_is_500_in_openai_shape(runtime, monkeypatch):
    with admin_client(runtime) as client:
        client.get("/v1/models")  # builds the gateway

        async def broken(*_args, **_kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(runtime.gateway, "chat", broken)
        response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "boom" not in response.text


def test_openapi_still_documents_the_hot_routes(runtime):
    with admin_client(runtime) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/chat/completions"] and "post" in paths["/v1/embeddings"]
