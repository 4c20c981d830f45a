"""The MLflow REST routes through the real ASGI app: auth per route, error codes,
and bad input that must leave the store untouched."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from triops.core.principals import Role
from triops.server.auth import AUTH_DEPENDENCIES
from triops.store import records
from triops.store.repos import keys

API = "/api/2.0/mlflow"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _role(route: APIRoute) -> Role | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call in AUTH_DEPENDENCIES:
            return dep.call.required_role  # type: ignore[union-attr]
        stack.extend(dep.dependencies)
    return None


def _mlflow_routes(app):  # type: ignore[no-untyped-def]
    for route in app.routes:
        if isinstance(route, APIRoute) and ("mlflow" in route.path or route.path == "/version"):
            for method in route.methods - {"HEAD", "OPTIONS"}:
                yield method, route.path, route


def test_every_route_declares_viewer_for_reads_and_editor_for_writes(client):
    seen = set()
    for method, path, route in _mlflow_routes(client.app):
        role = _role(route)
        is_read = method == "GET" or path.endswith("/search")
        assert role == (Role.viewer if is_read else Role.editor), (method, path, role)
        seen.add((method, path))
    # Both prefixes serve the same routes.
    for method, path in list(seen):
        if path.startswith("/api/2.0/"):
            assert (method, path.replace("/api/", "/ajax-api/", 1)) in seen


@pytest.fixture
def viewer_headers(runtime):
    with runtime.db.write() as session:
        secret = keys.create(session, project="default", role=Role.viewer).secret
    return {"Authorization": f"Bearer {secret}"}


def test_viewer_reads_but_cannot_write(client, viewer_headers):
    exp = client.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    assert client.get(f"{API}/experiments/get", params={"experiment_id": exp},
                      headers=viewer_headers).status_code == 200
    assert client.post(f"{API}/runs/search", json={"experiment_ids": [exp]},
                       headers=viewer_headers).status_code == 200
    refused = client.post(f"{API}/runs/create", json={"experiment_id": exp},
                          headers=viewer_headers)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    bare = client.post(f"{API}/runs/create", json={"experiment_id": exp},
                       headers={"Authorization": ""})
    assert bare.status_code == 401


def _new_run(client) -> str:
    exp = client.post(f"{API}/experiments/create", json={"name": "bad-input"}).json()
    run = client.post(f"{API}/runs/create", json={"experiment_id": exp["experiment_id"]})
    return run.json()["run"]["info"]["run_id"]


@pytest.mark.parametrize("body, code", [
    ({"key": "m", "value": "abc", "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
    ({"key": "m", "value": True, "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
    ({"key": "m", "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
    ({"key": "/abs", "value": 1, "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
    ({"key": "a/../b", "value": 1, "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
    ({"key": "x" * 251, "value": 1, "timestamp": 1}, "INVALID_PARAMETER_VALUE"),
])
def test_bad_metrics_are_refused_and_nothing_is_written(client, runtime, body, code):
    run_id = _new_run(client)
    resp = client.post(f"{API}/runs/log-metric", json={"run_id": run_id, **body})
    assert resp.status_code == 400 and resp.json()["error_code"] == code
    with runtime.db.read() as session:
        assert list(records.scan(session, "default", "metric")) == []
    assert client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"][
        "metrics"] == []


def test_batch_limits_and_param_rules(client):
    run_id = _new_run(client)
    too_many = [{"key": f"m{i}", "value": 1, "timestamp": 1, "step": 0} for i in range(1001)]
    resp = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": too_many})
    assert resp.status_code == 400
    dup = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": [
        {"key": "a", "value": "1"}, {"key": "a", "value": "2"}]})
    assert dup.status_code == 400
    ok = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": [
        {"key": "a", "value": "1"}, {"key": "a", "value": "1"}]})
    assert ok.status_code == 200
    long = client.post(f"{API}/runs/log-parameter",
                       json={"run_id": run_id, "key": "b", "value": "x" * 6001})
    assert long.status_code == 400
    params = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["params"]
    assert params == [{"key": "a", "value": "1"}]
    missing = client.post(f"{API}/runs/log-parameter", json={"run_id": "f" * 32, "key": "a",
                                                             "value": "1"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    client.post(f"{API}/runs/delete", json={"run_id": run_id})
    closed = client.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"})
    assert closed.status_code == 400


@pytest.mark.parametrize("path", [
    "..%2F..%2Fetc%2Fpasswd", "a/%2e%2e/%2e%2e/x", "%252e%252e%252fx", "%2Fetc%2Fpasswd",
    "a%5C..%5C..%5Cx", "a/%00b",
])
def test_artifact_traversal_is_refused(client, runtime, path):
    resp = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"evil")
    assert resp.status_code == 400, (path, resp.status_code, resp.text)
    assert list(runtime.artifacts.walk_files("")) == []


def test_artifacts_round_trip_inside_the_project(client, runtime):
    assert client.put("/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt",
                      content=b"hi").status_code == 200
    assert client.get("/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt").content == b"hi"
    listing = client.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "1/r/artifacts"})
    assert listing.json()["files"] == [{"path": "a.txt", "is_dir": False, "file_size": 2}]
    assert list(runtime.artifacts.walk_files("")) == ["mlflow/default/1/r/artifacts/a.txt"]
    other = client.get("/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt",
                       headers={"X-Triops-Project": "other"})
    assert other.status_code == 404


def test_history_paging_and_bulk_interval(client):
    run_id = _new_run(client)
    metrics = [{"key": "loss", "value": 1 / (i + 1), "timestamp": 10 + i, "step": i}
               for i in range(50)]
    client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    first = client.get(f"{API}/metrics/get-history",
                       params={"run_id": run_id, "metric_key": "loss", "max_results": 20}).json()
    second = client.get(f"{API}/metrics/get-history", params={
        "run_id": run_id, "metric_key": "loss", "max_results": 40,
        "page_token": first["next_page_token"]}).json()
    steps = [m["step"] for m in first["metrics"] + second["metrics"]]
    assert steps == list(range(50)) and "next_page_token" not in second
    bulk = client.get(f"{API}/metrics/get-history-bulk-interval", params={
        "run_ids": [run_id], "metric_key": "loss", "max_results": 5}).json()["metrics"]
    assert [m["step"] for m in bulk] == [0, 12, 24, 37, 49]
    assert all(m["run_id"] == run_id for m in bulk)
    bad = client.get(f"{API}/metrics/get-history", params={
        "run_id": run_id, "metric_key": "loss", "page_token": "garbage"})
    assert bad.status_code == 400


def test_search_errors_are_precise(client):
    exp = client.post(f"{API}/experiments/create", json={"name": "s"}).json()["experiment_id"]
    for flt in ("metrics.rmse < 'x'", "params.a = 1", "nonsense", "attributes.bogus = 'x'"):
        resp = client.post(f"{API}/runs/search", json={"experiment_ids": [exp], "filter": flt})
        assert resp.status_code == 400, flt
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.post(f"{API}/runs/search", json={"experiment_ids": [exp],
                                                   "max_results": 50001}).status_code == 400


def test_server_info_and_version(client):
    assert client.get("/version").text == "3.17.2"
    info = client.get("/api/3.0/mlflow/server-info").json()
    assert info["store_type"] == "SqlStore" and info["multipart_uploads_enabled"] is False


def test_registry_records_the_producing_run(client, db):
    run_id = _new_run(client)
    client.post(f"{API}/registered-models/create", json={"name": "m"})
    made = client.post(f"{API}/model-versions/create", json={
        "name": "m", "source": f"runs:/{run_id}/model"}).json()["model_version"]
    assert made["run_id"] == run_id and made["version"] == "1"
    uri = client.get(f"{API}/model-versions/get-download-uri",
                     params={"name": "m", "version": "1"}).json()["artifact_uri"]
    assert re.fullmatch(rf"mlflow-artifacts:/\d+/{run_id}/artifacts/model", uri)
    bad = client.post(f"{API}/model-versions/create", json={"name": "m", "source": "runs:/nope/x"})
    assert bad.status_code == 404
    assert client.get(f"{API}/registered-models/get", params={"name": "m"}).json()[
        "registered_model"]["latest_versions"][0]["version"] == "1"
