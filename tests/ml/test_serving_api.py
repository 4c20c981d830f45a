"""Serving through the real app on both stores: deploy, predict (native and OIP), input
checks, canary, shadow, alias moves, sampling, labels, audit."""

from __future__ import annotations

import pytest

from tests.fake_clock import FakeClock
from tests.ml import serving_models as sm
from triops.store.repos import audit

ROW = {"age": 30.0, "visits": 1}


@pytest.fixture
def churn(runtime):
    """churn v1 (@champion) says age > 20; v2 (@challenger) says the opposite."""
    sm.register(runtime, "churn", sm.mlflow_files(sm.classifier()), alias="champion")
    sm.register(runtime, "churn", sm.skops_files(sm.classifier(flip=True)), alias="challenger")
    return runtime


def _deploy(client, **extra):
    body = {"name": "churn", "model": "churn@champion", **extra}
    response = client.post("/api/v1/endpoints", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _predict(client, records, **headers):
    return client.post("/api/v1/endpoints/churn/predict", json={"records": records},
                       headers=headers)


def _logged(client, limit: int = 1000) -> list[dict]:
    return client.get("/api/v1/endpoints/churn/predictions", params={"limit": limit}).json()[
        "predictions"]


def test_deploy_list_get_delete_is_audited(client, churn):
    created = _deploy(client, canary={"ref": "@challenger", "percent": 10})
    assert created["versions"] == {"primary": 1, "canary": 2}
    assert [e["name"] for e in client.get("/api/v1/endpoints").json()] == ["churn"]
    got = client.get("/api/v1/endpoints/churn").json()
    assert got["policy"] == {"canary": {"ref": "@challenger", "percent": 10.0}}
    again = client.post("/api/v1/endpoints", json={"name": "churn", "model": "churn@champion"})
    assert again.status_code == 400 and "exists already" in again.json()["message"]
    assert client.delete("/api/v1/endpoints/churn").status_code == 204
    assert client.get("/api/v1/endpoints/churn").status_code == 404
    with churn.db.read() as session:
        actions = [e.action for e in audit.recent(session, "default")]
    assert actions[:2] == ["endpoint.delete", "endpoint.deploy"]


@pytest.mark.parametrize("body, fragment", [
    ({"name": "x", "model": "churn"}, "NAME@ALIAS"),
    ({"name": "x", "model": "churn@nope"}, "alias nope not found"),
    ({"name": "x", "model": "churn/9"}, "version=9"),
    ({"name": "x", "model": "ghost@champion"}, "ghost"),
    ({"name": "bad name!", "model": "churn@champion"}, "endpoint name"),
    ({"name": "x", "model": "churn@champion", "canary": {"ref": "@challenger", "percent": 100}},
     "percent"),
    ({"name": "x", "model": "churn@champion", "shadow": {"ref": "challenger"}}, "@alias"),
])
def test_bad_deployments_are_refused_and_write_nothing(client, churn, body, fragment):
    response = client.post("/api/v1/endpoints", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert fragment in response.json()["message"]
    assert client.get("/api/v1/endpoints").json() == []


def test_predict_records_split_and_oip_and_log(client, churn):
    _deploy(client)
    one = _predict(client, [ROW, {"age": 3, "visits": 0}], **{"X-Request-ID": "req-1"})
    assert one.status_code == 200
    assert one.json() == {"predictions": [1, 0], "model": "churn", "version": 1,
                          "served_by": "primary", "request_id": "req-1"}
    assert one.headers["x-request-id"] == "req-1"
    split = client.post("/api/v1/endpoints/churn/predict", json={
        "dataframe_split": {"columns": ["visits", "age"], "data": [[1, 25.0]]}})
    assert split.json()["predictions"] == [1]
    oip = client.post("/v2/models/churn/infer", json={"id": "oip-1", "inputs": [
        {"name": "age", "shape": [2], "datatype": "FP64", "data": [30.0, 1.0]},
        {"name": "visits", "shape": [2, 1], "datatype": "INT64", "data": [[1], [2]]}]})
    assert oip.status_code == 200, oip.text
    assert oip.json()["outputs"] == [{"name": "predict", "shape": [2], "datatype": "INT64",
                                      "data": [1, 0]}]
    matrix = client.post("/v2/models/churn/infer", json={"inputs": [
        {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [30.0, 1]}]})
    assert matrix.json()["outputs"][0]["data"] == [1]
    meta = client.get("/v2/models/churn").json()
    assert meta["inputs"] == [{"name": "age", "datatype": "FP64", "shape": [-1]},
                              {"name": "visits", "datatype": "INT64", "shape": [-1]}]
    # The metadata names the datatype inference answers with (class labels here).
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert client.get("/v2/models/churn/ready").json()["ready"] is True
    assert client.get("/v2/models/nope/ready").status_code == 404

    logged = _logged(client)
    assert [p["request_id"] for p in logged][:1] == ["req-1"]
    assert logged[0]["inputs"] == [{"age": 30.0, "visits": 1}, {"age": 3.0, "visits": 0}]
    assert logged[0]["outputs"] == [1, 0] and logged[0]["version"] == 1
    assert {p["request_id"] for p in logged} >= {"req-1", "oip-1"}
    assert len(logged) == 4


@pytest.mark.parametrize("records, fragment", [
    ([{"age": 30.0}], "missing field 'visits'"),
    ([{"age": 30.0, "visits": 1, "zip": 3}], "unknown field 'zip'"),
    ([{"age": "old", "visits": 1}], "field 'age' (row 0): expected double"),
    ([{"age": 30.0, "visits": 1.5}], "field 'visits' (row 0): expected long"),
    ([{"age": 30.0, "visits": [1]}], "field 'visits'"),
    ([], "no rows"),
    ("nope", "'records' must be a list"),
])
def test_bad_inputs_get_400_naming_the_field_and_log_nothing(client, churn, records, fragment):
    _deploy(client)
    response = _predict(client, records)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
    assert _logged(client) == []


def test_bad_bodies(client, churn):
    _deploy(client)
    raw = client.post("/api/v1/endpoints/churn/predict", content=b"{not json",
                      headers={"content-type": "application/json"})
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["message"]
    assert client.post("/api/v1/endpoints/churn/predict", json={"rows": []}).status_code == 400
    oip = client.post("/v2/models/churn/infer", json={"inputs": [
        {"name": "age", "shape": [2], "datatype": "FP64", "data": [1.0]}]})
    assert oip.status_code == 400 and "needs 2 values" in oip.json()["message"]
    bad_type = client.post("/v2/models/churn/infer", json={"inputs": [
        {"name": "age", "shape": [1], "datatype": "FP128", "data": [1.0]}]})
    assert bad_type.status_code == 400 and "datatype" in bad_type.json()["message"]
    missing = client.post("/v2/models/churn/infer", json={"inputs": []})
    assert missing.status_code == 400 and "inputs" in missing.json()["message"]


def test_canary_splits_traffic_between_versions(client, churn):
    _deploy(client, canary={"ref": "@challenger", "percent": 50})
    served = []
    for i in range(60):
        body = _predict(client, [ROW], **{"X-Request-ID": f"canary-{i}"}).json()
        served.append((body["served_by"], body["version"], body["predictions"][0]))
    assert {s for s in served} == {("primary", 1, 1), ("canary", 2, 0)}
    canary_share = sum(s[0] == "canary" for s in served) / len(served)
    assert 0.25 < canary_share < 0.75
    # The split is by request id: a retry lands on the same version.
    again = _predict(client, [ROW], **{"X-Request-ID": "canary-0"}).json()
    assert again["served_by"] == served[0][0]
    assert {p["served_by"] for p in _logged(client)} == {"primary", "canary"}


def test_shadow_is_logged_and_never_returned(client, churn):
    _deploy(client, shadow={"ref": "@challenger"})
    body = _predict(client, [ROW, {"age": 2.0, "visits": 0}]).json()
    assert body["predictions"] == [1, 0] and body["version"] == 1
    assert "shadow" not in body
    logged = _logged(client)[0]
    assert logged["shadow"] == {"version": 2, "outputs": [0, 1], "agree": False, "error": None}


def test_endpoint_follows_its_alias(client, churn):
    serving = churn.serving
    serving.clock = clock = FakeClock()
    _deploy(client)
    assert _predict(client, [ROW]).json()["version"] == 1
    sm.set_alias(churn, "churn", "champion", 2)  # promote, as the registry would
    assert _predict(client, [ROW]).json()["version"] == 1  # the alias is read once a second
    clock.advance(serving.ref_ttl_s)
    assert _predict(client, [ROW]).json()["version"] == 2
    sm.set_alias(churn, "churn", "champion", 1)  # roll back
    clock.advance(serving.ref_ttl_s)
    assert _predict(client, [ROW]).json()["version"] == 1


def test_sampling_and_labels(client, churn):
    _deploy(client, log_sample_rate=0.0)
    assert _predict(client, [ROW]).status_code == 200
    assert _logged(client) == []
    _deploy(client, replace=True)
    _predict(client, [ROW], **{"X-Request-ID": "lab-1"})
    _predict(client, [ROW], **{"X-Request-ID": "lab-2"})
    accepted = client.post("/api/v1/endpoints/churn/labels",
                           json=[{"request_id": "lab-1", "label": 1}])
    assert accepted.json() == {"accepted": 1}
    labels = {p["request_id"]: p["label"] for p in _logged(client)}
    assert labels == {"lab-1": 1, "lab-2": None}
    assert client.post("/api/v1/endpoints/churn/labels", json=[]).status_code == 400
    assert client.post("/api/v1/endpoints/churn/labels",
                       json=[{"label": 1}]).status_code == 400
    assert client.post("/api/v1/endpoints/ghost/labels",
                       json=[{"request_id": "x", "label": 1}]).status_code == 404
