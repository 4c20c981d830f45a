"""Model files are trusted by reviewed type lists and by an admin's hash-bound grant only.

Every hostile file is built here: a skops file whose reduce node calls a callable that
writes a marker file, a pickle that does the same, ONNX files that are garbage or that
point their weights at a file of the server's working directory.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile

import httpx
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from tests.conftest import admin_client
from tests.ml import serving_models as sm
from triops.core.principals import Role
from triops.ml.serving.loaders import SKOPS_REVIEWED_TYPES, artifact_root
from triops.server.runtime import Runtime
from triops.store.repos import audit, keys, registry

BACKENDS_UNDER_TEST = ("sqlite", "postgresql")
EDITOR = "tri_test_editor_key_0123456789abcdef"
PROJECT_ADMIN = "tri_test_project_admin_0123456789ab"
KNN_TYPES = ["sklearn.metrics._dist_metrics.EuclideanDistance64",
             "sklearn.neighbors._kd_tree.KDTree"]
ROW = {"records": [{"age": 30.0, "visits": 1}, {"age": 2.0, "visits": 0}]}


def hostile_skops(module: str, function: str, argument: str) -> bytes:
    """A real skops file of a fitted model, one attribute replaced by a node that calls
    ``module.function(argument)`` when the file is loaded."""
    import skops.io as sio

    source = zipfile.ZipFile(io.BytesIO(sio.dumps(sm.classifier())))
    schema = json.loads(source.read("schema.json"))
    schema["content"]["content"]["verbose"] = {
        "__class__": function, "__module__": module, "__loader__": "ConstructorFromReduceNode",
        "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                    "content": [{"__class__": "str", "__module__": "builtins",
                                 "__loader__": "JsonNode", "content": json.dumps(argument),
                                 "is_json": True, "__id__": 1}], "__id__": 2},
        "__id__": 3}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(schema) if name == "schema.json"
                            else source.read(name))
    return out.getvalue()


def onnx_model(external_location: str | None = None) -> bytes:
    """Y = X @ [[1], [1]]; with ``external_location`` the weights are read from that file."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((2, 1), dtype=np.float32), "W")
    if external_location is not None:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in {"location": external_location, "offset": "0", "length": "8"}.items():
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "sum",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])], [weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]
                             ).SerializeToString()


def knn() -> KNeighborsClassifier:
    return KNeighborsClassifier(3, algorithm="kd_tree").fit(sm.FEATURES, sm.LABELS)


@pytest.fixture
def keyed(runtime):
    """An editor key and a project admin key of ``default``."""
    with runtime.db.write() as session:
        keys.create(session, project="default", role=Role.editor, name="ed", secret=EDITOR)
        keys.create(session, project="default", role=Role.admin, name="adm",
                    secret=PROJECT_ADMIN)
    return {"editor": {"Authorization": f"Bearer {EDITOR}"},
            "admin": {"Authorization": f"Bearer {PROJECT_ADMIN}"}}


def _deploy(client, headers=None, model: str = "m@champion", **extra):
    return client.post("/api/v1/endpoints", headers=headers,
                       json={"name": "ep", "model": model, "replace": True, **extra})


def _overwrite(runtime, name: str, files: dict[str, bytes]) -> None:
    """Replace a registered version's bytes in the artifact store, as an attacker with
    write access to the bucket would."""
    with runtime.db.read() as session:
        location = registry.get_version(session, "default", name, 1)[1].storage_location
    root = artifact_root(location, "default")
    for fname, data in files.items():
        runtime.artifacts.write_bytes(posixpath.join(root, fname), data)


def _predict_after_restart(settings) -> httpx.Response:
    """A prediction from a freshly built server, which loads the endpoint's model anew."""
    restarted = Runtime.build(settings)
    try:
        with admin_client(restarted) as again:
            return again.post("/api/v1/endpoints/ep/predict", json=ROW)
    finally:
        restarted.close()


@pytest.mark.parametrize("module,function", [("builtins", "exec"), ("posix", "system")])
def test_skops_reduce_node_calling_a_callable_is_refused_and_never_runs(
        client, runtime, keyed, tmp_path, module, function):
    marker = tmp_path / "pwned"
    code = (f"open({str(marker)!r}, 'w').write('x')" if function == "exec"
            else f"touch {marker}")
    sm.register(runtime, "m", {"model.skops": hostile_skops(module, function, code)},
                alias="champion")
    for who in (keyed["editor"], None):  # None: the global admin, without a grant
        refused = _deploy(client, who)
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert body["error_code"] == "UNTRUSTED_MODEL_FORMAT"
        assert f"{module}.{function}" in body["message"]
        assert not marker.exists(), "a refused skops file must never be constructed"
    assert client.get("/api/v1/endpoints").json() == []


