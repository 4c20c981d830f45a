"""Logged models (MLflow 3.x): a model's artifacts, params and tags, apart from runs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.store.repos.experiments import ACTIVE, DELETED
from triops.store.repos.experiments import get_active as active_experiment
from triops.store.repos.ml_search import (
    ATTRIBUTE,
    PARAM,
    TAG,
    Clause,
    SortKey,
    compare_optional,
    decode_page_token,
    encode_page_token,
)
from triops.store.schema_ml import LoggedModel

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def create(session: Session, project: str, experiment_id: str, *, name: str | None,
           model_type: str = "", source_run_id: str | None = None,
           params: dict[str, str] | None = None, tags: dict[str, str] | None = None
           ) -> LoggedModel:
    experiment = active_experiment(session, project, experiment_id)
    model_id = f"m-{new_id()}"
    now = now_ms()
    row = LoggedModel(
        model_id=model_id, project=project, experiment_id=experiment.experiment_id,
        name=name or model_id, status="LOGGED_MODEL_PENDING", status_message="",
        artifact_uri=f"{experiment.artifact_location}/models/{model_id}/artifacts",
        model_type=model_type or "", source_run_id=source_run_id or None,
        lifecycle_stage=ACTIVE, creation_timestamp_ms=now, last_updated_timestamp_ms=now,
        params=dict(params or {}), tags=dict(tags or {}),
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, project: str, model_id: str) -> LoggedModel:
    row = session.get(LoggedModel, model_id) if model_id else None
    if row is None or row.project != project or row.lifecycle_stage == DELETED:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return row


def finalize(session: Session, project: str, model_id: str, status: str) -> LoggedModel:
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    row = get(session, project, model_id)
    row.status = status
    row.last_updated_timestamp_ms = now_ms()
    return row


def set_tags(session: Session, project: str, model_id: str, tags: dict[str, str]) -> LoggedModel:
    row = get(session, project, model_id)
    row.tags = {**row.tags, **tags}
    row.last_updated_timestamp_ms = now_ms()
    return row


def delete_tag(session: Session, project: str, model_id: str, key: str) -> None:
    row = get(session, project, model_id)
    if key not in row.tags:
        raise NotFound(f"No tag with key '{key}' on logged model {model_id}")
    row.tags = {k: v for k, v in row.tags.items() if k != key}


def log_params(session: Session, project: str, model_id: str, params: dict[str, str]) -> None:
    row = get(session, project, model_id)
    row.params = {**row.params, **params}


def delete(session: Session, project: str, model_id: str) -> None:
    row = get(session, project, model_id)
    row.lifecycle_stage = DELETED
    row.last_updated_timestamp_ms = now_ms()


_ATTRS = {"name": LoggedModel.name, "model_id": LoggedModel.model_id,
          "status": LoggedModel.status, "model_type": LoggedModel.model_type,
          "source_run_id": LoggedModel.source_run_id,
          "creation_timestamp": LoggedModel.creation_timestamp_ms,
          "creation_time": LoggedModel.creation_timestamp_ms,
          "last_updated_timestamp": LoggedModel.last_updated_timestamp_ms}


def search(session: Session, project: str, experiment_ids: Sequence[str], *,
           clauses: Sequence[Clause] = (), order_by: Sequence[SortKey] = (),
           max_results: int = 100, page_token: str | None = None, sqlite: bool = False,
           ) -> tuple[list[LoggedModel], str | None]:
    query = select(LoggedModel).where(
        LoggedModel.project == project, LoggedModel.lifecycle_stage == ACTIVE)
    if experiment_ids:
        query = query.where(LoggedModel.experiment_id.in_([str(e) for e in experiment_ids]))
    for c in clauses:
        if c.entity == ATTRIBUTE and c.key in _ATTRS:
            column = _ATTRS[c.key]
        elif c.entity in (TAG, PARAM):
            column = (LoggedModel.tags if c.entity == TAG else LoggedModel.params)[c.key] \
                .as_string()
        else:
            raise InvalidInput(f"Invalid filter key '{c.key}' for logged models")
        query = query.where(compare_optional(column, c.op, c.value, sqlite=sqlite))
    ordering = []
    for key in order_by:
        column = _ATTRS.get(key.key) if key.entity == ATTRIBUTE else None
        if column is None:
            raise InvalidInput(f"Invalid order_by key '{key.key}' for logged models")
        ordering.append(column.asc() if key.ascending else column.desc())
    ordering += [LoggedModel.creation_timestamp_ms.desc(), LoggedModel.model_id.asc()]
    offset = decode_page_token(page_token)
    rows = list(session.scalars(query.order_by(*ordering).offset(offset).limit(max_results + 1)))
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token
