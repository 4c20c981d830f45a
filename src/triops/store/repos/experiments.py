"""Experiments of the tracking server, one namespace per project."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.store.repos.ml_search import (
    ATTRIBUTE,
    TAG,
    Clause,
    SortKey,
    compare,
    compare_optional,
    decode_page_token,
    encode_page_token,
)
from triops.store.schema_ml import Experiment, Run

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"
ACTIVE, DELETED = "active", "deleted"
#: MLflow's view types for searches.
VIEW_STAGES = {"ACTIVE_ONLY": (ACTIVE,), "DELETED_ONLY": (DELETED,), "ALL": (ACTIVE, DELETED)}


def artifact_root(experiment_id: str) -> str:
    """Artifacts go through the server's proxy, scoped by the caller's project there."""
    return f"mlflow-artifacts:/{experiment_id}"


def ensure_default(session: Session, project: str) -> None:
    """Create the project's ``Default`` experiment (id ``0``) the first time it is needed."""
    if session.get(Experiment, (project, DEFAULT_ID)) is None:
        now = now_ms()
        session.add(Experiment(
            project=project, experiment_id=DEFAULT_ID, name=DEFAULT_NAME,
            artifact_location=artifact_root(DEFAULT_ID), lifecycle_stage=ACTIVE,
            creation_time=now, last_update_time=now, tags={},
        ))
        session.flush()


def create(session: Session, project: str, name: str, artifact_location: str | None = None,
           tags: dict[str, str] | None = None) -> Experiment:
    if not name or not name.strip():
        raise InvalidInput("experiment name must be a non-empty string")
    if len(name) > 500:
        raise InvalidInput("experiment name must be at most 500 characters")
    existing = session.scalar(
        select(Experiment).where(Experiment.project == project, Experiment.name == name)
    )
    if existing is not None:
        raise AlreadyExists(f"Experiment '{name}' already exists.")
    experiment_id = str(secrets.randbelow(9 * 10**17) + 10**17)
    now = now_ms()
    row = Experiment(
        project=project, experiment_id=experiment_id, name=name,
        artifact_location=artifact_location or artifact_root(experiment_id),
        lifecycle_stage=ACTIVE, creation_time=now, last_update_time=now, tags=dict(tags or {}),
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, project: str, experiment_id: str) -> Experiment:
    row = session.get(Experiment, (project, str(experiment_id)))
    if row is None:
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    return row


def get_active(session: Session, project: str, experiment_id: str) -> Experiment:
    row = get(session, project, experiment_id)
    if row.lifecycle_stage != ACTIVE:
        raise InvalidInput(
            f"The experiment {experiment_id} must be in the 'active' state. "
            f"Current state is {row.lifecycle_stage}."
        )
    return row


def get_by_name(session: Session, project: str, name: str) -> Experiment:
    row = session.scalar(
        select(Experiment).where(Experiment.project == project, Experiment.name == name)
    )
    if row is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return row


def rename(session: Session, project: str, experiment_id: str, new_name: str) -> Experiment:
    row = get(session, project, experiment_id)
    if row.lifecycle_stage != ACTIVE:
        raise InvalidInput("Cannot rename a non-active experiment.")
    if new_name != row.name:
        clash = session.scalar(select(Experiment.experiment_id).where(
            Experiment.project == project, Experiment.name == new_name))
        if clash is not None:
            raise AlreadyExists(f"Experiment '{new_name}' already exists.")
    row.name = new_name
    row.last_update_time = now_ms()
    return row


def set_stage(session: Session, project: str, experiment_id: str, stage: str) -> Experiment:
    row = get(session, project, experiment_id)
    if stage == DELETED and row.experiment_id == DEFAULT_ID:
        raise InvalidInput("Cannot delete the default experiment '0'.")
    now = now_ms()
    row.lifecycle_stage = stage
    row.last_update_time = now
    # As in MLflow, an experiment's runs are deleted and restored with it.
    session.execute(
        update(Run).where(Run.project == project, Run.experiment_id == row.experiment_id,
                          Run.lifecycle_stage != stage)
        .values(lifecycle_stage=stage, deleted_time=now if stage == DELETED else None)
    )
    return row


def set_tag(session: Session, project: str, experiment_id: str, key: str, value: str) -> None:
    row = get_active(session, project, experiment_id)
    row.tags = {**row.tags, key: value}
    row.last_update_time = now_ms()


def delete_tag(session: Session, project: str, experiment_id: str, key: str) -> None:
    row = get_active(session, project, experiment_id)
    if key not in row.tags:
        raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
    row.tags = {k: v for k, v in row.tags.items() if k != key}


_ATTRS = {
    "name": Experiment.name, "experiment_id": Experiment.experiment_id,
    "creation_time": Experiment.creation_time, "last_update_time": Experiment.last_update_time,
}


def search(
    session: Session, project: str, *, clauses: Sequence[Clause] = (),
    view_type: str = "ACTIVE_ONLY", order_by: Sequence[SortKey] = (), max_results: int = 1000,
    page_token: str | None = None, sqlite: bool = False,
) -> tuple[list[Experiment], str | None]:
    query = select(Experiment).where(
        Experiment.project == project, Experiment.lifecycle_stage.in_(VIEW_STAGES[view_type])
    )
    for clause in clauses:
        if clause.entity == ATTRIBUTE:
            column = _ATTRS.get(clause.key)
            if column is None:
                raise InvalidInput(f"Invalid attribute key '{clause.key}' for experiments")
            query = query.where(compare(column, clause.op, clause.value, sqlite=sqlite))
        elif clause.entity == TAG:
            # Experiment tags are few; JSON extraction keeps them in one row.
            value = Experiment.tags[clause.key].as_string()
            query = query.where(compare_optional(value, clause.op, clause.value, sqlite=sqlite))
        else:
            raise InvalidInput(f"experiments cannot be filtered by {clause.entity}s")
    ordering = []
    for key in order_by:
        column = _ATTRS.get(key.key) if key.entity == ATTRIBUTE else None
        if column is None:
            raise InvalidInput(f"Invalid order_by key '{key.key}' for experiments")
        ordering.append(column.asc() if key.ascending else column.desc())
    ordering += [Experiment.creation_time.desc(), Experiment.experiment_id.asc()]
    offset = decode_page_token(page_token)
    rows = list(session.scalars(query.order_by(*ordering).offset(offset).limit(max_results + 1)))
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token


def count(session: Session, project: str) -> int:
    return session.scalar(select(func.count()).where(Experiment.project == project)) or 0