def test_reviewed_types_hold_no_callable():
    assert not [t for t in SKOPS_REVIEWED_TYPES
                if t.startswith(("builtins.", "os.", "posix.", "subprocess.", "functools."))]


@pytest.mark.parametrize("model", [sm.classifier(), DecisionTreeClassifier(max_depth=3).fit(
    sm.FEATURES, sm.LABELS)], ids=["logistic", "tree"])
def test_plain_sklearn_skops_model_deploys_and_predicts_for_an_editor(
        client, runtime, keyed, model):
    sm.register(runtime, "m", sm.skops_files(model), alias="champion")
    created = _deploy(client, keyed["editor"])
    assert created.status_code == 201, created.text
    assert created.json()["trusted_files"] == []
    got = client.post("/api/v1/endpoints/ep/predict", json=ROW, headers=keyed["editor"])
    assert got.status_code == 200, got.text
    assert got.json()["predictions"] == [1, 0]


def test_admin_trusts_extra_types_for_these_bytes_only(client, runtime, keyed, settings):
    sm.register(runtime, "m", sm.skops_files(knn()), alias="champion")
    refused = _deploy(client, keyed["editor"])
    assert refused.status_code == 400
    assert all(t in refused.json()["message"] for t in KNN_TYPES)

    forbidden = _deploy(client, keyed["editor"], trusted_types=KNN_TYPES)
    assert forbidden.status_code == 403, forbidden.text
    assert _deploy(client, keyed["editor"], trust_pickle=True).status_code == 403

    created = _deploy(client, keyed["admin"], trusted_types=KNN_TYPES)
    assert created.status_code == 201, created.text
    assert created.json()["trusted_types"] == KNN_TYPES
    assert len(created.json()["trusted_files"]) == 1
    with runtime.db.read() as session:
        entries = [e for e in audit.recent(session, "default") if e.action == "endpoint.trust_types"]
    assert entries and entries[0].detail["types"] == KNN_TYPES
    assert client.post("/api/v1/endpoints/ep/predict", json=ROW).json()["predictions"] == [1, 0]

    # A restarted server loads the same bytes under the stored grant...
    assert _predict_after_restart(settings).status_code == 200
    # ...and refuses them once they were swapped behind the deployment's back.
    swapped = KNeighborsClassifier(1, algorithm="kd_tree").fit(sm.FEATURES, 1 - sm.LABELS)
    _overwrite(runtime, "m", sm.skops_files(swapped))
    voided = _predict_after_restart(settings)
    assert voided.status_code == 400, voided.text
    assert voided.json()["error_code"] == "UNTRUSTED_MODEL_FORMAT"
    assert "other bytes" in voided.json()["message"]


def test_hostile_pickle_is_refused_and_trust_in_a_pickle_is_bound_to_its_bytes(
        client, runtime, keyed, settings, tmp_path):
    sm.register(runtime, "m", sm.mlflow_files(sm.classifier(), "cloudpickle"),
                alias="champion")
    assert _deploy(client, keyed["editor"], trust_pickle=True).status_code == 403
    refused = _deploy(client, keyed["admin"])
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "UNTRUSTED_MODEL_FORMAT"
    assert _deploy(client, keyed["admin"], trust_pickle=True).status_code == 201

    # The reviewed pickle is replaced by one that runs code: the grant does not cover it.
    marker = tmp_path / "pwned"
    _overwrite(runtime, "m", {"model.pkl": sm.malicious_mlflow_files(marker)["model.pkl"]})
    voided = _predict_after_restart(settings)
    assert voided.status_code == 400, voided.text
    assert voided.json()["error_code"] == "UNTRUSTED_MODEL_FORMAT"
    assert not marker.exists()


def test_onnx_model_serves_and_hostile_onnx_files_are_refused_cleanly(
        client, runtime, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    sm.register(runtime, "good", {"model.onnx": onnx_model()}, alias="champion")
    assert _deploy(client, model="good@champion").status_code == 201
    got = client.post("/api/v1/endpoints/ep/predict",
                      json={"records": [{"a": 1.0, "b": 2.0}]})
    assert got.status_code == 200, got.text
    assert got.json()["predictions"] == [3.0]

    # Weights named as a file of the server's working directory must not be read.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.bin").write_bytes(np.array([7, 7], dtype=np.float32).tobytes())
    hostile = {"garbage": b"\x08\x07not a model" * 10,
               "external": onnx_model("secret.bin"),
               "escaping": onnx_model("../../../../etc/hostname")}
    for name, data in hostile.items():
        sm.register(runtime, name, {"model.onnx": data}, alias="champion")
        refused = _deploy(client, model=f"{name}@champion")
        assert refused.status_code == 400, (name, refused.text)
        assert "ONNX" in refused.json()["message"]
