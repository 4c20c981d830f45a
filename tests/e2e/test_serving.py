"""Serving against a real ``triops up`` on SQLite and PostgreSQL: models registered by the
stock ``mlflow`` client, predictions through OIP and the JSON route with httpx, canary,
shadow, alias moves, input errors, labels; and a SIGKILL mid-stream loses no
acknowledged prediction."""

from __future__ import annotations

import threading
import uuid

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import new_server
from tests.waiting import wait_until

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.e2e

X = pd.DataFrame({"age": np.arange(40.0), "visits": np.arange(40) % 5})
Y = (X.age > 20).astype(int)
ROW = {"age": 30.0, "visits": 1}


def _register(server, monkeypatch, name: str, flips: tuple[bool, ...]) -> None:
    """Log one version per entry of ``flips`` through the stock client (skops format)."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    for flip in flips:
        model = LogisticRegression().fit(X, 1 - Y if flip else Y)
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                model, name="model", registered_model_name=name,
                signature=infer_signature(X, model.predict(X)), serialization_format="skops",
                pip_requirements=["scikit-learn"])


def test_stock_clients_end_to_end(server, monkeypatch):
    _register(server, monkeypatch, "churn", (False, True))
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.set_registered_model_alias("churn", "challenger", "2")

    with server.http() as http:
        created = http.post("/api/v1/endpoints", json={
            "name": "churn", "model": "churn@champion",
            "shadow": {"ref": "@challenger"}})
        assert created.status_code == 201, created.text

        native = http.post("/api/v1/endpoints/churn/predict", json={"records": [ROW]},
                           headers={"X-Request-ID": "e2e-1"})
        assert native.status_code == 200, native.text
        assert native.json()["predictions"] == [1] and native.json()["version"] == 1
        assert "shadow" not in native.json()
        assert native.headers["x-request-id"] == "e2e-1"

        oip = http.post("/v2/models/churn/infer", json={"inputs": [
            {"name": "age", "shape": [1], "datatype": "FP64", "data": [2.0]},
            {"name": "visits", "shape": [1], "datatype": "INT64", "data": [0]}]})
        assert oip.status_code == 200, oip.text
        assert oip.json()["outputs"][0]["data"] == [0]
        assert http.get("/v2/models/churn/ready").json()["ready"] is True

        missing = http.post("/api/v1/endpoints/churn/predict", json={"records": [{"age": 3.0}]})
        assert missing.status_code == 400 and "'visits'" in missing.json()["message"]

        logged = http.get("/api/v1/endpoints/churn/predictions").json()["predictions"]
        first = next(p for p in logged if p["request_id"] == "e2e-1")
        assert first["shadow"]["version"] == 2 and first["shadow"]["outputs"] == [0]
        assert first["shadow"]["agree"] is False

        labels = http.post("/api/v1/endpoints/churn/labels",
                           json=[{"request_id": "e2e-1", "label": 1}])
        assert labels.json() == {"accepted": 1}
        logged = http.get("/api/v1/endpoints/churn/predictions").json()["predictions"]
        assert next(p for p in logged if p["request_id"] == "e2e-1")["label"] == 1

        # Canary: half the traffic to the challenger.
        replaced = http.post("/api/v1/endpoints", json={
            "name": "churn", "model": "churn@champion", "replace": True,
            "canary": {"ref": "@challenger", "percent": 50}})
        assert replaced.status_code == 201
        served = {http.post("/api/v1/endpoints/churn/predict", json={"records": [ROW]}
                            ).json()["version"] for _ in range(30)}
        assert served == {1, 2}

        # Promotion through the stock client: the endpoint follows the alias.
        http.post("/api/v1/endpoints", json={"name": "churn", "model": "churn@champion",
                                             "replace": True})
        registry.set_registered_model_alias("churn", "champion", "2")
        wait_until(lambda: http.post("/api/v1/endpoints/churn/predict",
                                     json={"records": [ROW]}).json()["version"] == 2,
                   timeout=5, interval=0.2, message="the endpoint to serve version 2")


def _client(url: str, key: str, n: int, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            request_id = f"w{n}-{uuid.uuid4().hex[:12]}"
            try:
                response = http.post("/api/v1/endpoints/churn/predict",
                                     json={"records": [ROW]}, headers={"X-Request-ID": request_id})
            except httpx.HTTPError:
                return  # the server died mid-request: never acknowledged
            if response.status_code == 200:
                acked.append(request_id)


def test_acknowledged_predictions_survive_sigkill(backend, tmp_path, pg_databases, monkeypatch):
    server = new_server(backend, tmp_path / "srv", pg_databases).start()
    try:
        _register(server, monkeypatch, "churn", (False,))
        with server.http() as http:
            assert http.post("/api/v1/endpoints", json={
                "name": "churn", "model": "churn/1"}).status_code == 201
        acked: list[str] = []
        stop = threading.Event()
        workers = [threading.Thread(target=_client,
                                    args=(server.url, server.admin_key, n, acked, stop))
                   for n in range(8)]
        for w in workers:
            w.start()
        # Generous: the test machine may be busy.
        wait_until(lambda: len(acked) >= 60, timeout=60, interval=0.02,
                   message="60 acknowledged predictions")
        server.kill()  # SIGKILL while requests are in flight
        stop.set()
        for w in workers:
            w.join(15)
        assert len(acked) >= 60, f"clients did not get going before the kill ({len(acked)})"

        server.start(timeout=180)
        with server.http() as http:
            logged = http.get("/api/v1/endpoints/churn/predictions",
                              params={"limit": 10_000}).json()["predictions"]
        ids = {p["request_id"] for p in logged}
        lost = [r for r in acked if r not in ids]
        assert lost == [], f"{len(lost)} acknowledged predictions lost"
    finally:
        server.stop()
