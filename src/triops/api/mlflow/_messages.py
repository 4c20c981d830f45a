"""Stored rows as MLflow's JSON messages (the field names of MLflow's protos).

int64 fields leave as JSON numbers and NaN/infinity as MLflow's strings; the stock
client parses both with protobuf's ``ParseDict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Row
from starlette.responses import Response

from triops.ml import MetricPoint, RunDetails, encode_value
from triops.store.schema_ml import (
    Experiment,
    LoggedModel,
    ModelVersion,
    RegisteredModel,
    Run,
)


def reply(payload: dict[str, Any] | None = None) -> Response:
    """A JSON response without FastAPI's generic encoder on the hot path."""
    return Response(orjson.dumps(payload or {}), media_type="application/json")


def _kv(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment(row: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": row.experiment_id, "name": row.name,
        "artifact_location": row.artifact_location, "lifecycle_stage": row.lifecycle_stage,
        "creation_time": row.creation_time, "last_update_time": row.last_update_time,
        "tags": _kv(row.tags),
    }


def metric(point: MetricPoint, run_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"key": point.key, "value": encode_value(point.value),
                           "timestamp": point.timestamp, "step": point.step}
    if run_id:
        out["run_id"] = run_id
    if point.model_id:
        out["model_id"] = point.model_id
    if point.dataset_name:
        out["dataset_name"] = point.dataset_name
        out["dataset_digest"] = point.dataset_digest or ""
    return out


#: ``RunInfo``'s fields as the run table names them (``run_uuid`` repeats ``run_id``).
_INFO_COLUMNS = ("run_id", "run_name", "experiment_id", "user_id", "status", "start_time",
                 "artifact_uri", "lifecycle_stage", "end_time")


def run_info(row: Run | Row[Any]) -> dict[str, Any]:
    """``row``: a ``Run`` or a row of its table."""
    return _info(*(getattr(row, name) for name in _INFO_COLUMNS))


def _info(run_id: str, run_name: str, experiment_id: str, user_id: str, status: str,
          start_time: int, artifact_uri: str, lifecycle_stage: str,
          end_time: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run_id, "run_uuid": run_id, "run_name": run_name,
        "experiment_id": experiment_id, "user_id": user_id, "status": status,
        "start_time": start_time, "artifact_uri": artifact_uri,
        "lifecycle_stage": lifecycle_stage,
    }
    if end_time is not None:
        info["end_time"] = end_time
    return info


def runs(rows: Sequence[Row[Any]], details: dict[str, RunDetails]) -> list[dict[str, Any]]:
    """Rows of the run table (one page of ``runs/search``) as ``Run`` messages, each with
    its ``details`` by run id. The info fields are taken by position, with one getter
    for the page: reading a ``Row``'s columns by name cost ~0.5 us each, as much as
    the rest of a run's message."""
    if not rows:
        return []
    fields = rows[0]._fields
    take = itemgetter(*(fields.index(name) for name in _INFO_COLUMNS))
    infos = [_info(*take(row)) for row in rows]
    return [_message(info, details[info["run_id"]]) for info in infos]


def run(row: Run | Row[Any], details: RunDetails) -> dict[str, Any]:
    """A run as MLflow's ``Run`` message. A run without inputs or outputs gets empty
    ``inputs``/``outputs`` objects, as ``mlflow server`` sends them (protobuf's JSON leaves
    out the empty lists); the stock client reads them as the same empty ``RunInputs``."""
    return _message(run_info(row), details)


def _message(info: dict[str, Any], details: RunDetails) -> dict[str, Any]:
    out: dict[str, Any] = {
        "info": info,
        "data": {
            "metrics": [metric(m) for m in details.metrics],
            "params": _kv(details.params),
            "tags": _kv(details.tags),
        },
        "inputs": {},
        "outputs": {},
    }
    if details.inputs or details.model_inputs:
        out["inputs"] = {
            "dataset_inputs": [
                {"tags": _kv(d.tags),
                 "dataset": {"name": d.name, "digest": d.digest, "source_type": d.source_type,
                             "source": d.source, "schema": d.schema, "profile": d.profile}}
                for d in details.inputs
            ],
            "model_inputs": [{"model_id": m} for m in details.model_inputs],
        }
    if details.model_outputs:
        out["outputs"] = {
            "model_outputs": [{"model_id": m, "step": s} for m, s in details.model_outputs],
        }
    return out


def logged_model(row: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": row.model_id, "experiment_id": row.experiment_id, "name": row.name,
        "creation_timestamp_ms": row.creation_timestamp_ms,
        "last_updated_timestamp_ms": row.last_updated_timestamp_ms,
        "artifact_uri": row.artifact_uri, "status": row.status, "model_type": row.model_type,
        "status_message": row.status_message, "tags": _kv(row.tags),
    }
    if row.source_run_id:
        info["source_run_id"] = row.source_run_id
    return {"info": info, "data": {"params": _kv(row.params), "metrics": []}}


def registered_model(row: RegisteredModel, aliases: list[tuple[str, int]],
                     latest: list[ModelVersion] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name, "creation_timestamp": row.creation_timestamp,
        "last_updated_timestamp": row.last_updated_timestamp, "description": row.description,
        "tags": _kv(row.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in aliases],
    }
    if latest:
        out["latest_versions"] = [model_version(row, v, aliases) for v in latest]
    return out


def model_version(model: RegisteredModel, row: ModelVersion,
                  aliases: list[tuple[str, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": model.name, "version": str(row.version),
        "creation_timestamp": row.creation_timestamp,
        "last_updated_timestamp": row.last_updated_timestamp, "user_id": row.user_id,
        "current_stage": row.current_stage, "description": row.description,
        "source": row.source, "status": row.status, "status_message": row.status_message,
        "run_link": row.run_link, "tags": _kv(row.tags),
        "aliases": [a for a, v in aliases if v == row.version],
    }
    if row.run_id:
        out["run_id"] = row.run_id
    if row.model_id:
        out["model_id"] = row.model_id
    return out
