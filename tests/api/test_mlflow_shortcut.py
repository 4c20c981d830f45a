"""The hot-path shortcut for the MLflow logging routes answers exactly as the declared
FastAPI routes do, request by request: same roles, same error shapes, same stored
result, same metrics labels."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.shortcut_apps import admin_client
from triops.api.mlflow.shortcut import MlflowShortcut
from triops.core.principals import Role
from triops.server.runtime import Runtime
from triops.store.repos import keys

BACKENDS_UNDER_TEST = ("sqlite",)
API = "/api/2.0/mlflow"


def _requests(run: str, viewer: str, team_a: str) -> list[tuple[str, str, dict]]:
    """A spread of good and bad requests against the hot routes, in order."""
    metric = {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1000, "step": 1}
    as_json = {"content-type": "application/json"}
    return [
        ("POST", "/runs/log-metric", {"json": metric}),
        ("POST", "/runs/log-metric", {"json": {**metric, "step": 2, "value": "0.25"}}),
        ("POST", "/runs/log-metric", {"json": metric, "headers": {
            "Authorization": f"Bearer {viewer}"}}),
        ("POST", "/runs/log-metric", {"json": metric, "headers": {"Authorization": ""}}),
        ("POST", "/runs/log-metric", {"json": metric, "headers": {
            "Authorization": f"Bearer {team_a}", "X-Triops-Project": "team-a"}}),
        ("POST", "/runs/log-metric", {"content": b"{nope", "headers": as_json}),
        ("POST", "/runs/log-metric", {"content": b"", "headers": as_json}),
        ("POST", "/runs/log-metric", {"content": b"[1, 2]", "headers": as_json}),
        ("POST", "/runs/log-metric", {"content": f'{{"run_id": "{run}", "key": "nan", '
                                                 f'"value": NaN, "timestamp": 5}}'.encode(),
                                      "headers": as_json}),
        ("POST", "/runs/log-metric", {"content": b'{"run_id": "x"}',
                                      "headers": {"content-type": "text/plain"}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "value": "abc"}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "value": True}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "key": None}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "key": "bad key!"}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "run_id": "0" * 32}}),
        ("POST", "/runs/log-metric", {"json": {k: v for k, v in metric.items() if k != "run_id"}}),
        ("POST", "/runs/log-metric", {"json": {**metric, "run_id": None, "run_uuid": run,
                                               "step": 3}}),
        ("POST", "/runs/log-parameter", {"json": {"run_id": run, "key": "alpha", "value": "1"}}),
        ("POST", "/runs/log-parameter", {"json": {"run_id": run, "key": "alpha", "value": "1"}}),
        ("POST", "/runs/log-parameter", {"json": {"run_id": run, "key": "alpha", "value": "2"}}),
        ("POST", "/runs/log-parameter", {"json": {"run_id": run, "key": "beta"}}),
        ("POST", "/runs/set-tag", {"json": {"run_id": run, "key": "team", "value": "x"}}),
        ("POST", "/runs/set-tag", {"json": {"run_id": run, "key": "mlflow.runName",
                                            "value": "renamed"}}),
        ("POST", "/runs/set-tag", {"json": {"run_id": run, "value": "x"}}),
        ("POST", "/runs/log-batch", {"json": {
            "run_id": run, "metrics": [{"key": "acc", "value": 0.9, "timestamp": 7, "step": 0}],
            "params": [{"key": "gamma", "value": "3"}], "tags": [{"key": "t", "value": "v"}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [{"key": "acc"}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "params": [
            {"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}}),
        ("GET", f"/runs/get?run_id={run}", {}),
        ("GET", f"/runs/get?run_uuid={run}", {}),
        ("GET", "/runs/get", {}),
        ("GET", f"/runs/get?run_id={'0' * 32}", {}),
        ("GET", f"/runs/get?run_id={run}", {"headers": {"Authorization": f"Bearer {viewer}"}}),
        # log-batch's metrics as the stock client sends them, read without a model each,
        # and the shapes that still go through the model.
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [
            {"key": "acc", "value": 1, "timestamp": 8, "step": 2},
            {"key": "loss", "value": 0.125, "timestamp": 9, "step": 2},
            {"key": "acc", "value": 0.75, "timestamp": 9, "step": 2}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [
            {"key": "acc", "value": True, "timestamp": 8, "step": 3}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [
            {"key": "", "value": 1.5, "timestamp": 8, "step": 3}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [
            {"key": "acc", "value": 0.5, "timestamp": 10.0, "step": 3}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": [
            {"key": "f1", "value": 0.5, "timestamp": 10, "step": 3, "dataset_name": "d",
             "dataset_digest": "x1"}]}}),
        ("POST", "/runs/log-batch", {"json": {"run_id": run, "metrics": None}}),
        ("POST", "/runs/search", {"json": {
            "experiment_ids": ["0"], "filter": f"metrics.acc >= 0.5 and attributes.run_id = '{run}'",
            "max_results": 5}}),
        ("POST", "/runs/search", {"json": {
            "experiment_ids": ["0"], "filter": f"attributes.run_id = '{run}'"},
            "headers": {"Authorization": f"Bearer {viewer}"}}),
        ("POST", "/runs/search", {"json": {"experiment_ids": ["0"], "filter": "metrics.acc >"}}),
        ("POST", "/runs/search", {"json": {"experiment_ids": ["0"], "max_results": -1}}),
        ("POST", "/runs/search", {"json": {"experiment_ids": "0"}}),
        ("POST", "/runs/search", {"json": {}, "headers": {"Authorization": ""}}),
        ("POST", "/runs/delete", {"json": {"run_id": run}}),
        ("POST", "/runs/log-metric", {"json": metric}),
        ("POST", "/runs/set-tag", {"json": {"run_id": run, "key": "late", "value": "x"}}),
    ]


def _normalised(body: object, run: str) -> object:
    """A response body with what differs between two runs (id, times) taken out."""
    if isinstance(body, dict):
        return {k: _normalised(v, run) for k, v in body.items()
                if k not in ("start_time", "end_time", "artifact_uri", "experiment_id")}
    if isinstance(body, list):
        return [_normalised(v, run) for v in body]
    return body.replace(run, "<run>") if isinstance(body, str) else body


def _exchange(client: TestClient, viewer: str, team_a: str) -> list[tuple]:
    run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
        "run_id"]
    seen = []
    for prefix in (API, "/ajax-api/2.0/mlflow"):
        for method, path, kwargs in _requests(run, viewer, team_a):
            response = client.request(method, prefix + path, **kwargs)
            seen.append((method, path.replace(run, "<run>"), response.status_code,
                         _normalised(response.json(), run),
                         response.headers.get("www-authenticate")))
        run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"][
            "info"]["run_id"]
    return seen


@pytest.fixture
def other_keys(runtime: Runtime) -> tuple[str, str]:
    with runtime.db.write() as session:
        viewer = keys.create(session, project="default", role=Role.viewer).secret
        team_a = keys.create(session, project="team-a", role=Role.editor).secret
    return viewer, team_a


def test_shortcut_answers_as_the_declared_routes_do(runtime, other_keys):
    seen = {}
    for shortcut in (True, False):
        with admin_client(runtime, without=None if shortcut else MlflowShortcut) as client:
            seen[shortcut] = _exchange(client, *other_keys)
    for fast, routed in zip(seen[True], seen[False], strict=True):
        assert fast == routed
    statuses = [status for _, _, status, _, _ in seen[True]]
    half = len(statuses) // 2
    assert statuses[:half] == statuses[half:] == [
        200, 200, 403, 401, 404, 400, 400, 400, 400, 400, 400, 400, 400, 400, 404, 400, 200,
        200, 200, 400, 400, 200, 200, 400, 200, 400, 400, 200, 200, 400, 404, 200,
        200, 400, 400, 200, 200, 400, 200, 200, 400, 400, 400, 401,
        200, 400, 400]
    assert seen[True][3][4] == 'Bearer realm="triops"'  # 401 asks for a key
    got = next(body for method, path, status, body, _ in seen[True]
               if path == "/runs/get?run_id=<run>" and status == 200)["run"]["data"]
    assert {m["key"] for m in got["metrics"]} == {"loss", "acc"}
    assert got["params"] == [{"key": "alpha", "value": "1"}, {"key": "gamma", "value": "3"}]
    found = [body for method, path, status, body, _ in seen[True]
             if path == "/runs/search" and status == 200]
    latest = {m["key"]: m for m in found[0]["runs"][0]["data"]["metrics"]}
    assert latest["acc"] == {"key": "acc", "value": 0.5, "timestamp": 10, "step": 3}
    assert latest["f1"]["value"] == 0.5
    assert found[1]["runs"][0]["info"]["run_id"] == "<run>"


def test_shortcut_requests_are_counted_under_their_route(runtime):
    labels = {}
    for shortcut in (True, False):
        with admin_client(runtime, without=None if shortcut else MlflowShortcut) as client:
            run = client.post(f"{API}/runs/create", json={}).json()["run"]["info"]["run_id"]
            assert client.post(f"{API}/runs/log-metric", json={
                "run_id": run, "key": "k", "value": 1.0}).status_code == 200
            labels[shortcut] = [line for line in client.get("/metrics").text.splitlines()
                                if line.startswith("triops_http_requests_total{")
                                and "log-metric" in line]
    assert labels[True] == labels[False] == [
        'triops_http_requests_total{method="POST",route="/runs/log-metric",status="200"} 1.0']
