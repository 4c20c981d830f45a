"""Model files load through safe formats; a pickle runs only when the deployment trusts it."""

from __future__ import annotations

import os

import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.ml import serving_models as sm
from triops.core.errors import InvalidInput, NotFound
from triops.ml.serving.loaders import (
    LOADERS,
    ModelFiles,
    ModelHandle,
    artifact_root,
    load_model,
    register_loader,
)
from triops.store.repos import audit

BACKENDS_UNDER_TEST = ("sqlite",)


def _deploy(client, model: str = "churn@champion", **extra):
    return client.post("/api/v1/endpoints", json={"name": "churn", "model": model, **extra})


def _audit_actions(runtime) -> list[str]:
    with runtime.db.read() as session:
        return [e.action for e in audit.recent(session, "default")]


def test_malicious_pickle_is_refused_unless_trusted_and_never_runs(client, runtime, tmp_path):
    marker = tmp_path / "pwned"
    sm.register(runtime, "churn", sm.malicious_mlflow_files(marker), alias="champion")

    refused = _deploy(client)
    assert refused.status_code == 400
    body = refused.json()
    assert body["error_code"] == "UNTRUSTED_MODEL_FORMAT"
    assert "cloudpickle" in body["message"] and "trust_pickle" in body["message"]
    assert not marker.exists(), "a refused pickle must never be unpickled"
    # Refused means nothing written: no endpoint, no audit entry.
    assert client.get("/api/v1/endpoints").json() == []
    assert "endpoint.deploy" not in _audit_actions(runtime)
    assert client.post("/api/v1/endpoints/churn/predict",
                       json={"records": [{"age": 1.0, "visits": 1}]}).status_code == 404
    assert not marker.exists()

    # Trusting the source is explicit, and only then does the pickle run.
    trusted = _deploy(client, trust_pickle=True)
    assert marker.exists()
    assert trusted.status_code == 400  # it held no model, only its payload
    assert "predict()" in trusted.json()["message"]


def test_trusted_cloudpickle_model_serves_and_trust_is_audited(client, runtime):
    sm.register(runtime, "churn", sm.mlflow_files(sm.classifier(), "cloudpickle"),
                alias="champion")
    assert _deploy(client).status_code == 400
    created = _deploy(client, trust_pickle=True)
    assert created.status_code == 201, created.text
    assert created.json()["trust_pickle"] is True
    assert {"endpoint.deploy", "endpoint.trust_pickle"} <= set(_audit_actions(runtime))
    got = client.post("/api/v1/endpoints/churn/predict",
                      json={"records": [{"age": 30.0, "visits": 1}, {"age": 2.0, "visits": 0}]})
    assert got.json()["predictions"] == [1, 0]


def test_skops_file_with_unsafe_types_is_refused(runtime):
    model = make_pipeline(FunctionTransformer(os.system), sm.classifier())
    files = sm.skops_files(model)
    sm.register(runtime, "sneaky", files)
    root = artifact_root(_location(runtime, "sneaky"), "default")
    with pytest.raises(InvalidInput, match=r"system.*trusted_types"):
        load_model(ModelFiles(runtime.artifacts, root))


def test_plain_skops_file_takes_feature_names_as_signature(runtime):
    sm.register(runtime, "plain", sm.skops_files(sm.regressor()))
    handle = load_model(ModelFiles(runtime.artifacts,
                                   artifact_root(_location(runtime, "plain"), "default")))
    assert handle.format == "skops+compiled-linear"
    assert [c.name for c in handle.columns or []] == ["age", "visits"]
    assert handle.predict(sm.FEATURES.head(2)) == pytest.approx([0.0, 2.0])


def test_mlflow_skops_model_reads_signature_types(runtime):
    sm.register(runtime, "typed", sm.mlflow_files(sm.classifier(), "skops"))
    handle = load_model(ModelFiles(runtime.artifacts,
                                   artifact_root(_location(runtime, "typed"), "default")))
    assert handle.format == "mlflow-sklearn-skops+compiled-linear"
    assert [(c.name, c.type) for c in handle.columns or []] == [("age", "double"),
                                                                ("visits", "long")]


def test_locations_outside_the_store_and_missing_files_are_refused(runtime):
    with pytest.raises(InvalidInput, match="not in this server's artifact store"):
        artifact_root("s3://elsewhere/model", "default")
    with pytest.raises(InvalidInput, match=r"\.\."):
        artifact_root("mlflow-artifacts:/../../etc", "default")
    with pytest.raises(NotFound):
        ModelFiles(runtime.artifacts, "mlflow/default/0/models/none/artifacts")


@pytest.mark.parametrize("package", ["onnxruntime", "xgboost", "lightgbm"])
def test_optional_formats_name_their_package_when_absent(runtime, package):
    suffix = {"onnxruntime": "model.onnx", "xgboost": "model.ubj", "lightgbm": "model.lgb"}
    try:
        __import__(package)
        pytest.skip(f"{package} is installed")
    except ImportError:
        pass
    sm.register(runtime, "opt", {suffix[package]: b"not really a model"})
    with pytest.raises(InvalidInput, match="install"):
        load_model(ModelFiles(runtime.artifacts,
                              artifact_root(_location(runtime, "opt"), "default")))


def test_a_registered_loader_is_tried_first(runtime):
    class Constant:
        format = "constant"

        def accepts(self, files):  # type: ignore[no-untyped-def]
            return "constant.txt" in files.names

        def load(self, files, *, trust):  # type: ignore[no-untyped-def]
            value = float(files.read("constant.txt"))
            return ModelHandle(predict=lambda frame: [value] * len(frame), columns=None,
                               format=self.format)

    register_loader(Constant())
    try:
        sm.register(runtime, "const", {"constant.txt": b"4.5"})
        handle = load_model(ModelFiles(runtime.artifacts,
                                       artifact_root(_location(runtime, "const"), "default")))
        assert handle.predict(sm.FEATURES.head(3)) == [4.5, 4.5, 4.5]
    finally:
        LOADERS.unregister("constant")


def _location(runtime, name: str) -> str:
    from triops.store.repos import registry

    with runtime.db.read() as session:
        return registry.get_version(session, "default", name, 1)[1].storage_location
