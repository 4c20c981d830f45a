"""The stock ``mlflow`` client against a real ``triops up``, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(server, monkeypatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    while mlflow.active_run():
        mlflow.end_run()


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.error_code


def test_experiments_crud_and_search(client):
    exp_id = client.create_experiment("exp-crud", tags={"team": "a"})
    assert client.get_experiment(exp_id).name == "exp-crud"
    assert client.get_experiment_by_name("exp-crud").experiment_id == exp_id
    assert client.get_experiment_by_name("no-such-experiment") is None
    with pytest.raises(MlflowException) as err:
        client.create_experiment("exp-crud")
    assert _code(err) == "RESOURCE_ALREADY_EXISTS"
    client.rename_experiment(exp_id, "exp-crud-2")
    client.set_experiment_tag(exp_id, "stage", "dev")
    found = client.search_experiments(filter_string="name LIKE 'exp-crud%' and tags.team = 'a'")
    assert [e.name for e in found] == ["exp-crud-2"]
    assert found[0].tags == {"team": "a", "stage": "dev"}
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "exp-crud-2" not in [e.name for e in client.search_experiments()]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_experiment("0").name == "Default"
    with pytest.raises(MlflowException) as err:
        client.get_experiment("123456")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_run_logging_history_and_search(client):
    exp_id = client.create_experiment("exp-runs")
    made = []
    for i in range(5):
        run = client.create_run(exp_id, run_name=f"run-{i}", tags={"team": "x" if i % 2 else "y"})
        client.log_param(run.info.run_id, "alpha", str(i / 10))
        for step in range(3):
            client.log_metric(run.info.run_id, "rmse", 1.0 - i / 10 - step / 100, step=step)
        client.log_batch(run.info.run_id, metrics=[Metric("acc", i / 5, 1000, 0)],
                         params=[Param("kind", "lr")], tags=[RunTag("extra", "1")])
        client.set_terminated(run.info.run_id, status="FINISHED" if i < 4 else "FAILED")
        made.append(run.info.run_id)

    got = client.get_run(made[2])
    assert got.info.status == "FINISHED" and got.info.end_time
    assert got.data.params == {"alpha": "0.2", "kind": "lr"}
    assert got.data.metrics == {"rmse": pytest.approx(0.78), "acc": pytest.approx(0.4)}
    assert got.data.tags["team"] == "y" and got.info.run_name == "run-2"
    history = client.get_metric_history(made[2], "rmse")
    assert [(m.step, round(m.value, 2)) for m in history] == [(0, 0.8), (1, 0.79), (2, 0.78)]

    runs = client.search_runs(
        [exp_id], "metrics.rmse < 0.85 and params.alpha != '0.4' and tags.team = 'y'",
        order_by=["metrics.rmse ASC"])
    assert [r.info.run_name for r in runs] == ["run-2"]
    runs = client.search_runs([exp_id], "attributes.status = 'FAILED'")
    assert [r.info.run_name for r in runs] == ["run-4"]
    runs = client.search_runs([exp_id], "attributes.run_name IN ('run-1', 'run-3')",
                              order_by=["params.alpha DESC"])
    assert [r.info.run_name for r in runs] == ["run-3", "run-1"]
    assert len(client.search_runs([exp_id], "attributes.run_name ILIKE 'RUN-%'")) == 5
    page = client.search_runs([exp_id], order_by=["metrics.acc DESC"], max_results=2)
    assert [r.info.run_name for r in page] == ["run-4", "run-3"] and page.token
    rest = client.search_runs([exp_id], order_by=["metrics.acc DESC"], max_results=10,
                              page_token=page.token)
    assert [r.info.run_name for r in rest] == ["run-2", "run-1", "run-0"]

    client.set_tag(made[0], "temp", "1")
    client.delete_tag(made[0], "temp")
    assert "temp" not in client.get_run(made[0]).data.tags
    client.delete_run(made[0])
    assert len(client.search_runs([exp_id])) == 4
    assert client.get_run(made[0]).info.lifecycle_stage == "deleted"
    client.restore_run(made[0])
    assert len(client.search_runs([exp_id])) == 5


def test_fluent_api_with_artifacts_and_inputs(client, tmp_path):
    pd = pytest.importorskip("pandas")
    mlflow.set_experiment("exp-fluent")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, name="toy", targets="y")
    (tmp_path / "notes.txt").write_text("hello")
    with mlflow.start_run(run_name="fluent") as run:
        mlflow.log_params({"a": 1, "b": "two"})
        mlflow.log_metrics({"m1": 0.5, "m2": float("nan")}, step=3)
        mlflow.log_input(dataset, context="training")
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="docs")
        mlflow.log_dict({"k": 1}, "conf/config.json")
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"a": "1", "b": "two"}
    assert got.data.metrics["m1"] == 0.5 and math.isnan(got.data.metrics["m2"])
    inputs = got.inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in inputs] == [("toy", dataset.digest)]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    listed = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert listed == ["conf", "docs"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "docs")] == ["docs/notes.txt"]
    local = client.download_artifacts(run.info.run_id, "docs/notes.txt", str(tmp_path / "dl"))
    assert Path(local).read_text() == "hello"
    assert mlflow.artifacts.load_dict(f"{got.info.artifact_uri}/conf/config.json") == {"k": 1}


def test_sklearn_model_registry_alias_and_load(client):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    del sklearn
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    mlflow.set_experiment("exp-registry")
    with mlflow.start_run() as run:
        # Pinned requirements skip the slow environment inference; the model is the point.
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="iris-lr",
                                        pip_requirements=["scikit-learn", "skops"])
        mlflow.log_metric("acc", float(model.score(x, y)))
    assert str(info.registered_model_version) == "1"
    client.set_registered_model_alias("iris-lr", "champion", "1")
    version = client.get_model_version_by_alias("iris-lr", "champion")
    assert version.version == "1" and version.run_id == run.info.run_id
    assert version.aliases == ["champion"]
    loaded = mlflow.pyfunc.load_model("models:/iris-lr@champion")
    assert np.array_equal(loaded.predict(x), model.predict(x))

    logged = client.get_logged_model(info.model_id)
    assert logged.status.to_proto() == 2  # LOGGED_MODEL_READY
    assert logged.source_run_id == run.info.run_id
    found = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert [m.model_id for m in found] == [info.model_id]
    client.set_logged_model_tags(info.model_id, {"quality": "good"})
    assert client.get_logged_model(info.model_id).tags["quality"] == "good"
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]

    v2 = client.create_model_version("iris-lr", f"runs:/{run.info.run_id}/model",
                                     run_id=run.info.run_id, tags={"t": "v"})
    assert v2.version == "2"
    client.set_model_version_tag("iris-lr", "2", "checked", "yes")
    client.update_model_version("iris-lr", "2", description="second")
    got = client.get_model_version("iris-lr", "2")
    assert got.description == "second" and got.tags == {"t": "v", "checked": "yes"}
    client.set_registered_model_tag("iris-lr", "owner", "ml-team")
    client.update_registered_model("iris-lr", description="iris classifier")
    rm = client.get_registered_model("iris-lr")
    assert rm.tags == {"owner": "ml-team"} and rm.description == "iris classifier"
    assert rm.aliases == {"champion": "1"}
    assert [m.name for m in client.search_registered_models("name LIKE 'iris%'")] == ["iris-lr"]
    versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    assert [v.version for v in client.get_latest_versions("iris-lr")] == ["2"]
    client.rename_registered_model("iris-lr", "iris-lr-2")
    assert client.get_model_version_by_alias("iris-lr-2", "champion").version == "1"
    client.delete_registered_model_alias("iris-lr-2", "champion")
    with pytest.raises(MlflowException) as err:
        client.get_model_version_by_alias("iris-lr-2", "champion")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    client.delete_model_version("iris-lr-2", "2")
    client.delete_registered_model("iris-lr-2")
    with pytest.raises(MlflowException) as err:
        client.get_registered_model("iris-lr-2")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_bad_input_is_refused_and_writes_nothing(client, server):
    exp_id = client.create_experiment("exp-errors")
    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException) as err:
        client.log_param(run_id, "p", "2")
    assert _code(err) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        client.log_param(run_id, "long", "x" * 6001)
    assert _code(err) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:  # one bad param spoils the whole batch
        client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)],
                         params=[Param("ok", "1"), Param("p", "3")])
    assert _code(err) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        client.log_metric("0" * 32, "m", 1.0)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp_id], "metrics.m < 'abc'")
    assert _code(err) == "INVALID_PARAMETER_VALUE"

    with server.http() as http:
        bad = http.post("/api/2.0/mlflow/runs/log-metric",
                        json={"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        bad = http.post("/api/2.0/mlflow/runs/log-metric",
                        json={"run_id": run_id, "key": "../m", "value": 1, "timestamp": 1})
        assert bad.status_code == 400
        for path in ("..%2F..%2Fetc%2Fpasswd", "a/%2e%2e/%2e%2e/%2e%2e/x", "%252e%252e/x",
                     "%2Fetc%2Fpasswd", "a/..%5C..%5Cx"):
            put = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"evil")
            assert put.status_code == 400, (path, put.status_code, put.text)
            assert put.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        listing = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "../"})
        assert listing.status_code == 400
        assert http.get("/api/2.0/mlflow-artifacts/artifacts").json().get("files", []) == [] \
            or all(f["path"] not in ("etc", "x") for f in
                   http.get("/api/2.0/mlflow-artifacts/artifacts").json()["files"])

    got = client.get_run(run_id)
    assert got.data.params == {"p": "1"} and got.data.metrics == {}
    assert client.get_metric_history(run_id, "m") == []


def test_projects_isolate_and_viewers_cannot_write(client, server, monkeypatch):
    exp_id = client.create_experiment("exp-private")
    run_id = client.create_run(exp_id).info.run_id
    with server.http() as http:
        made = {}
        for role in ("viewer", "editor"):
            resp = http.post("/api/v1/keys", json={"name": f"team-{role}", "project": "team-b",
                                                    "role": role})
            assert resp.status_code in (200, 201), resp.text
            made[role] = resp.json()["secret"]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", made["editor"])
    other = MlflowClient(tracking_uri=server.url)
    with pytest.raises(MlflowException) as err:
        other.get_run(run_id)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert other.get_experiment_by_name("exp-private") is None
    own = other.create_experiment("exp-private")  # same name, other project
    assert own != exp_id
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", made["viewer"])
    viewer = MlflowClient(tracking_uri=server.url)
    assert [e.name for e in viewer.search_experiments(filter_string="name = 'exp-private'")] \
        == ["exp-private"]
    with pytest.raises(MlflowException) as err:
        viewer.create_experiment("nope")
    assert _code(err) == "PERMISSION_DENIED"


def test_fluent_search_and_register_from_a_run(client):
    mlflow.set_experiment("exp-fluent-search")
    for i in range(3):
        with mlflow.start_run(run_name=f"s{i}"):
            mlflow.log_param("depth", i)
            mlflow.log_metric("score", i * 10)
            mlflow.log_text("weights", "model/weights.txt")
            # An MLmodel file is what makes the client register the run's folder itself.
            mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    frame = mlflow.search_runs(filter_string="metrics.score >= 10", order_by=["metrics.score DESC"])
    assert list(frame["tags.mlflow.runName"]) == ["s2", "s1"]
    assert list(frame["params.depth"]) == ["2", "1"]
    best = frame.iloc[0]["run_id"]
    version = mlflow.register_model(f"runs:/{best}/model", "from-run")
    assert version.run_id == best
    uri = client.get_model_version_download_uri("from-run", version.version)
    assert uri.endswith(f"{best}/artifacts/model")
    local = mlflow.artifacts.download_artifacts(f"models:/from-run/{version.version}")
    assert (Path(local) / "weights.txt").read_text() == "weights"
