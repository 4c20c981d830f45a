"""The native tracking API under the SDK (idempotent runs, exactly-once batches),
datasets, lineage and the lineage CLI, on both backends."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest
from typer.testing import CliRunner

from triops import ml
from triops.cli.main import app as cli
from triops.client.profile import describe
from triops.store.repos import deployments, registry, runs
from triops.store.repos.projects import DEFAULT_PROJECT


def _open(client, experiment="churn", run_id=None):
    run_id = run_id or uuid.uuid4().hex
    r = client.post("/api/v1/runs", json={"run_id": run_id, "experiment": experiment,
                                          "name": "first"})
    assert r.status_code == 200, r.text
    return run_id, r.json()


def _history(db, run_id, key):
    with db.read() as session:
        return runs.metric_history(session, DEFAULT_PROJECT, run_id, key)


def test_run_creation_is_idempotent(client):
    run_id, first = _open(client)
    assert first["created"] is True and first["status"] == "RUNNING"
    again = client.post("/api/v1/runs", json={"run_id": run_id, "experiment": "churn"})
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["experiment_id"] == first["experiment_id"]
    assert client.get(f"/api/v1/runs/{run_id}").json()["name"] == "first"


def test_resent_batch_is_stored_once(client, runtime):
    run_id, _ = _open(client)
    batch = {"batch_id": "batch-0001", "params": {"alpha": "0.1"}, "tags": {"team": "a"},
             "metrics": [["rmse", 1.0 / (i + 1), 1_700_000_000_000 + i, i] for i in range(500)]
             + [["loss", None, 1_700_000_000_000, 0]]}
    first = client.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    second = client.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    assert first.json() == {"batch_id": "batch-0001", "applied": True, "points": 501}
    assert second.status_code == 200 and second.json()["applied"] is False
    history = _history(runtime.db, run_id, "rmse")
    assert [p.step for p in history] == list(range(500))
    assert len(_history(runtime.db, run_id, "loss")) == 1
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["params"] == {"alpha": "0.1"} and run["tags"]["team"] == "a"
    assert run["metrics"]["rmse"] == pytest.approx(1 / 500)
    assert run["metrics"]["loss"] == "NaN"


@pytest.mark.parametrize("bad, message", [
    ({"batch_id": "b-000001", "metrics": [["bad key!", 1.0, 1, 0]]}, "Invalid metric name"),
    ({"batch_id": "b-000001", "metrics": [["ok", "x", 1, 0]]}, "metrics.0.1"),
    ({"batch_id": "short", "metrics": []}, "batch_id"),
    ({"batch_id": "b-000001", "params": {"alpha": "0.2"},
      "metrics": [["ok", 1.0, 1, 0]]}, "Changing param values is not allowed"),
])
def test_bad_batch_is_refused_and_writes_nothing(client, runtime, bad, message):
    run_id, _ = _open(client)
    assert client.post(f"/api/v1/runs/{run_id}/batch",
                       json={"batch_id": "b-params", "params": {"alpha": "0.1"}}).status_code == 200
    r = client.post(f"/api/v1/runs/{run_id}/batch", json=bad)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert _history(runtime.db, run_id, "ok") == []
    # The refused batch left no claim behind: the same id with good data is applied.
    good = client.post(f"/api/v1/runs/{run_id}/batch",
                       json={"batch_id": "b-000001", "metrics": [["ok", 2.0, 1, 0]]})
    assert good.json()["applied"] is True
    assert [p.value for p in _history(runtime.db, run_id, "ok")] == [2.0]


def test_bad_requests_get_precise_4xx(client):
    assert client.post("/api/v1/runs/" + "a" * 32 + "/batch", content=b"{not json").status_code == 400
    missing = client.post("/api/v1/runs/" + "a" * 32 + "/batch",
                          json={"batch_id": "b-000001", "metrics": [["ok", 1.0, 1, 0]]})
    assert missing.status_code == 404
    bad_id = client.post("/api/v1/runs", json={"run_id": "not-hex", "experiment": "e"})
    assert bad_id.status_code == 400 and "32 lowercase hex" in bad_id.json()["message"]
    run_id, _ = _open(client)
    assert client.post(f"/api/v1/runs/{run_id}/end",
                       json={"status": "DONE", "end_time": 1}).status_code == 400
    ended = client.post(f"/api/v1/runs/{run_id}/end", json={"status": "FAILED", "end_time": 5})
    assert ended.json()["status"] == "FAILED" and ended.json()["end_time"] == 5


def _register(client, name, frame, run_id=None):
    d = describe(frame)
    body = {"digest": d.digest, "source_type": d.source_type, "source": d.source,
            "row_count": d.row_count, "columns": d.columns, "profile": d.profile,
            "run_id": run_id}
    return client.post(f"/api/v1/datasets/{name}/versions", json=body)


def test_dataset_versions_by_content(client):
    frame = pd.DataFrame({"age": [31, 45, None, 22], "plan": ["a", "b", "a", "a"]})
    first = _register(client, "customers", frame)
    assert first.status_code == 200, first.text
    v1 = first.json()
    assert (v1["version"], v1["created"], v1["row_count"]) == (1, True, 4)
    assert v1["profile"]["age"]["nulls"] == 1 and v1["profile"]["age"]["max"] == 45
    assert v1["profile"]["plan"]["top"][0] == ["a", 3]
    same = _register(client, "customers", frame.copy()).json()
    assert same["version"] == 1 and same["created"] is False
    changed = _register(client, "customers", frame.assign(age=[1, 2, 3, 4])).json()
    assert changed["version"] == 2
    listed = client.get("/api/v1/datasets").json()
    assert listed == [{"name": "customers", "versions": 2, "latest_version": 2,
                       "latest_rows": 4, "updated_ms": changed["created_ms"]}]
    got = client.get("/api/v1/datasets/customers/versions/1").json()
    assert got["digest"] == v1["digest"] and got["columns"][0] == {"name": "age",
                                                                    "dtype": "float64"}
    assert [v["version"] for v in client.get("/api/v1/datasets/customers/versions").json()] \
        == [2, 1]
    assert client.get("/api/v1/datasets/customers/versions/9").status_code == 404
    assert client.get("/api/v1/datasets/customers/versions/x").status_code == 400


@pytest.mark.parametrize("patch, message", [
    ({"digest": "XYZ"}, "digest"),
    ({"row_count": -1}, "row_count"),
    ({"profile": {"nope": {"nulls": 0}}}, "not in columns"),
    ({"profile": {"a": {"median": 1}}}, "unknown statistics"),
    ({"columns": [{"name": "a", "dtype": "int"}, {"name": "a", "dtype": "int"}]}, "distinct"),
])
def test_bad_dataset_is_refused(client, patch, message):
    body = {"digest": "ab" * 32, "row_count": 1, "columns": [{"name": "a", "dtype": "int64"}],
            "profile": {"a": {"dtype": "int64", "nulls": 0}}, **patch}
    r = client.post("/api/v1/datasets/d/versions", json=body)
    assert r.status_code in (400, 422) and message in r.text, r.text
    assert client.get("/api/v1/datasets").json() == []


def _model_from_run(runtime, run_id, name="churn-model"):
    with runtime.db.write() as session:
        registry.create_model(session, DEFAULT_PROJECT, name)
        version = registry.create_version(session, DEFAULT_PROJECT, name,
                                          source=f"runs:/{run_id}/model", run_id=run_id)
        registry.set_alias(session, DEFAULT_PROJECT, name, "champion", version.version)
    return version.version


def test_lineage_joins_sdk_and_mlflow_datasets(client, runtime):
    run_id, _ = _open(client)
    client.post(f"/api/v1/runs/{run_id}/batch", json={
        "batch_id": "lineage-1", "params": {"alpha": "0.1"},
        "metrics": [["rmse", 0.25, 1_700_000_000_000, 3]]})
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert _register(client, "train", frame, run_id=run_id).json()["version"] == 1
    # A dataset logged through MLflow's log-inputs, never registered in triops.
    ml.log_inputs(runtime.db, DEFAULT_PROJECT, run_id, [ml.DatasetUse(
        name="holdout", digest="feedbeef", source_type="local", source="/data/holdout.csv")])
    version = _model_from_run(runtime, run_id)
    got = client.get(f"/api/v1/lineage/models/churn-model/versions/{version}")
    assert got.status_code == 200, got.text
    chain = got.json()
    assert chain["model"]["name"] == "churn-model" and chain["model"]["aliases"] == ["champion"]
    assert chain["run"]["run_id"] == run_id and chain["run"]["experiment_name"] == "churn"
    assert chain["run"]["params"] == {"alpha": "0.1"} and chain["run"]["metrics"] == {"rmse": 0.25}
    by_name = {d["name"]: d for d in chain["datasets"]}
    assert by_name["train"]["version"] == 1 and by_name["train"]["row_count"] == 3
    assert by_name["holdout"]["version"] is None and by_name["holdout"]["digest"] == "feedbeef"
    assert chain["deployments"] == []
    # Deploy: the main traffic follows @champion (this version), a canary pins v1.
    with runtime.db.write() as session:
        deployments.create(session, DEFAULT_PROJECT, deployments.EndpointSpec(
            name="churn-api", model_name="churn-model", model_ref="@champion",
            policy={"canary": {"ref": "1", "percent": 10}}), actor="test")
        deployments.create(session, DEFAULT_PROJECT, deployments.EndpointSpec(
            name="other", model_name="other-model", model_ref="1"), actor="test")
    deployed = client.get(f"/api/v1/lineage/models/churn-model/versions/{version}").json()
    assert [(d["endpoint"], d["role"], d["ref"]) for d in deployed["deployments"]] == [
        ("churn-api", "primary", "@champion"), ("churn-api", "canary", "1")]
    assert deployed["deployments"][1]["percent"] == 10
    # MLflow clients see the SDK's dataset among the run's inputs too.
    with runtime.db.read() as session:
        inputs = runs.dataset_inputs(session, [run_id])[run_id]
    assert {(d.name, d.source_type) for d in inputs} == {("train", "triops"),
                                                         ("holdout", "local")}
    assert client.get("/api/v1/lineage/models/churn-model/versions/7").status_code == 404
    assert client.get("/api/v1/lineage/models/nope/versions/1").status_code == 404


def test_lineage_cli(client, runtime):
    run_id, _ = _open(client, experiment="fraud")
    _register(client, "events", pd.DataFrame({"amount": [1.5, 2.5]}), run_id=run_id)
    version = _model_from_run(runtime, run_id, name="fraud-model")
    runner = CliRunner()
    result = runner.invoke(cli, ["lineage", "model", "fraud-model", str(version),
                                 "--store", runtime.settings.store_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.startswith(word))
             for word in ("dataset", "run", "model", "deployments")]
    assert order == sorted(order)
    assert "events [version 1, 2 rows]" in result.output
    assert run_id in result.output and "fraud-model version 1" in result.output
    assert "deployments (none)" in result.output
    as_json = runner.invoke(cli, ["lineage", "model", "fraud-model", "1", "--json",
                                  "--store", runtime.settings.store_url])
    # The JSON is stdout alone; stderr says which store the verb opened.
    assert json.loads(as_json.stdout)["run"]["experiment_name"] == "fraud"
    assert as_json.stderr.startswith("store: ")
    missing = runner.invoke(cli, ["lineage", "model", "fraud-model", "9",
                                  "--store", runtime.settings.store_url])
    assert missing.exit_code != 0
