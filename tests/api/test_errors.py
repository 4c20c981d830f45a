"""Malformed JSON, wrong types, oversized bodies and unknown ids get 4xx with the JSON
error shape, never 500, and write nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_SECRET
from triops.core.settings import Settings
from triops.server.app import create_app
from triops.server.runtime import Runtime
from triops.store.repos import incidents as repo


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["message"]
    if code:
        assert body["error_code"] == code
    return body


def _no_incidents(runtime) -> None:
    with runtime.db.read() as session:
        assert repo.list_incidents(session, "default") == []


def test_malformed_json(client, runtime):
    response = client.post("/api/v1/signals", content=b'{"source": "ops", "kind": ',
                            headers={"content-type": "application/json"})
    body = _assert_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert "JSON" in body["message"]
    _no_incidents(runtime)


def test_wrong_types_name_the_field(client, runtime):
    response = client.post("/api/v1/signals",
                           json={"source": "ops", "kind": "x", "subject": "s", "value": "high"})
    body = _assert_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert "value" in body["message"]
    response = client.post("/api/v1/signals", json={"source": "nope", "kind": "x", "subject": "s"})
    assert "source" in _assert_error(response, 400)["message"]
    response = client.post("/api/v1/ops/samples", json={"samples": [{"name": "x", "ts_ms": -5, "value": 1}]})
    _assert_error(response, 400)
    _no_incidents(runtime)


def test_non_finite_or_bad_series_names_are_refused(client):
    bad_name = client.post("/api/v1/ops/samples",
                           json={"samples": [{"name": "bad name!", "ts_ms": 1, "value": 1}]})
    assert "series name" in _assert_error(bad_name, 400)["message"]


def test_unknown_ids_and_routes(client):
    _assert_error(client.get("/api/v1/incidents/does-not-exist"), 404, "RESOURCE_DOES_NOT_EXIST")
    _assert_error(client.post("/api/v1/incidents/nope/ack"), 404)
    _assert_error(client.delete("/api/v1/keys/nope"), 404)
    _assert_error(client.get("/api/v1/no-such-route"), 404)
    _assert_error(client.put("/healthz"), 405)


@pytest.fixture
def small_limit_client(store_url, tmp_path):
    settings = Settings(store=store_url, artifacts=str(tmp_path / "a"), max_body_bytes=1024)
    runtime = Runtime.build(settings)
    from triops.core.principals import ALL_PROJECTS, Role
    from triops.store.repos import keys

    with runtime.db.write() as session:
        keys.create(session, project=ALL_PROJECTS, role=Role.admin, secret=ADMIN_SECRET)
    with TestClient(create_app(runtime)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
        yield test_client, runtime


def test_oversized_body_is_refused(small_limit_client):
    client, runtime = small_limit_client
    big = {"source": "ops", "kind": "k", "subject": "s", "summary": "x" * 2000}
    body = _assert_error(client.post("/api/v1/signals", json=big), 413, "REQUEST_LIMIT_EXCEEDED")
    assert "1024" in body["message"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"source": "ops", "kind": "k", "subject": "s", "summary": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    _assert_error(client.post("/api/v1/signals", content=chunks(),
                              headers={"content-type": "application/json"}), 413)
    _no_incidents(runtime)


def test_default_body_limit_is_16_mib():
    assert Settings().max_body_bytes == 16 * 1024 * 1024


def test_a_lost_race_on_a_unique_name_is_a_conflict_not_a_500(client, runtime):
    from triops.store.repos import projects

    @client.app.get("/api/v1/_race_probe", include_in_schema=False)
    def race_probe() -> None:  # creates a row that exists already, as a racing writer would
        with runtime.db.write() as session:
            session.add(projects.Project(name="default", description="", created_ms=0))

    with runtime.db.write() as session:
        projects.ensure(session, "default")
    response = client.get("/api/v1/_race_probe")
    body = _assert_error(response, 409, "RESOURCE_ALREADY_EXISTS")
    assert "retry" in body["message"]
