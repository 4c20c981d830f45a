"""The closed loop against a real ``triops up``, on SQLite and PostgreSQL.

A model is registered through the stock ``mlflow`` client with its training dataset
logged, deployed, and sent traffic with httpx. The inputs shift and the labelling rule
moves with them; the monitor (reference: the training data found through lineage) sees
drift and an accuracy drop, both open incidents, the retraining pipeline runs inside the
server, its candidate beats the champion on the holdout, the alias moves, and the
endpoint serves the new version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import new_server
from tests.waiting import wait_until
from triops.store import Database
from triops.store.repos import audit

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _frame(rng, n, age_mean, cut):
    frame = pd.DataFrame({"age": rng.normal(age_mean, 8, n).round(1),
                          "visits": rng.integers(0, 10, n)})
    return frame, (frame.age > cut).astype(int)


@pytest.fixture
def loop_server(backend, tmp_path, pg_databases, monkeypatch):
    proc = new_server(backend, tmp_path / "server", pg_databases)
    proc.extra_env = {"PYTHONPATH": str(REPO), "CLOSED_LOOP_URL": proc.url,
                      "MLFLOW_TRACKING_TOKEN": proc.admin_key,
                      "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                      "TRIOPS_PIPELINE_MODULES": "tests.e2e.closed_loop_pipeline"}
    proc.start()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", proc.admin_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(proc.url)
    mlflow.set_registry_uri(proc.url)
    yield proc
    proc.stop()


def test_drift_and_accuracy_drop_retrain_and_promote(loop_server, tmp_path):
    server = loop_server
    rng = np.random.default_rng(11)
    train_x, train_y = _frame(rng, 3000, 40, 40)

    # 1. Train, log the training table and its dataset, register v1 as champion.
    csv = tmp_path / "train.csv"
    train_x.to_csv(csv, index=False)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(csv))
        source = (f"{server.url}/api/2.0/mlflow-artifacts/artifacts/"
                  f"{run.info.experiment_id}/{run.info.run_id}/artifacts/train.csv")
        mlflow.log_input(mlflow.data.from_pandas(train_x, source=source, name="churn-train"),
                         context="training")
        champion = LogisticRegression().fit(train_x, train_y)
        mlflow.sklearn.log_model(champion, name="model", registered_model_name="churn",
                                 signature=infer_signature(train_x, champion.predict(train_x)),
                                 serialization_format="skops", pip_requirements=["scikit-learn"])
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.set_registered_model_alias("churn", "champion", "1")

    with server.http() as http:
        # 2. Deploy, register the retraining pipeline, define the monitor.
        assert http.post("/api/v1/endpoints", json={"name": "churn",
                                                    "model": "churn@champion"}).status_code == 201
        registered = http.post("/api/v1/pipelines", json={
            "name": "retrain-churn", "ref": "tests.e2e.closed_loop_pipeline:retrain_churn"})
        assert registered.status_code == 201, registered.text
        monitor = http.post("/api/v1/monitors", json={
            "name": "churn", "endpoint": "churn", "spec": {
                "model": "churn", "alias": "champion",
                "window": {"kind": "count", "size": 2000},
                "reference": {"kind": "training"},
                "performance": {"metric": "accuracy", "threshold": 0.85, "min_labels": 100},
                "retrain": {"pipeline": "retrain-churn", "metric": "accuracy",
                            "min_improvement": 0.05}}})
        assert monitor.status_code == 201, monitor.text

        # 3. Traffic whose inputs shifted (older customers) and whose labels moved too.
        for i in range(30):
            batch, truth = _frame(rng, 40, 56, 56)
            answer = http.post("/api/v1/endpoints/churn/predict",
                               json={"records": batch.to_dict("records")},
                               headers={"X-Request-ID": f"shift-{i}"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == 1
            labels = http.post("/api/v1/endpoints/churn/labels",
                               json=[{"request_id": f"shift-{i}", "label": truth.tolist()}])
            assert labels.status_code == 200, labels.text

        # 4. The monitor sees drift on age and the accuracy drop: one incident on the
        #    model holds both, the second joined with its reason.
        result = http.post("/api/v1/monitors/churn/run")
        assert result.status_code == 200, result.text
        body = result.json()
        assert body["status"] == "breach", body
        assert body["n_reference"] == 3000 and body["n_current"] == 1200
        assert body["drift"]["age"]["drifted"] and not body["drift"]["visits"]["drifted"]
        assert body["performance"]["metrics"]["accuracy"] < 0.85
        on_model = [i for i in http.get("/api/v1/incidents").json()
                    if i["subject"] == "model:churn@champion"]
        assert len(on_model) == 1, on_model
        members = http.get(f"/api/v1/incidents/{on_model[0]['id']}").json()["members"]
        assert {m["kind"] for m in members} == {"drift", "performance"}
        assert any(m["reason"].startswith("joined: same") for m in members)

        # 5. Retraining ran in the server; the challenger won; the alias moved.
        runs = wait_until(lambda: [r for r in http.get("/api/v1/pipelines/retrain-churn/runs")
                                   .json() if r["status"] != "running"],
                          timeout=120, interval=0.5, message="the retraining run")
        assert runs[0]["status"] == "succeeded", runs[0]
        assert runs[0]["trigger"] == "monitor:churn"
        wait_until(lambda: client.get_model_version_by_alias("churn", "champion").version == "2",
                   timeout=120, interval=0.5, message="the champion alias to move")

        # Every step of the loop is in the audit log, in order.
        db = Database(server.store_url)
        try:
            with db.read() as session:
                actions = [e.action for e in reversed(audit.recent(session, "default", 500))]
                moved = next(e for e in audit.recent(session, "default", 500)
                             if e.action == "model.alias.move")
        finally:
            db.dispose()
        loop = ["monitor.run", "retraining.start", "pipeline.run.start", "pipeline.run.finish",
                "retraining.evaluate", "model.alias.move"]
        # In this order after the monitor run (registering the model moved the alias
        # once already, before the loop began).
        at = actions.index("monitor.run")
        for action in loop[1:]:
            assert action in actions[at + 1:], (action, actions)
            at = actions.index(action, at + 1)
        assert moved.detail["from"] == 1 and moved.detail["to"] == 2

        # 6. The endpoint serves the new version.
        probe, _ = _frame(rng, 5, 56, 56)
        wait_until(lambda: http.post("/api/v1/endpoints/churn/predict", json={
            "records": probe.to_dict("records")}).json()["version"] == 2, timeout=30,
            interval=0.5, message="version 2 served")
