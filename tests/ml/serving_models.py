"""Real models for the serving tests, put in a runtime's store as a logged model would be."""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from triops.store.repos import registry

FEATURES = pd.DataFrame({"age": np.arange(40.0), "visits": np.arange(40) % 5})
LABELS = (FEATURES.age > 20).astype(int)


@functools.cache
def classifier(flip: bool = False) -> LogisticRegression:
    """age > 20 -> 1; ``flip`` learns the opposite, so two versions always disagree."""
    return LogisticRegression().fit(FEATURES, 1 - LABELS if flip else LABELS)


@functools.cache
def regressor(offset: float = 0.0) -> LinearRegression:
    return LinearRegression().fit(FEATURES, FEATURES.age * 2 + offset)


@functools.cache
def _mlflow_files(model, fmt: str) -> dict[str, bytes]:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    out = Path(tempfile.mkdtemp()) / "model"
    signature = infer_signature(FEATURES, model.predict(FEATURES))
    # Fixed requirements: inferring them starts a subprocess that imports the model.
    mlflow.sklearn.save_model(model, str(out), signature=signature, serialization_format=fmt,
                              pip_requirements=["scikit-learn"])
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def skops_files(model) -> dict[str, bytes]:
    import skops.io as sio

    return {"model.skops": sio.dumps(model)}


def mlflow_files(model, fmt: str = "skops") -> dict[str, bytes]:
    return dict(_mlflow_files(model, fmt))


class Boom:
    """Unpickling this writes a marker file: the proof that a pickle ran its code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def malicious_mlflow_files(marker: Path) -> dict[str, bytes]:
    files = dict(_mlflow_files(classifier(), "cloudpickle"))
    files["model.pkl"] = pickle.dumps(Boom(str(marker)))
    return files


def register(runtime, name: str, files: dict[str, bytes], project: str = "default",
             alias: str | None = None) -> int:
    """Store ``files`` as a logged model's artifacts and register them as a new version."""
    model_id = f"m-{uuid.uuid4().hex}"
    rel = f"0/models/{model_id}/artifacts"
    for fname, data in files.items():
        runtime.artifacts.write_bytes(f"mlflow/{project}/{rel}/{fname}", data)
    with runtime.db.write() as session:
        try:
            registry.get_model(session, project, name)
        except Exception:  # noqa: BLE001 - first version of this name
            registry.create_model(session, project, name)
        row = registry.create_version(session, project, name, source=f"mlflow-artifacts:/{rel}",
                                      run_id=None, storage_location=f"mlflow-artifacts:/{rel}")
        if alias:
            registry.set_alias(session, project, name, alias, row.version)
        return row.version


def set_alias(runtime, name: str, alias: str, version: int, project: str = "default") -> None:
    with runtime.db.write() as session:
        registry.set_alias(session, project, name, alias, version)
