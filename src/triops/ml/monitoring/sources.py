"""Where a monitor's frames come from: the serving prediction log and the training data.

The current frame is the endpoint's logged predictions (one row per input row, with the
served output and the label posted for it). The training reference follows lineage —
model version → run → dataset inputs — and reads the dataset's data when it was logged
as a run artifact: ``mlflow-artifacts:/...``, ``runs:/...``, or the artifact proxy URL
``http://<server>/api/2.0/mlflow-artifacts/artifacts/...`` (what the stock client's
``mlflow.data.from_pandas(df, source=url)`` records).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, NotFound
from triops.ml import lineage
from triops.ml.monitoring.spec import MonitorSpec
from triops.ml.serving import predictions_window
from triops.store.artifacts import ArtifactStore, safe_relpath
from triops.store.engine import Database
from triops.store.repos import registry, runs

OUTPUT, LABEL = "__output__", "__label__"


@dataclass(frozen=True)
class Served:
    frame: pd.DataFrame
    versions: list[int]


def served_frame(session: Session, project: str, endpoint: str, *, start_ms: int | None,
                 end_ms: int | None, limit: int | None) -> Served:
    """Predictions of the window as one table: input columns, output, label."""
    logged = predictions_window(session, project, endpoint, start_ms=start_ms, end_ms=end_ms,
                                limit=limit)
    rows: list[dict[str, Any]] = []
    for rec in logged:
        many = len(rec.inputs) > 1
        for i, inputs in enumerate(rec.inputs):
            label = rec.label
            if many and isinstance(label, list):
                label = label[i] if i < len(label) else None
            rows.append({**inputs, OUTPUT: rec.outputs[i] if i < len(rec.outputs) else None,
                         LABEL: label})
    return Served(pd.DataFrame.from_records(rows), sorted({r.version for r in logged}))


def _source_uri(source: str) -> str:
    """MLflow stores a dataset source as JSON ({"uri": ...}, {"url": ...}); or plain text."""
    try:
        parsed = json.loads(source)
    except ValueError:
        return source
    if isinstance(parsed, dict):
        for key in ("uri", "url", "path"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    return source


#: How the artifact proxy of an MLflow-compatible server (triops included) is addressed.
_PROXY = "/api/2.0/mlflow-artifacts/artifacts/"


def _artifact_path(session: Session, project: str, uri: str) -> str | None:
    """The artifact-store path a dataset source names, when it is one of ours.

    Only paths inside the project's own MLflow artifact folder come back, so a dataset
    source can never make the server read anything else.
    """
    if uri.startswith(("http://", "https://")) and _PROXY in uri:
        tail = unquote(urlsplit(uri).path.split(_PROXY, 1)[1])
        return f"mlflow/{project}/{safe_relpath(tail)}"
    if uri.startswith("mlflow-artifacts:/"):
        return f"mlflow/{project}/{safe_relpath(uri[len('mlflow-artifacts:/'):].lstrip('/'))}"
    if uri.startswith("runs:/"):
        run_id, _, rel = uri[len("runs:/"):].partition("/")
        run = runs.get(session, project, run_id)
        base = run.artifact_uri
        if base.startswith("mlflow-artifacts:/"):
            return _artifact_path(session, project, f"{base}/{rel}")
    return None


def _read_table(data: bytes, name: str) -> pd.DataFrame:
    lower = name.lower()
    if lower.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    if lower.endswith((".json", ".jsonl")):
        return pd.read_json(io.BytesIO(data), lines=lower.endswith(".jsonl"))
    return pd.read_csv(io.BytesIO(data))


def training_frame(db: Database, artifacts: ArtifactStore, project: str, spec: MonitorSpec
                   ) -> tuple[pd.DataFrame, str]:
    """The training data of the version behind ``model@alias``, and what it was."""
    assert spec.model is not None
    with db.read() as session:
        try:
            _model, version = registry.get_by_alias(session, project, spec.model, spec.alias)
        except NotFound as exc:
            raise Conflict(f"monitor reference: {exc}") from None
    found = lineage.model_version(db, project, spec.model, version.version)
    datasets = [d for d in found.datasets if spec.reference.dataset in (None, d.name)]
    if not datasets:
        raise Conflict(f"model {spec.model} version {version.version} has no training "
                       "dataset in its lineage; log one with the run, or give the monitor a "
                       "window reference")
    with db.read() as session:
        for d in datasets:
            path = _artifact_path(session, project, _source_uri(d.source))
            if path is None:
                continue
            try:
                data = artifacts.read_bytes(path)
            except NotFound:
                continue
            return _read_table(data, path), f"{d.name}@{d.digest[:8]} (v{version.version})"
    raise Conflict(f"the training datasets of {spec.model} v{version.version} "
                   f"({', '.join(d.name for d in datasets)}) have no data triops can read: "
                   "log the table as a run artifact and use its artifact URI as the source")
