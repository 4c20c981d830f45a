"""Artifacts on S3: a real ``triops up`` whose artifact root is ``s3://bucket/prefix`` on a
local S3-API server (moto's standalone server, its own process), driven by the stock
``mlflow`` client — upload, listing, download — and a model served from S3."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import free_port, new_server
from tests.waiting import wait_until

pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
s3fs = pytest.importorskip("s3fs", reason="s3fs is in the s3 and dev extras")
mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.e2e

BUCKET = "triops-artifacts"
#: Static credentials moto accepts; the point is that triops reads them from the standard
#: AWS variables like any S3 client, not that they are secret.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free port, with an empty bucket."""
    home: Path = tmp_path_factory.mktemp("moto")
    port = free_port()
    with open(home / "moto.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError((home / "moto.log").read_text()[-3000:])
            try:
                return httpx.get(f"{url}/moto-api/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, message="moto's S3 server to answer")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _bucket(endpoint: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint,
                             use_listings_cache=False)


@pytest.fixture(scope="module")
def s3_server(backend, s3_endpoint, tmp_path_factory, pg_databases):
    """``triops up`` with its artifact root in the bucket; each backend gets its own prefix."""
    prefix = f"{BUCKET}/{backend}"
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint,
           "TRIOPS_ARTIFACTS": f"s3://{prefix}"}
    proc = new_server(backend, tmp_path_factory.mktemp(f"s3-{backend}"), pg_databases,
                      extra_env=env).start()
    yield proc, prefix
    proc.stop()


@pytest.fixture
def client(s3_server, monkeypatch) -> MlflowClient:
    server, _ = s3_server
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    while mlflow.active_run():
        mlflow.end_run()


def test_mlflow_artifacts_land_in_the_bucket_and_come_back(client, s3_server, s3_endpoint,
                                                           tmp_path):
    _, prefix = s3_server
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: more than one chunk
    (tmp_path / "weights.bin").write_bytes(payload)
    mlflow.set_experiment("s3-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "weights.bin"), artifact_path="blobs")
        mlflow.log_dict({"k": 1}, "conf/config.json")
    run_id = run.info.run_id

    # The bytes are in the bucket under the configured prefix, nothing half-written beside them.
    stored = [p for p in _bucket(s3_endpoint).find(prefix) if p.endswith(("weights.bin",
                                                                         "config.json"))]
    assert sorted(Path(p).name for p in stored) == ["config.json", "weights.bin"]
    assert not [p for p in _bucket(s3_endpoint).find(prefix) if p.endswith(".partial")]
    with _bucket(s3_endpoint).open(next(p for p in stored if p.endswith("weights.bin"))) as fh:
        assert fh.read() == payload

    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["blobs", "conf"]
    listed = client.list_artifacts(run_id, "blobs")
    assert [(a.path, a.file_size) for a in listed] == [("blobs/weights.bin", len(payload))]
    local = client.download_artifacts(run_id, "blobs/weights.bin", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == payload
    uri = client.get_run(run_id).info.artifact_uri
    assert mlflow.artifacts.load_dict(f"{uri}/conf/config.json") == {"k": 1}

    # Another replica writes beside it (here: another S3 client): this server's next
    # listing and download see the object, nothing cached from before hides it.
    weights = next(p for p in stored if p.endswith("weights.bin"))
    _bucket(s3_endpoint).pipe(weights.replace("weights.bin", "extra.bin"), b"from elsewhere")
    listed = client.list_artifacts(run_id, "blobs")
    assert [a.path for a in listed] == ["blobs/extra.bin", "blobs/weights.bin"]
    local = client.download_artifacts(run_id, "blobs/extra.bin", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == b"from elsewhere"


def test_a_model_logged_to_s3_is_served(client, s3_server, s3_endpoint):
    server, prefix = s3_server
    x = pd.DataFrame({"age": np.arange(40.0), "visits": np.arange(40) % 5})
    y = (x.age > 20).astype(int)
    model = LogisticRegression().fit(x, y)
    mlflow.set_experiment("s3-serving")
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="s3-churn",
                                 signature=infer_signature(x, model.predict(x)),
                                 serialization_format="skops", pip_requirements=["scikit-learn"])
    assert any(p.endswith("/MLmodel") for p in _bucket(s3_endpoint).find(prefix))
    assert not (server.home / "artifacts").exists()  # the bucket is the only copy

    with server.http() as http:
        created = http.post("/api/v1/endpoints", json={"name": "s3-churn",
                                                       "model": "s3-churn/1"})
        assert created.status_code == 201, created.text
        answer = http.post("/api/v1/endpoints/s3-churn/predict",
                           json={"records": [{"age": 30.0, "visits": 1},
                                             {"age": 2.0, "visits": 0}]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [1, 0] and answer.json()["version"] == 1
